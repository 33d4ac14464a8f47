// Coordinator restart grace, in process on PGlite with a short lease: a lease that expired while the
// coordinator was down belongs to an encoder that is still working. After the restart the coordinator
// listens first and rescues nothing for one lease, so the encoder's next progress call renews the lease
// and its completion is accepted; the job is encoded once. Controls: without the grace the same lease is
// rescued at once (what happened before), and with it a lease nobody renews is still rescued one lease
// after the restart.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import {
  type ClaimedJob,
  createHttpTransport,
  type EncoderTransport,
  LeaseLostError,
  type LeaseRef,
} from '../../src/encoder/index.js';

/**
 * Short, but long enough that on a loaded 2-core machine the encoder's first call after the restart
 * (HTTP round trips, PGlite) surely lands inside a grace of one lease.
 */
const LEASE_MS = 2500;
const MAINTENANCE_MS = 100;
const API_KEY = `vmk_test_${randomBytes(16).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configFor(dir: string, port: number, rescueGraceMs?: number) {
  return loadConfig({
    env: {},
    flags: {
      port,
      dataDir: dir,
      apiKey: API_KEY,
      encoders: 0,
      leaseMs: LEASE_MS,
      maintenanceMs: MAINTENANCE_MS,
      logLevel: 'silent',
      ...(rescueGraceMs === undefined ? {} : { rescueGraceMs }),
    },
  });
}

const RESULT = {
  renditions: [{ name: '720p' }],
  masterUrl: 'https://cdn.example/master.m3u8',
  publish: {},
  encode: { backend: 'libx264', fallbacks: [], wallS: 1, speed: 1 },
};

type Server = RunningCoordinator;

describe('coordinator restart grace', () => {
  let dir: string;
  let server: Server | undefined;
  let port: number;
  let transport: EncoderTransport;
  let encoderId: string;
  let renewing: LeaseRef;
  let idle: LeaseRef;
  let restartStartedAt: number;

  const client = () => createClient({ url: server?.url ?? '', apiKey: API_KEY });
  const events = async (jobId: string) =>
    (await client().jobHistory(jobId)).map((e) => `${e.to}:${e.reason}`);
  const claimOne = async (): Promise<LeaseRef> => {
    const c = (await transport.claim(encoderId, 0)) as ClaimedJob | null;
    assert.ok(c, 'a job to claim');
    return { jobId: c.id, leaseToken: c.leaseToken };
  };
  /** Stops the coordinator, lets the leases expire while nobody can hear a renewal, starts another. */
  const restart = async (rescueGraceMs: number | undefined) => {
    await server?.stop({ graceMs: 0 });
    server = undefined;
    await sleep(LEASE_MS + 500);
    restartStartedAt = Date.now();
    server = await startCoordinator(configFor(dir, port, rescueGraceMs));
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-restart-'));
    server = await startCoordinator(configFor(dir, 0, undefined));
    port = Number(new URL(server.url).port);
    // A real remote encoder's transport; the coordinator comes back on the same URL.
    transport = createHttpTransport({ url: server.url, apiKey: API_KEY });
    ({ encoderId } = await transport.register({
      name: 'restart-test',
      kind: 'infrastructure',
      version: 'test',
      capabilities: { codecs: ['h264'], hwaccel: [], maxHeight: 2160, concurrency: 2, tags: [] },
    }));
    for (let i = 0; i < 2; i++) {
      await client().submitJob({ source: { type: 'http', url: `https://videos.example/source-${i}.mp4` } });
    }
    renewing = await claimOne();
    idle = await claimOne();
    await restart(undefined); // default grace: one lease
  });

  after(async () => {
    await transport?.close?.();
    await server?.stop({ graceMs: 0 });
    await rm(dir, { recursive: true, force: true });
  });

  test('a lease that expired while the coordinator was down is renewed and completed by its encoder', async () => {
    // Several maintenance ticks: before the fix the first one (run before listening) rescued the job.
    await sleep(3 * MAINTENANCE_MS);
    const ack = await transport
      .progress(encoderId, renewing, { stage: 'encoding', progress: 60 })
      .catch(async (err: Error) => {
        throw new Error(
          `progress after restart failed: ${err.message}; events ${await events(renewing.jobId)}`,
        );
      });
    assert.equal(ack.cancelled, false);
    assert.ok(Date.parse(ack.leaseExpiresAt) > Date.now(), 'renewed lease ends in the future');
    await transport.complete(encoderId, renewing, RESULT);
    const job = await client().getJob(renewing.jobId);
    assert.equal(job.status, 'completed');
    assert.equal(job.attempts, 1, 'claimed once: encoded once');
    assert.deepEqual(await events(renewing.jobId), [
      'queued:submitted',
      'leased:claimed',
      'running:started',
      'completed:completed',
    ]);
  });

  test('the grace ends: a lease nobody renews is rescued, not before one lease after the restart', async () => {
    const deadline = Date.now() + 10 * LEASE_MS;
    let rescue: { at: string } | undefined;
    while (!rescue && Date.now() < deadline) {
      rescue = (await client().jobHistory(idle.jobId)).find((e) => e.reason === 'lease_expired');
      if (!rescue) await sleep(50);
    }
    assert.ok(rescue, `not rescued within ${10 * LEASE_MS} ms`);
    // The grace began after restartStartedAt (maintenance starts once the server listens).
    const afterMs = Date.parse(rescue.at) - restartStartedAt;
    assert.ok(afterMs >= LEASE_MS, `rescued ${afterMs} ms after the restart began, inside the grace`);
    assert.equal((await client().getJob(idle.jobId)).status, 'queued');
    await assert.rejects(
      transport.progress(encoderId, idle, { stage: 'encoding', progress: 1 }),
      LeaseLostError,
    );
  });

  test('control: with no grace the expired lease is rescued at start-up and the encoder loses it', async () => {
    await client().submitJob({ source: { type: 'http', url: 'https://videos.example/source-2.mp4' } });
    // The rescued job above is claimable again too: hold both, so nothing else renews them.
    const leases = [await claimOne(), await claimOne()];
    await restart(0);
    await sleep(3 * MAINTENANCE_MS);
    for (const lease of leases) {
      await assert.rejects(
        transport.progress(encoderId, lease, { stage: 'encoding', progress: 60 }),
        LeaseLostError,
      );
      assert.ok((await events(lease.jobId)).includes('queued:lease_expired'));
    }
  });
});

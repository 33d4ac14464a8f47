// Coordinator restart grace, in process on PGlite with a 1 s lease: a lease that expired while the
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
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import {
  type ClaimedJob,
  createHttpTransport,
  type EncoderTransport,
  LeaseLostError,
} from '../../src/encoder/index.js';

const LEASE_MS = 1000;
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
  publish: null,
  encode: { backend: 'libx264', fallbacks: [], wallS: 1, speed: 1 },
};

/**
 * Submits a job, claims it with a real HTTP-transport encoder, stops the coordinator, waits until the
 * lease has expired (plus slack), and starts a new coordinator on the same data dir and port with
 * `rescueGraceMs`. Returns what the test needs to act as the encoder afterwards.
 */
async function leaseThenRestart(rescueGraceMs: number | undefined) {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-restart-'));
  let server: RunningCoordinator | undefined = await startCoordinator(configFor(dir, 0, rescueGraceMs));
  const port = Number(new URL(server.url).port);
  const transport: EncoderTransport = createHttpTransport({ url: server.url, apiKey: API_KEY });
  const { encoderId } = await transport.register({
    name: 'restart-test',
    kind: 'infrastructure',
    version: 'test',
    capabilities: { codecs: ['h264'], hwaccel: [], maxHeight: 2160, concurrency: 1, tags: [] },
  });
  const submitted = await createClient({ url: server.url, apiKey: API_KEY }).submitJob({
    source: { type: 'http', url: 'https://videos.example/source.mp4' },
  });
  const claimed = (await transport.claim(encoderId, 0)) as ClaimedJob;
  assert.equal(claimed?.id, submitted.id);
  const lease = { jobId: claimed.id, leaseToken: claimed.leaseToken };

  await server.stop({ graceMs: 0 });
  server = undefined;
  await sleep(LEASE_MS + 500); // the lease expires while nobody can hear a renewal
  server = await startCoordinator(configFor(dir, port, rescueGraceMs));
  const client = createClient({ url: server.url, apiKey: API_KEY });
  const events = async () => (await client.jobHistory(lease.jobId)).map((e) => `${e.to}:${e.reason}`);
  return {
    server,
    transport,
    encoderId,
    lease,
    client,
    events,
    async cleanup() {
      await transport.close?.();
      await server?.stop({ graceMs: 0 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('after a restart that outlasted a lease, the encoder renews and completes it: no rescue, no second encode', async () => {
  const r = await leaseThenRestart(undefined); // default grace: one lease
  try {
    // Several maintenance ticks: before the fix the first one (run before listening) rescued the job.
    await sleep(3 * MAINTENANCE_MS);
    const ack = await r.transport.progress(r.encoderId, r.lease, { stage: 'encoding', progress: 60 });
    assert.equal(ack.cancelled, false);
    assert.ok(Date.parse(ack.leaseExpiresAt) > Date.now(), 'renewed lease ends in the future');
    await r.transport.complete(r.encoderId, r.lease, RESULT);
    const job = await r.client.getJob(r.lease.jobId);
    assert.equal(job.status, 'completed');
    assert.equal(job.attempts, 1, 'claimed once');
    assert.deepEqual(await r.events(), [
      'queued:submitted',
      'leased:claimed',
      'running:started',
      'completed:completed',
    ]);
  } finally {
    await r.cleanup();
  }
});

test('control: with no grace the expired lease is rescued at start-up and the encoder loses it', async () => {
  const r = await leaseThenRestart(0);
  try {
    await sleep(3 * MAINTENANCE_MS);
    await assert.rejects(
      r.transport.progress(r.encoderId, r.lease, { stage: 'encoding', progress: 60 }),
      LeaseLostError,
    );
    assert.deepEqual((await r.events()).slice(0, 3), [
      'queued:submitted',
      'leased:claimed',
      'queued:lease_expired',
    ]);
  } finally {
    await r.cleanup();
  }
});

test('the grace ends: a lease nobody renews is rescued about one lease after the restart', async () => {
  const r = await leaseThenRestart(undefined);
  try {
    const restartedAt = Date.now();
    let rescuedAfterMs = -1;
    while (Date.now() - restartedAt < 10 * LEASE_MS) {
      if ((await r.events()).includes('queued:lease_expired')) {
        rescuedAfterMs = Date.now() - restartedAt;
        break;
      }
      await sleep(50);
    }
    assert.ok(rescuedAfterMs >= 0, `not rescued within ${10 * LEASE_MS} ms of the restart`);
    // Not inside the grace, which began a little before startCoordinator returned (slack 300 ms).
    assert.ok(rescuedAfterMs >= LEASE_MS - 300, `rescued only ${rescuedAfterMs} ms after the restart`);
    assert.equal((await r.client.getJob(r.lease.jobId)).status, 'queued');
  } finally {
    await r.cleanup();
  }
});

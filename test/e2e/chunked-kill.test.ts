import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { JobView } from '../../src/coordinator/schemas.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { makeSyntheticClip } from '../helpers/media.js';
import { cliArgs, killChildren, killOrphans, until } from '../helpers/processes.js';

/**
 * A lost encoder costs only its chunk (docs/chunking.md): two `vidmesh encoder` processes over HTTP
 * encode a split job; the one holding a video chunk task is killed with SIGKILL mid-encode. The
 * rescue re-queues that chunk task alone, the other encoder encodes it, the job is stitched once.
 */

const KEY = 'chunked-kill-test-admin-key-0123456789';
const here = dirname(fileURLToPath(import.meta.url));
describe('chunked encoding: kill -9 of a chunk encoder', { timeout: 240_000 }, () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  let client: VidmeshClient;
  const encoders = new Map<string, ChildProcess>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-chunk-kill-'));
    const config = loadConfig({
      env: {},
      flags: {
        port: 0,
        dataDir: join(dir, 'coordinator'),
        apiKey: KEY,
        encoders: 0,
        leaseMs: 3000,
        rescueGraceMs: 0,
        maintenanceMs: 500,
        heartbeatMs: 500,
        logLevel: 'silent',
      },
    });
    coordinator = await startCoordinator(config);
    client = createClient({ url: coordinator.url, apiKey: KEY });
    for (const name of ['enc-a', 'enc-b']) {
      const encDir = join(dir, name);
      await mkdir(encDir, { recursive: true });
      const child = spawn(
        process.execPath,
        [...cliArgs(), 'encoder', '--coordinator', coordinator.url, '--name', name, '--data-dir', encDir],
        {
          cwd: here,
          env: {
            ...process.env,
            VIDMESH_API_KEY: KEY,
            VIDMESH_HEARTBEAT_MS: '500',
            VIDMESH_HWACCEL: 'none',
            LOG_LEVEL: process.env.VIDMESH_TEST_ENCODER_LOG ?? 'error',
          },
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      encoders.set(name, child);
    }
    await until('2 encoders registered', 60_000, async () => (await client.listEncoders()).length === 2);
  });

  after(async () => {
    await killChildren(encoders.values());
    await coordinator?.stop({ graceMs: 0 });
    await rm(dir, { recursive: true, force: true });
  });

  test('only the killed encoder’s chunk task is encoded again; the job completes and is stitched once', async () => {
    const clip = await makeSyntheticClip(join(dir, 'src.mp4'), {
      kind: 'testsrc',
      seconds: 8,
      size: '1280x720',
      fps: 25,
    });
    const { source } = await client.upload(clip);
    const job = await client.submitJob({
      source,
      // A slow preset keeps each 4 s chunk busy for seconds, so the kill lands mid-encode.
      ladder: {
        speed: 'medium',
        segmentDuration: 2,
        ladder: [{ name: '720p', height: 720, videoBitrate: 2_000_000 }],
      },
      chunking: { seconds: 4 },
    });
    const children = async (): Promise<JobView[]> => {
      const res = await fetch(`${coordinator.url}/api/v1/jobs/${job.id}/children`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      return ((await res.json()) as { jobs: JobView[] }).jobs;
    };
    const victim = await until('a video chunk encoding', 60_000, async () =>
      (await children()).find(
        (c) => (c.chunkIndex ?? -1) >= 0 && c.status === 'running' && c.stage === 'encoding' && c.encoderId,
      ),
    );
    const owner = (await client.listEncoders()).find((e) => e.id === victim.encoderId);
    assert.ok(owner);
    encoders.get(owner.name)?.kill('SIGKILL');
    killOrphans(join(dir, owner.name));

    const done = await until('job finished', 180_000, async () => {
      const j = await client.getJob(job.id);
      return ['completed', 'dead', 'cancelled'].includes(j.status) ? j : undefined;
    });
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    for (const c of await children()) {
      const h = await client.jobHistory(c.id);
      const claims = h.filter((e) => e.to === 'leased').length;
      if (c.id === victim.id) {
        assert.ok(
          h.some((e) => e.actor === 'maintenance' && e.reason === 'lease_expired'),
          `rescue in the audit trail: ${JSON.stringify(h)}`,
        );
        assert.equal(claims, 2, 'the killed chunk task was leased again');
        assert.notEqual(c.encoderId, owner.id);
      } else {
        assert.equal(claims, 1, `chunk task ${c.chunkIndex} encoded once (${JSON.stringify(h)})`);
      }
      assert.equal(h.filter((e) => e.to === 'completed').length, 1);
    }
    const parent = await client.jobHistory(job.id);
    assert.equal(parent.filter((e) => e.to === 'leased').length, 1, 'stitched once');
  });
});

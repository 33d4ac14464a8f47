import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { infrastructureNode } from '../../src/cli/infrastructure.js';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { startEncoderNode } from '../../src/encoder/index.js';
import { isSealed } from '../../src/identity/index.js';
import { withTestDatabase } from '../helpers/db.js';
import { makeClip, waitFor } from './helpers.js';

/**
 * Infrastructure nodes (`vidmesh encoder --database-url`) on their own data dir (issue 13, bugs 1
 * and 2): the claim opens sealed secrets with the coordinator's server key and carries the source
 * limits, exactly as `vidmesh serve`'s in-process encoders get them; uploads come from the
 * coordinator, not from a data dir the node does not share; a node without the key leaves such a job
 * to others with a retryable failure instead of holding it.
 */

const KEY = 'test-admin-key-0123456789abcdef';
const WEBHOOK_SECRET = 'infra-node-webhook-secret-0123';
// The coordinator reads the server key from the environment; so do infrastructure nodes.
process.env.VIDMESH_SECRET_KEY = randomBytes(32).toString('base64');

describe('infrastructure nodes on their own data dir', () => {
  const tdb = withTestDatabase();
  let root: string;
  let clip: string;
  let coordinator: RunningCoordinator;

  const nodeConfig = (dataDir: string, extra: Record<string, unknown> = {}) =>
    loadConfig({
      flags: {
        dataDir,
        databaseUrl: tdb.current.url,
        url: coordinator.url,
        apiKey: KEY,
        logLevel: 'silent',
        ...extra,
      },
      env: {},
    });

  const submitUploadJob = async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    // The REST client streams the file (src/coordinator/client.ts), as `vidmesh submit` does.
    const { source } = await createClient({ url: coordinator.url, apiKey: KEY }).upload(clip);
    const sub = await fetch(`${coordinator.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        source,
        ladder: {
          ladder: [{ name: '240p', height: 240, videoBitrate: 400_000 }],
          speed: 'ultrafast',
          segmentDuration: 2,
        },
        webhook: { url: 'https://hooks.example.invalid/x', secret: WEBHOOK_SECRET },
      }),
    });
    assert.equal(sub.status, 202, await sub.clone().text());
    return ((await sub.json()) as { job: { id: string } }).job.id;
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-infra-'));
    clip = await makeClip(join(root, 'clip.mp4'), { seconds: 3 });
    coordinator = await startCoordinator(
      loadConfig({
        flags: {
          port: 0,
          host: '127.0.0.1',
          dataDir: join(root, 'coordinator'),
          encoders: 0,
          apiKey: KEY,
          logLevel: 'silent',
          databaseUrl: tdb.current.url,
          maxSourceDurationS: 3600,
        },
        env: {},
      }),
    );
  });
  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await rm(root, { recursive: true, force: true });
  });

  test('a claim opens sealed secrets with the server key and carries the source limits', async () => {
    const jobId = await submitUploadJob();
    const stored = (await coordinator.store.get(jobId)).spec as { webhook: { secret: string } };
    assert.ok(isSealed(stored.webhook.secret), 'sealed at rest');
    const infra = await infrastructureNode(
      nodeConfig(await mkdtemp(join(root, 'node-a-')), { maxSourceDurationS: 3600 }),
    );
    try {
      const { encoderId } = await infra.transport.register({
        name: 'infra-a',
        kind: 'infrastructure',
        version: '0',
        capabilities: { codecs: ['h264'], hwaccel: [], maxHeight: 2160, concurrency: 1, tags: [] },
      });
      const job = await infra.transport.claim(encoderId, 0);
      assert.equal(job?.id, jobId);
      assert.ok(job, 'claimed');
      assert.equal((job.spec as { webhook: { secret: string } }).webhook.secret, WEBHOOK_SECRET);
      assert.equal(job?.limits?.maxDurationS, 3600);
      assert.deepEqual(job?.transfer, { source: 'direct', output: 'direct' });
      await infra.transport.release(encoderId, { jobId, leaseToken: job!.leaseToken }, 'test');
      await coordinator.store.cancel(jobId, { actor: 'test' });
    } finally {
      await infra.close();
    }
  });

  test('a node without the server key fails the attempt retryably and holds no lease', async () => {
    const jobId = await submitUploadJob();
    const saved = process.env.VIDMESH_SECRET_KEY;
    const infra = await infrastructureNode(nodeConfig(await mkdtemp(join(root, 'node-b-'))), { env: {} });
    try {
      const { encoderId } = await infra.transport.register({
        name: 'infra-nokey',
        kind: 'infrastructure',
        version: '0',
        capabilities: { codecs: ['h264'], hwaccel: [], maxHeight: 2160, concurrency: 1, tags: [] },
      });
      assert.equal(await infra.transport.claim(encoderId, 0), null);
      const job = await coordinator.store.get(jobId);
      assert.equal(job.status, 'failed', 'back in the queue after its backoff, not dead, not leased');
      assert.equal(job.lastError?.code, 'secret_key_missing');
      await coordinator.store.cancel(jobId, { actor: 'test' });
    } finally {
      process.env.VIDMESH_SECRET_KEY = saved;
      await infra.close();
    }
  });

  test("an upload-source job completes on a node that does not share the coordinator's data dir", async () => {
    const jobId = await submitUploadJob();
    const dir = await mkdtemp(join(root, 'node-c-'));
    const infra = await infrastructureNode(nodeConfig(dir));
    assert.match(infra.describe.uploads ?? '', /from the coordinator/);
    const node = startEncoderNode({
      transport: infra.transport,
      dataDir: dir,
      storage: infra.storage,
      name: 'infra-c',
      version: '0.0.0-test',
      hwaccel: 'none',
      progressIntervalMs: 300,
      heartbeatIntervalMs: 1000,
      claimWaitMs: 1000,
    });
    try {
      await node.ready;
      const job = await waitFor('job completed', async () => {
        const j = await coordinator.store.get(jobId);
        assert.ok(!['dead', 'cancelled'].includes(j.status), JSON.stringify(j.lastError));
        return j.status === 'completed' && j;
      });
      assert.equal(job.encoderId, node.encoderId);
      // Its `local` outputs went to the coordinator, which serves them.
      const master = await fetch(`${coordinator.url}/media/${jobId}/master.m3u8`);
      assert.equal(master.status, 200);
      assert.match(await master.text(), /^#EXTM3U/);
    } finally {
      await node.stop({ graceful: false });
      await infra.close();
    }
  });
});

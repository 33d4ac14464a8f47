import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { startCoordinator } from '../../src/coordinator/serve.js';
import { CoordinatorUnavailableError } from '../../src/encoder/errors.js';
import { createHttpTransport, startEncoderNode } from '../../src/encoder/index.js';
import { waitFor } from '../encoder/helpers.js';
import { startStandIn } from '../encoder/stand-in.js';
import { withTestDatabase } from '../helpers/db.js';
import { makeClip } from '../helpers/media.js';

// Encoders given several coordinator URLs (`vidmesh encoder --coordinator a,b`) fail over between
// them: two real coordinators on one PostgreSQL, the first one stopped after the node registered.
const KEY = 'test-admin-key-0123456789abcdef';
const tdb = withTestDatabase();
let root: string;
let clip: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'vidmesh-failover-'));
  await mkdir(join(root, 'src'));
  clip = await makeClip(join(root, 'src', 'clip.mp4'), { seconds: 2 });
});
after(() => rm(root, { recursive: true, force: true }));

test('an encoder registered through coordinator A finishes a job through B once A is gone', async () => {
  // One data dir for both, as a shared volume in deploy/compose.yaml: uploads and /media are shared.
  const dataDir = join(root, 'shared-data');
  const start = () =>
    startCoordinator(
      loadConfig({
        flags: {
          port: 0,
          host: '127.0.0.1',
          dataDir,
          encoders: 0,
          apiKey: KEY,
          logLevel: 'silent',
          databaseUrl: tdb.current.url,
          maintenanceMs: 500,
        },
        env: {},
      }),
    );
  const a = await start();
  const b = await start();
  let aStopped = false;
  const encoderDir = await mkdtemp(join(root, 'enc-'));
  const node = startEncoderNode({
    transport: createHttpTransport({ url: [a.url, b.url], apiKey: KEY }),
    dataDir: encoderDir,
    storage: {
      localRoot: join(encoderDir, 'media'),
      localUrlBase: `${b.url}/media`,
      fileRoots: [],
      ssrf: {},
      ipfs: { blockstoreDir: join(encoderDir, 'ipfs') },
    },
    name: 'failover-1',
    version: '0.0.0-test',
    hwaccel: 'none',
    progressIntervalMs: 300,
    heartbeatIntervalMs: 500,
    claimWaitMs: 1000,
  });
  try {
    await node.ready;
    await a.stop({ graceMs: 0 });
    aStopped = true;

    const client = createClient({ url: b.url, apiKey: KEY });
    const { source } = await client.upload(clip);
    const jobId = (
      await client.submitJob({
        source,
        ladder: {
          ladder: [{ name: '240p', height: 240, videoBitrate: 400_000 }],
          speed: 'ultrafast',
          segmentDuration: 2,
        },
      })
    ).id;
    const job = await waitFor('job completed through B', async () => {
      const j = await b.store.get(jobId);
      assert.ok(!['dead', 'cancelled'].includes(j.status), JSON.stringify(j.lastError));
      return j.status === 'completed' && j;
    });
    assert.equal(job.encoderId, node.encoderId, 'the same registration, not a new encoder');
    assert.equal(job.attempts, 1, 'encoded once');
    const master = await fetch((job.result as { masterUrl: string }).masterUrl);
    assert.equal(master.status, 200);
  } finally {
    await node.stop({ graceful: false });
    if (!aStopped) await a.stop({ graceMs: 0 });
    await b.stop({ graceMs: 0 });
  }
});

test('after a 5xx the call fails (the node retries it) and the next call goes to the other coordinator', async () => {
  const ok = { status: 200, body: { ok: true } };
  const down = await startStandIn({
    'POST /api/v1/encoders/heartbeat': () => ({
      status: 503,
      body: { code: 'unavailable', detail: 'db down' },
    }),
  });
  const up = await startStandIn({ 'POST /api/v1/encoders/heartbeat': () => ok });
  try {
    const t = createHttpTransport({ url: [down.url, up.url], apiKey: KEY });
    await assert.rejects(t.heartbeat('enc-1', []), CoordinatorUnavailableError);
    await t.heartbeat('enc-1', []);
    await t.heartbeat('enc-1', []);
    assert.equal(down.seen.length, 1, 'not sent twice to the failing coordinator');
    assert.equal(up.seen.length, 2, 'sticks to the working one');
    assert.match(t.remoteUploads?.().baseUrl ?? '', new RegExp(`^${up.url}`));
  } finally {
    await down.close();
    await up.close();
  }
});

test('refused connection: the same call goes on to the next URL; a cut-off one is not re-sent at once', async () => {
  const ok = { status: 200, body: { ok: true } };
  const up = await startStandIn({ 'POST /api/v1/encoders/heartbeat': () => ok });
  // A port that refuses: a server that was listening and is closed.
  const gone = createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const refused = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
  await new Promise((r) => gone.close(r));
  // A coordinator that reads the request and drops the connection without answering.
  let cutSeen = 0;
  const cut = createServer((req) => {
    cutSeen += 1;
    req.socket.destroy();
  });
  await new Promise<void>((r) => cut.listen(0, '127.0.0.1', r));
  const cutUrl = `http://127.0.0.1:${(cut.address() as AddressInfo).port}`;
  try {
    await createHttpTransport({ url: [refused, up.url], apiKey: KEY }).heartbeat('enc-1', []);
    assert.equal(up.seen.length, 1, 'sent on to the working coordinator within the same call');

    const t = createHttpTransport({ url: [cutUrl, up.url], apiKey: KEY });
    await assert.rejects(t.heartbeat('enc-1', []), CoordinatorUnavailableError);
    assert.equal(up.seen.length, 1, 'a request that may have been applied is not re-sent at once');
    await t.heartbeat('enc-1', []);
    assert.equal(cutSeen, 1);
    assert.equal(up.seen.length, 2, 'the next call goes to the other coordinator');
  } finally {
    await up.close();
    cut.closeAllConnections();
    await new Promise((r) => cut.close(r));
  }
});

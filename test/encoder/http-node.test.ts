import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { startCoordinator } from '../../src/coordinator/serve.js';
import { createHttpTransport, type EncoderNodeEvent, startEncoderNode } from '../../src/encoder/index.js';
import type { StorageContext } from '../../src/storage/index.js';
import { withTestDatabase } from '../helpers/db.js';
import { ffmpegChildren, makeClip, waitFor } from './helpers.js';
import { type Answer, startStandIn } from './stand-in.js';

// Remote encoder nodes over the agent API: against the real coordinator, and against a stand-in that
// can fail completion reports (coordinator outage) to exercise the result cache across a restart.
const KEY = 'test-admin-key-0123456789abcdef';
const tdb = withTestDatabase();
let root: string;
let srcDir: string;
let clip: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'vidmesh-encoder-http-'));
  srcDir = join(root, 'sources');
  await mkdir(srcDir, { recursive: true });
  clip = await makeClip(join(srcDir, 'clip.mp4'), { seconds: 3 });
});
after(() => rm(root, { recursive: true, force: true }));

function storageFor(dataDir: string, localUrlBase?: string): StorageContext {
  return {
    localRoot: join(dataDir, 'media'),
    ...(localUrlBase ? { localUrlBase } : {}),
    fileRoots: [srcDir],
    ssrf: {},
    ipfs: { blockstoreDir: join(dataDir, 'ipfs') },
  };
}

const ladder = {
  ladder: [{ name: '240p', height: 240, videoBitrate: 400_000 }],
  speed: 'ultrafast',
  segmentDuration: 2,
};

test('a remote node downloads an upload, PUTs local outputs to the coordinator and completes', async () => {
  const coordDir = await mkdtemp(join(root, 'coord-'));
  const config = loadConfig({
    flags: {
      port: 0,
      host: '127.0.0.1',
      dataDir: coordDir,
      encoders: 0,
      apiKey: KEY,
      logLevel: 'silent',
      databaseUrl: tdb.current.url,
    },
    env: {},
  });
  const coordinator = await startCoordinator(config);
  const encoderDir = await mkdtemp(join(root, 'enc-'));
  const node = startEncoderNode({
    transport: createHttpTransport({ url: coordinator.url, apiKey: KEY }),
    dataDir: encoderDir,
    storage: storageFor(encoderDir, `${coordinator.url}/media`),
    name: 'remote-1',
    version: '0.0.0-test',
    hwaccel: 'none',
    progressIntervalMs: 300,
    heartbeatIntervalMs: 1000,
    claimWaitMs: 2000,
  });
  try {
    await node.ready;
    const auth = { authorization: `Bearer ${KEY}` };
    const { source } = await createClient({ url: coordinator.url, apiKey: KEY }).upload(clip);
    const sub = await fetch(`${coordinator.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ source, ladder }),
    });
    assert.equal(sub.status, 202, await sub.clone().text());
    const jobId = ((await sub.json()) as { job: { id: string } }).job.id;

    const job = await waitFor('job completed', async () => {
      const j = await coordinator.store.get(jobId);
      assert.ok(!['dead', 'failed', 'cancelled'].includes(j.status), JSON.stringify(j.lastError));
      return j.status === 'completed' && j;
    });
    assert.equal(job.encoderId, node.encoderId);
    const result = job.result as { masterUrl: string; publish: { type: string } };
    assert.equal(result.publish.type, 'http');
    assert.equal(result.masterUrl, `${coordinator.url}/media/${jobId}/master.m3u8`);
    const master = await fetch(result.masterUrl);
    assert.equal(master.status, 200);
    assert.match(await master.text(), /240p\/index\.m3u8/);
    const files = await readdir(join(coordDir, 'media', jobId, '240p'));
    assert.ok(files.some((f) => f.endsWith('.ts')));
    const logs = (await coordinator.store.getLogs(jobId)).map((l) => l.line).join('\n');
    assert.match(logs, /\[vidmesh\] published \d+ files to http/);

    // A per-rendition retry over the agent API, into a prefixed local destination (bugs 3, 4).
    const two = await fetch(`${coordinator.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        source,
        ladder: {
          ...ladder,
          ladder: [{ name: '360p', height: 360, videoBitrate: 600_000 }, ...ladder.ladder],
        },
        destination: { type: 'local', prefix: 'a/b' },
      }),
    });
    assert.equal(two.status, 202, await two.clone().text());
    const twoId = ((await two.json()) as { job: { id: string } }).job.id;
    const completions = async () =>
      (await coordinator.store.listEvents(twoId)).filter((e) => e.to === 'completed').length;
    await waitFor('two renditions completed', async () => (await completions()) === 1);
    const retried = await fetch(`${coordinator.url}/api/v1/jobs/${twoId}/retry`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ renditions: ['240p'] }),
    });
    assert.equal(retried.status, 202, await retried.clone().text());
    await waitFor('retry completed', async () => (await completions()) === 2);
    const view = (await (
      await fetch(`${coordinator.url}/api/v1/jobs/${twoId}`, { headers: auth })
    ).json()) as {
      job: { renditions: Array<{ name: string; status: string }>; result: { masterUrl: string } };
    };
    assert.deepEqual(
      view.job.renditions.map((r) => `${r.name}:${r.status}`),
      ['360p:completed', '240p:completed'],
    );
    assert.equal(view.job.result.masterUrl, `${coordinator.url}/media/${twoId}/a/b/master.m3u8`);
    const twoMaster = await (await fetch(view.job.result.masterUrl)).text();
    assert.match(twoMaster, /360p\/index\.m3u8/);
    assert.match(twoMaster, /240p\/index\.m3u8/);
    const twoLogs = (await coordinator.store.getLogs(twoId)).map((l) => l.line);
    assert.ok(
      twoLogs.some((l) => /plan: 240p \(/.test(l)),
      twoLogs.join('\n'),
    );
  } finally {
    await node.stop({ graceful: false });
    await coordinator.stop({ graceMs: 0 });
  }
});

test('result cache: a report the coordinator missed survives a restart and is sent, never re-encoded', async () => {
  const jobId = 'job-cache-1';
  let claims = 0;
  let completeUp = false;
  const outputs: string[] = [];
  const standIn = await startStandIn({
    'POST /api/v1/encoders/register': () => ({ status: 200, body: { encoder: { id: 'enc-remote' } } }),
    'POST /api/v1/encoders/heartbeat': () => ({ status: 200, body: { ok: true } }),
    'POST /api/v1/agent/claim': async (): Promise<Answer> => {
      if (claims++ === 0) {
        return {
          status: 200,
          body: {
            job: {
              id: jobId,
              spec: { source: { type: 'file', path: clip }, ladder },
              renditions: [],
              attempt: 1,
            },
            leaseToken: 'lease-1',
            leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
          },
        };
      }
      await new Promise((r) => setTimeout(r, 200));
      return { status: 204 };
    },
    'POST /api/v1/agent/progress': () => ({
      status: 200,
      body: { cancelled: false, leaseExpiresAt: new Date(Date.now() + 60_000).toISOString() },
    }),
    'PUT /api/v1/agent/outputs/*': (r) => {
      assert.equal(r.headers['x-lease-token'], 'lease-1');
      outputs.push(r.path);
      return { status: 201, body: { path: r.path, bytes: r.raw.length } };
    },
    'POST /api/v1/agent/complete': () =>
      completeUp
        ? { status: 200, body: { job: { id: jobId, status: 'completed' } } }
        : { status: 503, body: { code: 'unavailable', detail: 'database restarting' } },
    'POST /api/v1/agent/fail': () => ({ status: 200, body: {} }),
    'POST /api/v1/agent/release': () => ({ status: 200, body: {} }),
  });
  const dataDir = await mkdtemp(join(root, 'enc-cache-'));
  const start = (events: EncoderNodeEvent[]) =>
    startEncoderNode({
      transport: createHttpTransport({ url: standIn.url, apiKey: KEY }),
      dataDir,
      storage: storageFor(dataDir),
      name: 'remote-cache',
      version: '0.0.0-test',
      hwaccel: 'none',
      progressIntervalMs: 300,
      heartbeatIntervalMs: 1000,
      claimWaitMs: 1000,
      // Long backoff on purpose: while the lease is alive the node must still retry about every second.
      reportBackoff: { baseMs: 20_000, maxMs: 20_000 },
      onEvent: (e) => events.push(e),
    });
  const completes = () => standIn.seen.filter((r) => r.path === '/api/v1/agent/complete');
  try {
    const first: EncoderNodeEvent[] = [];
    const node1 = start(first);
    await waitFor('result cached', () => first.find((e) => e.type === 'result-cached'));
    // The coordinator is "down": the report is retried with backoff, the cache file stays.
    await waitFor('fast retries within the lease', () => completes().length >= 4, 6000);
    const cached = JSON.parse(await readFile(join(dataDir, 'encoder', 'results', `${jobId}.json`), 'utf8'));
    assert.equal(cached.leaseToken, 'lease-1');
    assert.equal(cached.encoderId, 'enc-remote');
    assert.match(cached.result.masterUrl, new RegExp(`/media/${jobId}/master\\.m3u8$`));
    assert.deepEqual(node1.pendingReports(), [jobId]);
    assert.ok(outputs.some((p) => p.endsWith('/master.m3u8')));
    await node1.stop({ graceful: true, graceMs: 1000 });
    assert.deepEqual(await readdir(join(dataDir, 'encoder', 'results')), [`${jobId}.json`]);

    // The coordinator is back and the encoder restarts: the cached report goes first, nothing is encoded.
    completeUp = true;
    const putsBefore = outputs.length;
    const second: EncoderNodeEvent[] = [];
    const node2 = start(second);
    await node2.ready;
    const reported = second.find((e) => e.type === 'result-reported');
    assert.deepEqual(reported, { type: 'result-reported', jobId, outcome: 'acknowledged' });
    const last = completes().at(-1)!.body as { jobId: string; leaseToken: string; encoderId: string };
    assert.deepEqual([last.jobId, last.leaseToken, last.encoderId], [jobId, 'lease-1', 'enc-remote']);
    assert.deepEqual(await readdir(join(dataDir, 'encoder', 'results')), []);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(outputs.length, putsBefore, 'no output uploaded again');
    assert.equal(second.filter((e) => e.type === 'job-claimed').length, 0, 'no job encoded again');
    assert.deepEqual(await ffmpegChildren(), []);
    await node2.stop({ graceful: false });
  } finally {
    await standIn.close();
  }
});

test('a job re-leased to the node that still holds its unreported result is completed from the cache', async () => {
  const jobId = 'job-cache-2';
  let offers = 0;
  let reoffer = false;
  const puts: string[] = [];
  const offer = (token: string): Answer => ({
    status: 200,
    body: {
      job: {
        id: jobId,
        spec: { source: { type: 'file', path: clip }, ladder },
        renditions: [],
        attempt: offers,
      },
      leaseToken: token,
      leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
    },
  });
  const standIn = await startStandIn({
    'POST /api/v1/encoders/register': () => ({ status: 200, body: { encoder: { id: 'enc-re' } } }),
    'POST /api/v1/encoders/heartbeat': () => ({ status: 200, body: { ok: true } }),
    'POST /api/v1/agent/claim': async (): Promise<Answer> => {
      if (offers === 0 || (reoffer && offers === 1)) return offer(`lease-${++offers}`);
      await new Promise((r) => setTimeout(r, 200));
      return { status: 204 };
    },
    'POST /api/v1/agent/progress': () => ({
      status: 200,
      body: { cancelled: false, leaseExpiresAt: new Date(Date.now() + 60_000).toISOString() },
    }),
    'PUT /api/v1/agent/outputs/*': (r) => {
      puts.push(String(r.headers['x-lease-token']));
      return { status: 201, body: { path: r.path, bytes: r.raw.length } };
    },
    // The first lease's report never gets through (its lease expired while the coordinator was away).
    'POST /api/v1/agent/complete': (r) =>
      (r.body as { leaseToken: string }).leaseToken === 'lease-2'
        ? { status: 200, body: { job: { id: jobId, status: 'completed' } } }
        : { status: 503, body: { code: 'unavailable' } },
    'POST /api/v1/agent/release': () => ({ status: 200, body: {} }),
  });
  const dataDir = await mkdtemp(join(root, 'enc-reclaim-'));
  const events: EncoderNodeEvent[] = [];
  const node = startEncoderNode({
    transport: createHttpTransport({ url: standIn.url, apiKey: KEY }),
    dataDir,
    storage: storageFor(dataDir),
    name: 'remote-reclaim',
    version: '0.0.0-test',
    hwaccel: 'none',
    progressIntervalMs: 300,
    claimWaitMs: 1000,
    reportBackoff: { baseMs: 5000, maxMs: 5000 },
    onEvent: (e) => events.push(e),
  });
  try {
    await waitFor('result cached', () => events.find((e) => e.type === 'result-cached'));
    const putsAfterEncode = puts.length;
    assert.ok(putsAfterEncode > 0 && puts.every((t) => t === 'lease-1'));
    reoffer = true;
    await waitFor(
      'completed with the new lease',
      () => events.find((e) => e.type === 'job-completed'),
      10_000,
    );
    const done = standIn.seen.filter((r) => r.path === '/api/v1/agent/complete').at(-1)!.body as {
      leaseToken: string;
      result: { masterUrl: string };
    };
    assert.equal(done.leaseToken, 'lease-2');
    assert.match(done.result.masterUrl, new RegExp(`/media/${jobId}/master\\.m3u8$`));
    assert.equal(puts.length, putsAfterEncode, 'outputs not uploaded again');
    assert.equal(
      events.filter((e) => e.type === 'job-stage' && e.stage === 'encoding').length,
      1,
      'encoded once',
    );
    assert.deepEqual(await readdir(join(dataDir, 'encoder', 'results')), []);
    assert.deepEqual(node.pendingReports(), []);
  } finally {
    await node.stop({ graceful: false });
    await standIn.close();
  }
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jobView } from '../../src/coordinator/views.js';
import {
  createDbTransport,
  type EncoderNode,
  type EncoderNodeEvent,
  startEncoderNode,
} from '../../src/encoder/index.js';
import { createJobStore, type Job, type JobStore } from '../../src/jobs/index.js';
import { jobSpecSchema, requestedRenditions } from '../../src/jobs/spec.js';
import type { StorageContext } from '../../src/storage/index.js';
import { withTestDatabase } from '../helpers/db.js';
import { ffmpegChildren, isAlive, makeClip, waitFor } from './helpers.js';

// Real pipeline on the direct job-store transport: PostgreSQL job store, real ffmpeg, real clips.
const tdb = withTestDatabase();
let root: string;
let srcDir: string;
let clip: string;
let longClip: string;
let slowServer: Server;
let slowUrl: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'vidmesh-encoder-node-'));
  srcDir = join(root, 'sources');
  await mkdir(srcDir, { recursive: true });
  clip = await makeClip(join(srcDir, 'clip.mp4'), { seconds: 3 });
  longClip = await makeClip(join(srcDir, 'long.mp4'), { loops: 3 });
  // A source that trickles forever: keeps a job in `downloading`.
  slowServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(50 * 1024 * 1024) });
    const timer = setInterval(() => res.write(Buffer.alloc(1024)), 100);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => slowServer.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${(slowServer.address() as AddressInfo).port}/slow.mp4`;
});
after(async () => {
  slowServer.closeAllConnections();
  await new Promise((r) => slowServer.close(r));
  await rm(root, { recursive: true, force: true });
});

interface Harness {
  store: JobStore;
  node: EncoderNode;
  events: EncoderNodeEvent[];
  dataDir: string;
  tag: string;
  submit(source: unknown, ladderHeight?: number): Promise<string>;
}

async function harness(opts: { concurrency?: number } = {}): Promise<Harness> {
  const store = createJobStore(tdb.current.db, { leaseMs: 10_000, pollIntervalMs: 200 });
  const dataDir = await mkdtemp(join(root, 'data-'));
  // Each test's jobs require its own tag, so no other test's node can claim them.
  const tag = `t${randomBytes(4).toString('hex')}`;
  const storage: StorageContext = {
    localRoot: join(dataDir, 'media'),
    uploads: { kind: 'dir', dir: join(dataDir, 'uploads') },
    fileRoots: [srcDir],
    ssrf: { allowHosts: ['127.0.0.1'] },
    ipfs: { blockstoreDir: join(dataDir, 'ipfs') },
  };
  const events: EncoderNodeEvent[] = [];
  const node = startEncoderNode({
    transport: createDbTransport(store),
    dataDir,
    storage,
    name: `node-${tag}`,
    version: '0.0.0-test',
    concurrency: opts.concurrency ?? 1,
    hwaccel: 'none',
    tags: [tag],
    progressIntervalMs: 250,
    heartbeatIntervalMs: 1000,
    claimWaitMs: 1000,
    onEvent: (e) => events.push(e),
  });
  await node.ready;
  const submit = async (source: unknown, ladderHeight = 240) => {
    const spec = jobSpecSchema.parse({
      source,
      ladder: {
        ladder: [{ name: `${ladderHeight}p`, height: ladderHeight, videoBitrate: 400_000 }],
        speed: 'ultrafast',
        segmentDuration: 2,
      },
      tags: [tag],
    });
    const job = await store.submit({
      spec,
      renditions: requestedRenditions(spec),
      requirements: { tags: [tag] },
    });
    return job.id;
  };
  return { store, node, events, dataDir, tag, submit };
}

const eventOf = (events: EncoderNodeEvent[], jobId: string, type: EncoderNodeEvent['type']) =>
  events.find((e) => e.type === type && 'jobId' in e && e.jobId === jobId);

test('a job runs end to end: fetch, probe, encode, publish locally, complete, logs, clean work dir', async () => {
  const h = await harness();
  try {
    const encoder = await h.store.getEncoder(h.node.encoderId!);
    assert.ok(encoder.capabilities.codecs.includes('h264'));
    assert.deepEqual(encoder.capabilities.tags, [h.tag]);
    assert.ok((encoder.capabilities.freeDiskBytes ?? 0) > 0);

    const jobId = await h.submit({ type: 'file', path: clip });
    const job = await waitFor('job completed', async () => {
      const j = await h.store.get(jobId);
      assert.ok(!['dead', 'failed', 'cancelled'].includes(j.status), JSON.stringify(j.lastError));
      return j.status === 'completed' && j;
    });
    const result = job.result as {
      masterUrl: string;
      encode: { backend: string };
      renditions: Array<{ name: string }>;
    };
    assert.equal(result.masterUrl, `/media/${jobId}/master.m3u8`);
    assert.equal(result.encode.backend, 'libx264');
    assert.deepEqual(
      result.renditions.map((r) => r.name),
      ['240p'],
    );
    const master = await readFile(join(h.dataDir, 'media', jobId, 'master.m3u8'), 'utf8');
    assert.match(master, /240p\/index\.m3u8/);
    assert.deepEqual(
      ['downloading', 'encoding', 'uploading'],
      h.events
        .filter((e) => e.type === 'job-stage' && e.jobId === jobId)
        .map((e) => (e as { stage: string }).stage),
    );
    assert.ok(eventOf(h.events, jobId, 'job-completed'));
    const logs = (await h.store.getLogs(jobId)).map((l) => l.line).join('\n');
    assert.match(logs, /\[vidmesh\] fetched \d+ bytes/);
    assert.match(logs, /\[vidmesh\] probed: .*h264 1280x720/);
    // The store says completed as soon as complete() commits; the node cleans up right after it returns.
    await waitFor('work dir and result cache emptied', async () => {
      const left = [
        ...(await readdir(join(h.dataDir, 'encoder', 'work'))),
        ...(await readdir(join(h.dataDir, 'encoder', 'results'))),
      ];
      return left.length === 0;
    });
  } finally {
    await h.node.stop({ graceful: false });
  }
});

test('bad input fails without retry: a text file is not media', async () => {
  const h = await harness();
  try {
    const bad = join(srcDir, `notes-${h.tag}.mp4`);
    await writeFile(bad, 'this is not a video\n'.repeat(100));
    const jobId = await h.submit({ type: 'file', path: bad });
    const job = await waitFor('job dead', async () => {
      const j = await h.store.get(jobId);
      return j.status === 'dead' && j;
    });
    assert.equal(job.lastError?.code, 'not_media');
    assert.equal(job.attempts, 1);
    const failed = eventOf(h.events, jobId, 'job-failed') as { retryable: boolean } | undefined;
    assert.equal(failed?.retryable, false);
  } finally {
    await h.node.stop({ graceful: false });
  }
});

test('lease lost mid-encode kills ffmpeg and discards the work', async (t) => {
  const h = await harness();
  try {
    const jobId = await h.submit({ type: 'file', path: longClip }, 720);
    const [pid] = await waitFor('ffmpeg running', async () => {
      const pids = await ffmpegChildren();
      return pids.length > 0 && eventOf(h.events, jobId, 'job-stage') && pids;
    });
    assert.ok(pid);
    // The lease expires and the sweeper rescues the job: the node's next renew gets 409. (A renew may
    // slip in between the two statements and extend the lease again: then expire it once more.)
    await waitFor(
      'job rescued',
      async () => {
        await tdb.current.db.query(
          `UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
          [jobId],
        );
        return (await h.store.rescueExpired()).some((r) => r.id === jobId);
      },
      5000,
      0,
    );
    const lostAt = Date.now();
    await waitFor('job aborted', () => eventOf(h.events, jobId, 'job-aborted'), 5000);
    await waitFor('ffmpeg gone', async () => !(await isAlive(pid)), 15_000);
    const killMs = Date.now() - lostAt;
    t.diagnostic(`lease lost → ffmpeg gone in ${killMs} ms (progress interval 250 ms)`);
    // A safety net far below the clip's encode time: ffmpeg was stopped, it did not run to its end.
    assert.ok(killMs < 10_000, `ffmpeg outlived the lease by ${killMs} ms`);
    assert.equal((eventOf(h.events, jobId, 'job-aborted') as { reason: string }).reason, 'lease_lost');
    assert.equal(
      eventOf(h.events, jobId, 'job-failed'),
      undefined,
      'a lost lease is not reported as a failure',
    );
  } finally {
    await h.node.stop({ graceful: false });
  }
  assert.deepEqual(await ffmpegChildren(), [], 'no ffmpeg left after stop');
});

test('cancel is seen through the progress answer: ffmpeg is stopped mid-encode', async (t) => {
  const h = await harness();
  try {
    const jobId = await h.submit({ type: 'file', path: longClip }, 720);
    const [pid] = await waitFor('ffmpeg running', async () => {
      const pids = await ffmpegChildren();
      return pids.length > 0 && pids;
    });
    assert.ok(pid);
    const cancelledAt = Date.now();
    await h.store.cancel(jobId, { actor: 'test', reason: 'user cancelled' });
    await waitFor('ffmpeg gone', async () => !(await isAlive(pid)), 15_000);
    const stopMs = Date.now() - cancelledAt;
    t.diagnostic(`cancel → ffmpeg gone in ${stopMs} ms (progress interval 250 ms)`);
    // A safety net far below the clip's encode time: the cancel stopped ffmpeg.
    assert.ok(stopMs < 10_000, `ffmpeg ran ${stopMs} ms after the cancel`);
    await waitFor('job aborted', () => eventOf(h.events, jobId, 'job-aborted'), 5000);
    assert.equal((eventOf(h.events, jobId, 'job-aborted') as { reason: string }).reason, 'cancelled');
    assert.equal((await h.store.get(jobId)).status, 'cancelled');
    await waitFor(
      'work dir removed',
      async () => (await readdir(join(h.dataDir, 'encoder', 'work'))).length === 0,
    );
  } finally {
    await h.node.stop({ graceful: false });
  }
});

test('graceful shutdown releases jobs still downloading and lets running encodes finish', async () => {
  const h = await harness({ concurrency: 2 });
  const downloading = await h.submit({ type: 'http', url: slowUrl });
  await waitFor('download started', () =>
    h.events.find((e) => e.type === 'job-stage' && e.jobId === downloading && e.stage === 'downloading'),
  );
  const encoding = await h.submit({ type: 'file', path: longClip });
  await waitFor('encode started', () =>
    h.events.find((e) => e.type === 'job-stage' && e.jobId === encoding && e.stage === 'encoding'),
  );
  await h.node.stop({ graceful: true, graceMs: 45_000 });

  const released = await h.store.get(downloading);
  assert.equal(released.status, 'queued');
  assert.equal(released.attempts, 0, 'a release counts no attempt');
  const events = await h.store.listEvents(downloading);
  assert.equal(events.at(-1)?.reason, 'released');
  assert.ok(eventOf(h.events, downloading, 'job-released'));
  assert.equal((await h.store.get(encoding)).status, 'completed');
  assert.deepEqual(await readdir(join(h.dataDir, 'encoder', 'work')), []);
  // The released job is claimable again by another node.
  await h.store.cancel(downloading);
});

test('a node the coordinator forgot registers again on its next heartbeat, under the same id', async () => {
  const h = await harness();
  try {
    const id = h.node.encoderId!;
    // The node may heartbeat (and register again) right after the delete, so the delete itself is checked.
    const deleted = await tdb.current.db.query('DELETE FROM encoders WHERE id = $1 RETURNING id', [id]);
    assert.equal(deleted.rows.length, 1);
    const back = await waitFor(
      'registered again',
      () => h.store.getEncoder(id).catch(() => undefined),
      10_000,
      100,
    );
    assert.equal(back.name, `node-${h.tag}`);
  } finally {
    await h.node.stop({ graceful: false });
  }
});

// Bugs 4 and 5: a 720p source, a 1080p/360p/240p ladder published to a local destination with a prefix;
// then a retry of one rendition.
test('retrying one rendition encodes only it and completes with a full master (bugs 4, 5)', async () => {
  const h = await harness();
  try {
    const spec = jobSpecSchema.parse({
      source: { type: 'file', path: clip },
      ladder: {
        ladder: [
          { name: '1080p', height: 1080, videoBitrate: 2_000_000 },
          { name: '360p', height: 360, videoBitrate: 600_000 },
          { name: '240p', height: 240, videoBitrate: 300_000 },
        ],
        speed: 'ultrafast',
        segmentDuration: 2,
      },
      destination: { type: 'local', prefix: 'show/ep1' },
      tags: [h.tag],
    });
    const { id } = await h.store.submit({
      spec,
      renditions: requestedRenditions(spec),
      requirements: { tags: [h.tag] },
    });
    const states = (j: Job) => j.renditions.map((r) => `${r.name}:${r.status}`);
    const completions = async () => (await h.store.listEvents(id)).filter((e) => e.to === 'completed').length;

    // Bug 5: the 1080p rendition (above the 720p source) is skipped while the job still runs.
    const running = await waitFor(
      'skipped while running',
      async () => {
        const j = await h.store.get(id);
        return j.status === 'running' && j.renditions[0]?.status === 'skipped' ? j : undefined;
      },
      60_000,
    );
    assert.equal(running.renditions[0]?.progress, 0);
    await waitFor('first completion', async () => (await completions()) === 1, 120_000);
    const first = await h.store.get(id);
    assert.deepEqual(states(first), ['1080p:skipped', '360p:completed', '240p:completed']);
    const folder = join(h.dataDir, 'media', id, 'show', 'ep1');
    const before240 = await readFile(join(folder, '240p', 'index.m3u8'), 'utf8');
    const lastSeq = (await h.store.getLogs(id, { limit: 5000 })).at(-1)?.seq ?? 0;

    // Bug 4: retry one rendition.
    await h.store.retry(id, { renditions: ['360p'], actor: 'test' });
    await waitFor('second completion', async () => (await completions()) === 2, 120_000);
    const done = await h.store.get(id);
    const lines = (await h.store.getLogs(id, { afterSeq: lastSeq, limit: 5000 })).map((l) => l.line);
    const planLine = lines.find((l) => l.includes('plan: '));
    assert.match(planLine ?? '', /plan: 360p \(/, `the retry planned only 360p:\n${lines.join('\n')}`);
    assert.ok(lines.some((l) => /encoded 360p with/.test(l)));
    assert.ok(lines.some((l) => l.includes('kept from an earlier run: 240p')));

    assert.equal(done.status, 'completed');
    assert.deepEqual(states(done), ['1080p:skipped', '360p:completed', '240p:completed']);
    assert.deepEqual((done.result as { encode: { renditions: string[] } }).encode.renditions, ['360p']);
    const view = jobView(done, 'http://coord.test');
    assert.deepEqual(
      view.result?.renditions.map((r) => [r.name, r.url]),
      [
        ['360p', `http://coord.test/media/${id}/show/ep1/360p/index.m3u8`],
        ['240p', `http://coord.test/media/${id}/show/ep1/240p/index.m3u8`],
      ],
    );
    // The published master lists both renditions, and both are on disk next to it.
    const master = await readFile(join(folder, 'master.m3u8'), 'utf8');
    assert.match(master, /360p\/index\.m3u8/);
    assert.match(master, /240p\/index\.m3u8/);
    assert.match(master, /RESOLUTION=426x240/);
    assert.equal(await readFile(join(folder, '240p', 'index.m3u8'), 'utf8'), before240);
    assert.ok((await stat(join(folder, '360p', 'index.m3u8'))).size > 0);
  } finally {
    await h.node.stop({ graceful: false });
  }
});

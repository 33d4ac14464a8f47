import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { JobView } from '../../src/coordinator/schemas.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { launchChromium, servePlayerPage } from '../helpers/browser.js';
import { makeSyntheticClip } from '../helpers/media.js';
import { HLS_PLAY_THROUGH_SCRIPT, type PlayThroughOutcome, starvedStalls } from '../helpers/player.js';
import { avOffsets, frameTimes, videoFrames } from '../media/verify.js';

/**
 * Chunked encoding end to end (docs/chunking.md) on `startCoordinator` (PGlite) with two in-process
 * encoders: a 12 s upload split into 4 s chunks of 2 s segments is encoded as three video chunk tasks
 * and one audio task, stitched by the coordinator and published; its output must match the unchunked
 * encode of the same source (frame count, A/V alignment ±40 ms).
 */

// veryfast (the default speed): B-frames, so the chunks' timelines are exercised as in production.
const LADDER = {
  speed: 'veryfast' as const,
  segmentDuration: 2,
  mp4: true,
  ladder: [
    { name: '360p', height: 360, videoBitrate: 600_000 },
    { name: '240p', height: 240, videoBitrate: 300_000 },
  ],
};

async function waitFor(client: VidmeshClient, id: string, timeoutMs: number): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.getJob(id);
    if (['completed', 'dead', 'cancelled'].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`timeout waiting for job ${id}: ${job.status}/${job.stage}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('chunked encoding: split, chunk tasks, stitch, publish', () => {
  let dir: string;
  let server: RunningCoordinator;
  let client: VidmeshClient;
  let clip: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-chunked-e2e-'));
    const config = loadConfig({
      env: {},
      flags: {
        port: 0,
        dataDir: join(dir, 'data'),
        heartbeatMs: 500,
        logLevel: 'silent',
        maintenanceMs: 500,
        encoders: 2,
      },
    });
    server = await startCoordinator(config);
    client = createClient({ url: server.url, apiKey: server.apiKey });
    clip = await makeSyntheticClip(join(dir, 'src.mp4'), {
      kind: 'testsrc',
      seconds: 12,
      size: '640x360',
      fps: 25,
    });
  });

  after(async () => {
    await server?.stop({ graceMs: 1000 });
    await rm(dir, { recursive: true, force: true });
  });

  const children = async (id: string): Promise<JobView[]> => {
    const res = await fetch(`${server.url}/api/v1/jobs/${id}/children`, {
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { jobs: JobView[] }).jobs;
  };

  test('a 12 s job in 4 s chunks: chunk tasks are its children; the stitched ladder equals the unchunked one', async () => {
    const { source } = await client.upload(clip);
    const chunked = await client.submitJob({ source, ladder: LADDER, chunking: { seconds: 4 } });
    const whole = await client.submitJob({ source, ladder: LADDER, chunking: 'off' });
    assert.deepEqual((await children(whole.id)).length, 0, 'chunking off: no chunk tasks');
    const tasks = await children(chunked.id);
    assert.deepEqual(
      tasks.map((t) => t.chunkIndex),
      [-1, 0, 1, 2],
      'one audio task and three video chunk tasks',
    );
    assert.ok(tasks.every((t) => t.parentId === chunked.id));

    const [a, b] = [await waitFor(client, chunked.id, 180_000), await waitFor(client, whole.id, 180_000)];
    assert.equal(a.status, 'completed', JSON.stringify(a.error));
    assert.equal(b.status, 'completed', JSON.stringify(b.error));
    assert.ok((await children(chunked.id)).every((t) => t.status === 'completed'));
    assert.deepEqual(
      a.result?.renditions.map((r) => r.name),
      ['360p', '240p'],
    );
    assert.equal(a.result?.masterUrl, `${server.url}/media/${a.id}/master.m3u8`);

    const media = join(dir, 'data', 'media');
    for (const r of ['360p', '240p']) {
      const x = join(media, a.id, r, 'index.m3u8');
      const y = join(media, b.id, r, 'index.m3u8');
      assert.equal(await videoFrames(x), await videoFrames(y), `${r}: frame count equals the unchunked`);
      assert.deepEqual(await frameTimes(x), await frameTimes(y), `${r}: frame times equal the unchunked`);
      const [sx, sy] = [await avOffsets(x), await avOffsets(y)];
      assert.ok(Math.abs(sx.startS - sy.startS) <= 0.04, `${r}: A/V start ${sx.startS} vs ${sy.startS}`);
      assert.ok(Math.abs(sx.endS - sy.endS) <= 0.04, `${r}: A/V end ${sx.endS} vs ${sy.endS}`);
      const playlist = await readFile(x, 'utf8');
      assert.doesNotMatch(playlist, /DISCONTINUITY/);
      assert.equal(playlist.match(/^seg_\d+\.ts$/gm)?.length, 6);
      assert.equal(await videoFrames(join(media, a.id, `${r}.mp4`)), 300, `${r}.mp4 concatenated`);
    }

    // Played start to end in Chromium + hls.js: the buffer never runs dry at the seams (4 s, 8 s), one buffered range.
    const page = await servePlayerPage(HLS_PLAY_THROUGH_SCRIPT);
    const browser = await launchChromium();
    try {
      const tab = await browser.newPage();
      await tab.goto(page.url);
      const outcome = (await tab.evaluate(
        `playThrough(${JSON.stringify(a.result?.masterUrl)})`,
      )) as PlayThroughOutcome;
      assert.equal(outcome.error, undefined);
      assert.deepEqual(outcome.errors, []);
      assert.equal(outcome.ended, true, `played to the end: ${JSON.stringify(outcome)}`);
      // A stall with media buffered ahead is a busy machine's decoder; a seam hole leaves none ahead.
      assert.deepEqual(starvedStalls(outcome), [], `no stall on an empty buffer: ${JSON.stringify(outcome)}`);
      assert.equal(
        outcome.ranges.length,
        1,
        `one buffered range, no gap at a seam: ${JSON.stringify(outcome.ranges)}`,
      );
    } finally {
      await browser.close();
      await page.close();
    }

    const history = await client.jobHistory(a.id);
    assert.ok(
      history.some((e) => e.reason === 'split'),
      'split recorded on the parent',
    );
    assert.ok(
      history.some((e) => e.to === 'leased' && e.actor === 'coordinator:stitch'),
      'stitch leased',
    );
    assert.equal(history.at(-1)?.to, 'completed');
  });

  test('cancelling a split job cancels its chunk tasks', async () => {
    const { source } = await client.upload(clip);
    const job = await client.submitJob({
      source,
      ladder: { ...LADDER, speed: 'slow' },
      chunking: { seconds: 4 },
    });
    const cancelled = await client.cancelJob(job.id);
    assert.equal(cancelled.status, 'cancelled');
    const tasks = await children(job.id);
    assert.equal(tasks.length, 4);
    assert.ok(
      tasks.every((t) => t.status === 'cancelled'),
      tasks.map((t) => t.status).join(','),
    );
  });

  test('a client cannot submit a chunk task spec nor a reserved vidmesh: tag', async () => {
    const { source } = await client.upload(clip);
    await assert.rejects(
      client.submitJob({
        source,
        chunk: { parentId: 'x', role: 'video', index: 0, startS: 0, durationS: 4 },
      }),
      (err: Error & { status?: number }) => err.status === 400,
    );
    // The stitch tag would strand a job no encoder may claim: reserved.
    await assert.rejects(
      client.submitJob({ source, tags: ['vidmesh:stitch'] }),
      (err: Error & { status?: number }) => err.status === 400,
    );
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { JobView } from '../../src/coordinator/schemas.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { mediaDir, packageRoot } from '../../src/paths.js';
import { launchChromium } from '../helpers/player.js';

/**
 * End to end on the embedded default: `startCoordinator` (what `vidmesh serve` runs) on PGlite with one
 * in-process encoder; the real 10 s Big Buck Bunny clip is uploaded and encoded; the master playlist
 * plays in headless Chromium with hls.js from another origin (CORS), and a forced level switch happens.
 * Then a cancel during encode must stop ffmpeg within one heartbeat interval.
 */

const HEARTBEAT_MS = 1000;

/**
 * Runs in the page (plain JS: this project compiles without DOM types). Plays `src` with hls.js until
 * currentTime > 3.5 s, forcing a switch to the other level once playback started; reports fatal errors,
 * LEVEL_SWITCHED levels and the final currentTime.
 */
const PLAYER_SCRIPT = `
async function runPlayer(src) {
  if (!Hls.isSupported()) return { error: 'MSE not supported' };
  const video = document.getElementById('v');
  const hls = new Hls({ capLevelToPlayerSize: false, startLevel: 0 });
  const errors = [];
  const switched = [];
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) errors.push(String(d.details)); });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => switched.push(d.level));
  hls.loadSource(src);
  hls.attachMedia(video);
  await new Promise((resolve) => hls.on(Hls.Events.MANIFEST_PARSED, () => resolve()));
  await video.play();
  const started = Date.now();
  const wait = () => new Promise((r) => setTimeout(r, 100));
  while (video.currentTime < 1 && Date.now() - started < 20000 && errors.length === 0) await wait();
  const target = switched.length && switched[switched.length - 1] === 0 ? 1 : 0;
  hls.currentLevel = target;
  while (video.currentTime < 3.5 && Date.now() - started < 30000 && errors.length === 0) await wait();
  const result = { currentTime: video.currentTime, errors, switched, target, levels: hls.levels.length };
  hls.destroy();
  return result;
}`;
/**
 * media's runner SIGKILLs ffmpeg's process group at once on abort (src/media/process.ts), so cancel
 * latency = the encoder's next progress call (≤ one heartbeat) + scheduling slack on a loaded 2-core box.
 */
const SCHEDULING_SLACK_MS = 1500;

async function waitFor(client: VidmeshClient, id: string, done: (j: JobView) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.getJob(id);
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`timeout waiting for job ${id}: ${job.status}/${job.stage}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Pids of ffmpeg processes whose argv mentions `needle` (the job's work dir). */
function ffmpegPids(needle: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => /\bffmpeg\b/.test(l) && l.includes(needle))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('vidmesh serve (PGlite) + submit, end to end', () => {
  let dir: string;
  let server: RunningCoordinator;
  let client: VidmeshClient;
  let page: Server;
  let pageUrl: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-e2e-'));
    const config = loadConfig({
      env: {},
      flags: { port: 0, dataDir: dir, heartbeatMs: HEARTBEAT_MS, logLevel: 'silent', maintenanceMs: 500 },
    });
    server = await startCoordinator(config);
    client = createClient({ url: server.url, apiKey: server.apiKey });
    const hlsJs = await readFile(join(packageRoot(), 'node_modules', 'hls.js', 'dist', 'hls.min.js'));
    page = createServer((req, res) => {
      if (req.url === '/hls.min.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(hlsJs);
        return;
      }
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(
          `<!doctype html><html><body><video id="v" muted playsinline></video><script src="/hls.min.js"></script><script>${PLAYER_SCRIPT}</script></body></html>`,
        );
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    // `localhost` vs `127.0.0.1`: a different origin from the coordinator, so CORS is exercised.
    pageUrl = `http://localhost:${(page.address() as AddressInfo).port}/`;
  });

  after(async () => {
    await new Promise((r) => page?.close(r));
    await server?.stop({ graceMs: 1000 });
    await rm(dir, { recursive: true, force: true });
  });

  test('upload + submit → completes → master playlist plays in Chromium with hls.js', async () => {
    const { source } = await client.upload(join(mediaDir(), 'big_buck_bunny_10s.mp4'));
    const submitted = await client.submitJob(
      { source, ladder: { speed: 'ultrafast', segmentDuration: 2 }, metadata: { test: 'e2e' } },
      { idempotencyKey: 'e2e-bbb' },
    );
    assert.equal(submitted.status, 'queued');
    const again = await client.submitJob(
      { source, ladder: { speed: 'ultrafast', segmentDuration: 2 }, metadata: { test: 'e2e' } },
      { idempotencyKey: 'e2e-bbb' },
    );
    assert.equal(again.id, submitted.id, 'same Idempotency-Key returns the first job');

    const seen = new Set<string>();
    let job: JobView | undefined;
    for await (const ev of client.followJob(submitted.id)) {
      seen.add(ev.job.status);
      job = ev.job;
      if (ev.type === 'end') break;
    }
    assert.ok(job);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    assert.ok(seen.has('running') || seen.has('leased'), `SSE saw ${[...seen]}`);
    assert.ok(job.result);
    assert.deepEqual(job.result.renditions.map((r) => r.name).sort(), ['480p', '720p']);
    assert.equal(job.result.masterUrl, `${server.url}/media/${job.id}/master.m3u8`);
    assert.equal(job.metadata.test, 'e2e');

    const browser = await launchChromium();
    try {
      const tab = await browser.newPage();
      await tab.goto(pageUrl);
      const outcome = (await tab.evaluate(`runPlayer(${JSON.stringify(job.result.masterUrl)})`)) as
        | { error: string }
        | { currentTime: number; errors: string[]; switched: number[]; target: number; levels: number };
      assert.ok(!('error' in outcome), JSON.stringify(outcome));
      if ('currentTime' in outcome) {
        assert.deepEqual(outcome.errors, []);
        assert.equal(outcome.levels, 2);
        assert.ok(outcome.currentTime > 3, `currentTime ${outcome.currentTime}`);
        assert.ok(
          outcome.switched.includes(outcome.target),
          `switched ${outcome.switched} target ${outcome.target}`,
        );
      }
    } finally {
      await browser.close();
    }
  });

  test('cancel during encode stops ffmpeg within one heartbeat interval', async () => {
    const { source } = await client.upload(join(mediaDir(), 'big_buck_bunny_10s.mp4'));
    // A slow preset keeps ffmpeg busy long enough to cancel it mid-encode.
    const job = await client.submitJob({ source, ladder: { speed: 'slow' } });
    await waitFor(client, job.id, (j) => j.stage === 'encoding', 60_000);
    const deadline = Date.now() + 10_000;
    while (ffmpegPids(job.id).length === 0) {
      assert.ok(Date.now() < deadline, 'ffmpeg of the job never appeared');
      await new Promise((r) => setTimeout(r, 50));
    }
    const t0 = Date.now();
    const cancelled = await client.cancelJob(job.id);
    assert.equal(cancelled.status, 'cancelled');
    while (ffmpegPids(job.id).length > 0) {
      assert.ok(
        Date.now() - t0 < HEARTBEAT_MS + SCHEDULING_SLACK_MS,
        `ffmpeg still running ${Date.now() - t0} ms after cancel`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    const stoppedMs = Date.now() - t0;
    process.stderr.write(`cancel → ffmpeg gone in ${stoppedMs} ms (heartbeat ${HEARTBEAT_MS} ms)\n`);
    assert.ok(stoppedMs <= HEARTBEAT_MS + SCHEDULING_SLACK_MS);
    const history = await client.jobHistory(job.id);
    assert.ok(history.some((e) => e.to === 'cancelled'));
    assert.equal((await client.getJob(job.id)).status, 'cancelled');
  });
});

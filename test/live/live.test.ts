import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { loadConfig } from '../../src/config.js';
import { signInLink } from '../../src/coordinator/app.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { encoderArgs, killChildren, sleep, until } from '../helpers/processes.js';

/**
 * Live streaming end to end (issue 23, docs/live.md): a coordinator on PostgreSQL with its RTMP ingest
 * on a free port, two `vidmesh encoder --tags live` processes, an ffmpeg publisher (testsrc2 + sine,
 * 640x360, 30 s instead of the 60 s to keep the suite's budget) and hls.js in Chromium.
 *
 * One stream carries the whole scenario: a wrong key is refused at publish; the right one publishes;
 * the ladder plays live in hls.js (latency measured from EXT-X-PROGRAM-DATE-TIME, the ingest's clock);
 * the encoder holding the lease is killed with SIGKILL mid-stream and the other one continues the same
 * playlists (EXT-X-DISCONTINUITY, media sequence without a hole) while the player keeps playing; the
 * publisher stops and, after the grace period, the playlists end with EXT-X-ENDLIST and the job completes.
 */

const KEY = 'live-test-admin-key-0123456789abcdef';
const LEASE_MS = 5000;
const STREAM_S = 30;
const here = dirname(fileURLToPath(import.meta.url));
/** An ffmpeg RTMP publisher of testsrc2 + a sine tone, paced in real time (`-re`). */
function publish(
  url: string,
  seconds: number,
): { child: ChildProcess; exit: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=640x360:rate=30',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-t',
      String(seconds),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-g',
      '30',
      '-c:a',
      'aac',
      '-f',
      'flv',
      url,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr })),
  );
  return { child, exit };
}

const PLAYER_HTML = `<!doctype html><html><body><video id="v" muted></video><script>
let hls; const errors = [];
function start(src) {
  const video = document.getElementById('v');
  hls = new Hls({ liveSyncDurationCount: 1, liveMaxLatencyDurationCount: 4 });
  hls.on(Hls.Events.ERROR, (_e, d) => {
    errors.push(d.details + (d.fatal ? ' (fatal)' : ''));
    if (d.fatal) hls.startLoad();
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => void video.play());
  hls.loadSource(src);
  hls.attachMedia(video);
}
function sample() {
  const v = document.getElementById('v');
  const date = hls && hls.playingDate;
  return {
    t: v.currentTime,
    playing: !v.paused && v.readyState >= 3,
    latencyMs: date ? Date.now() - date.getTime() : null,
    playingMs: date ? date.getTime() : null,
    bufferedEnd: v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0,
    errors,
  };
}
</script></body></html>`;

describe('live: RTMP ingest → live HLS ladder on network encoders', { timeout: 180_000 }, () => {
  let tdb: TestDatabase;
  let dir: string;
  let coordinator: RunningCoordinator;
  let browser: Browser | undefined;
  let launching: Promise<Browser> | undefined;
  const encoders = new Map<string, ChildProcess>();
  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${coordinator.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...init.headers },
    });
    // biome-ignore lint/suspicious/noExplicitAny: response JSON, checked by the assertions
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  before(async () => {
    launching = chromium.launch({
      executablePath: process.env.VIDMESH_CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required'],
    });
    launching.catch(() => {});
    tdb = await createTestDatabase({ driver: 'postgres' });
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-live-'));
    const config = loadConfig({
      env: {},
      flags: {
        port: 0,
        dataDir: join(dir, 'coordinator'),
        databaseUrl: tdb.url,
        apiKey: KEY,
        encoders: 0,
        leaseMs: LEASE_MS,
        maintenanceMs: 500,
        heartbeatMs: 1000,
        rescueGraceMs: 0,
        logLevel: 'silent',
        // Port 0: any free port (other test files run beside this one).
        liveRtmpPort: 0,
        liveRtmpHost: '127.0.0.1',
        liveGraceMs: 3000,
      },
    });
    coordinator = await startCoordinator(config);
    for (const name of ['live-a', 'live-b']) {
      const encDir = join(dir, name);
      await mkdir(encDir, { recursive: true });
      const child = spawn(
        process.execPath,
        // Declares live capacity: live jobs require the `live` tag.
        encoderArgs({ coordinator: coordinator.url, name, dataDir: encDir, extra: ['--tags', 'live'] }),
        {
          cwd: here,
          env: {
            ...process.env,
            VIDMESH_API_KEY: KEY,
            VIDMESH_HEARTBEAT_MS: '1000',
            LOG_LEVEL: process.env.VIDMESH_TEST_ENCODER_LOG ?? 'error',
          },
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      encoders.set(name, child);
    }
    await until('2 live encoders registered', 60_000, async () => {
      const { body } = await api('/encoders');
      return (body.encoders as unknown[]).length === 2;
    });
    browser = await launching;
  });

  after(async () => {
    await (browser ?? (await launching?.catch(() => undefined)))?.close();
    await killChildren(encoders.values());
    await coordinator?.stop({ graceMs: 0 });
    await tdb?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('wrong key refused at publish; hls.js plays live; kill -9 of the live encoder fails over to the other with a discontinuity; publisher end closes the playlists and publishes the recording', async (t) => {
    const created = await api('/live', {
      method: 'POST',
      body: JSON.stringify({ renditions: ['360p', '240p'], title: 'test stream', record: true }),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const jobId = created.body.job.id as string;
    const ingestUrl = created.body.ingestUrl as string;
    const master = created.body.playbackUrl as string;
    assert.match(ingestUrl, /^rtmp:\/\/127\.0\.0\.1:\d+\/live\/lk_/);
    assert.equal(created.body.job.queue, 'live');
    // The key is shown once: neither the stream view nor the job carries it.
    const shown = await api(`/live/${jobId}`);
    assert.ok(!JSON.stringify(shown.body).includes(created.body.streamKey));

    // A wrong key is refused before any media is accepted (NetStream.Publish.BadName).
    const wrong = publish(ingestUrl.replace(/lk_[\w-]+$/, `lk_${'x'.repeat(43)}`), 3);
    const refused = await wrong.exit;
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /invalid stream key/);
    assert.equal((await api(`/live/${jobId}`)).body.ingest.state, 'waiting');

    const publisher = publish(ingestUrl, STREAM_S);
    const published = Date.now();
    try {
      const page: Page = await browser!.newPage();
      const hlsJs = await readFile(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'), 'utf8');
      // A page on the coordinator's origin (served by the browser itself): no CORS question. The player
      // as the dashboard configures it, plus `sample()`: playback clock, state and latency from
      // EXT-X-PROGRAM-DATE-TIME (hls.js `playingDate`, the ingest's wall clock of the frame shown).
      await page.route(`${coordinator.url}/player.html`, (route) =>
        route.fulfill({ contentType: 'text/html', body: PLAYER_HTML }),
      );
      await page.goto(`${coordinator.url}/player.html`);
      await page.addScriptTag({ content: hlsJs });
      await page.evaluate(`start(${JSON.stringify(master)})`);
      const sample = () =>
        page.evaluate('sample()') as Promise<{
          t: number;
          playing: boolean;
          latencyMs: number | null;
          playingMs: number | null;
          bufferedEnd: number;
          errors: string[];
        }>;

      // Live playback: the clock advances and the latency (ingest clock → now) is measured.
      const firstPlay = await until('playback started', 30_000, async () => {
        const s = await sample();
        return s.t > 0.5 && s.playing ? s : undefined;
      });
      const startupS = (Date.now() - published) / 1000;
      const latencies: number[] = [];
      for (let i = 0; i < 6; i++) {
        await sleep(1000);
        const s = await sample();
        if (s.latencyMs !== null) latencies.push(s.latencyMs);
      }
      latencies.sort((a, b) => a - b);
      const medianLatencyS = latencies[Math.floor(latencies.length / 2)]! / 1000;
      assert.ok((await sample()).t > firstPlay.t, 'playback advances');
      assert.ok(latencies.length >= 3, 'hls.js reports a playing date (EXT-X-PROGRAM-DATE-TIME)');
      // A generous safety net only; the figure itself is reported (docs/live.md).
      assert.ok(medianLatencyS < 20, `glass-to-glass latency ${medianLatencyS} s`);

      // Ingest health while publishing.
      const health = (await api(`/live/${jobId}`)).body;
      assert.equal(health.ingest.state, 'publishing');
      assert.ok(health.ingest.bitrate > 0);
      assert.equal(health.job.status, 'running');

      // The dashboard's Live page lists the stream with its ingest health and plays it.
      const dash = await browser!.newPage();
      await dash.goto(signInLink(coordinator.app, coordinator.url, KEY));
      // The link's page continues to the dashboard by a meta refresh: wait for it, or it cuts the next goto.
      await dash.waitForURL(`${coordinator.url}/`);
      await dash.goto(`${coordinator.url}/streams`);
      const row = dash.locator(`[data-live-row="${jobId}"]`);
      await row.locator('[data-ingest-state]', { hasText: 'publishing' }).waitFor({ timeout: 15_000 });
      await row.getByRole('button', { name: 'Watch' }).click();
      await dash.locator('[data-live-latency]', { hasText: / s$/ }).waitFor({ timeout: 20_000 });
      await dash.close();

      // kill -9 the encoder holding the lease.
      const holderId = (await coordinator.store.get(jobId)).lease?.encoderId;
      assert.ok(holderId);
      const holder = await coordinator.store.getEncoder(holderId);
      const victim = encoders.get(holder.name)!;
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      // Playback resumes from the other encoder: the player shows a frame of the first segment after the
      // EXT-X-DISCONTINUITY (its program date time is on the ingest clock, like the player's).
      const firstNew = await until('a segment of the new attempt', 40_000, async () => {
        const text = await fetch(`${coordinator.url}/live/${jobId}/360p/index.m3u8`).then((r) => r.text());
        const m = /#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:(\S+)/.exec(text);
        return m ? Date.parse(m[1]!) : undefined;
      });
      await until('playback resumed after the failover', 40_000, async () => {
        const s = await sample();
        return s.playingMs !== null && s.playingMs >= firstNew && s.playing;
      });
      const resumeS = (Date.now() - killedAt) / 1000;
      const after = await coordinator.store.get(jobId);
      assert.notEqual(after.lease?.encoderId ?? after.encoderId, holderId, 'another encoder holds the job');
      const events = await coordinator.store.listEvents(jobId);
      assert.ok(
        events.some((e) => e.reason === 'lease_expired'),
        'the lease was rescued',
      );
      // The goal is 15 s (lease 5 s + maintenance 0.5 s + claim + one 2 s segment), measured 6.8 to 8.2 s
      // on a quiet machine (docs/live.md). The assertion is a safety net twice that: a 2-core machine
      // shared with other test files stalls for seconds, and speed is not what this test checks.
      t.diagnostic(`failover: playback resumed ${resumeS.toFixed(1)} s after the kill`);
      assert.ok(resumeS < 30, `playback resumed ${resumeS} s after the kill (safety net 30 s, goal 15 s)`);

      // The publisher stops: after the grace period the playlists end and the job completes.
      await publisher.exit;
      const done = await until('live job completed', 60_000, async () => {
        const j = await coordinator.store.get(jobId);
        return j.status === 'completed' ? j : undefined;
      });
      // Recorded: the job's result is the VOD, published like a VOD job's output.
      const recording = `${coordinator.url}/media/${jobId}/master.m3u8`;
      assert.equal((done.result as { masterUrl: string }).masterUrl, recording);
      assert.equal((await fetch(recording)).status, 200);
      for (const r of ['360p', '240p']) {
        const vod = await (await fetch(`${coordinator.url}/media/${jobId}/${r}/index.m3u8`)).text();
        assert.match(vod, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
        assert.match(vod, /#EXT-X-ENDLIST\n$/);
        const res = await fetch(`${coordinator.url}/live/${jobId}/${r}/index.m3u8`);
        assert.equal(res.headers.get('cache-control'), 'no-cache');
        const text = await res.text();
        assert.match(text, /#EXT-X-ENDLIST\n$/);
        assert.match(text, /#EXT-X-PLAYLIST-TYPE:EVENT/);
        // One at the kill; a starved 2-core box may cost a lease more (each new lease is marked too).
        assert.ok((text.match(/#EXT-X-DISCONTINUITY\n/g)?.length ?? 0) >= 1, text);
        const seqs = [...text.matchAll(/^(\d+)\.ts$/gm)].map((m) => Number(m[1]));
        assert.deepEqual(
          seqs,
          seqs.map((_, i) => i),
          'media sequence continuous across the failover',
        );
        assert.deepEqual(
          [...vod.matchAll(/^(\d+)\.ts$/gm)].map((m) => Number(m[1])),
          seqs,
          'the recording lists every segment of the stream',
        );
        const seg = await fetch(`${coordinator.url}/live/${jobId}/${r}/0.ts`);
        assert.equal(seg.status, 200);
        assert.equal(seg.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      }
      // The spent key cannot publish again.
      const again = publish(ingestUrl, 2);
      assert.notEqual((await again.exit).code, 0);
      const errors = (await sample()).errors.filter((e) => e.includes('fatal'));
      console.log(
        `# live: startup ${startupS.toFixed(1)} s, glass-to-glass latency median ${medianLatencyS.toFixed(2)} s ` +
          `(${latencies.map((l) => (l / 1000).toFixed(1)).join(', ')}), failover resume ${resumeS.toFixed(1)} s, ` +
          `fatal player errors: ${errors.length}`,
      );
      await page.close();
    } finally {
      publisher.child.kill('SIGKILL');
    }
  });
});

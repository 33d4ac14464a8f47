import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { generateIdentity, type Identity, signRequest } from '../../src/identity/index.js';
import { packageRoot } from '../../src/paths.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { withTestDatabase } from '../helpers/db.js';
import { makeClip } from '../helpers/media.js';
import { HLS_PLAYER_SCRIPT, launchChromium, type PlayOutcome, servePlayerFiles } from '../helpers/player.js';

/**
 * The browser encoder (docs/encoders.md, "Browser encoder") end to end: the built dashboard in Debian's
 * Chromium (headless, software WebCodecs) against `startCoordinator` on PostgreSQL with no in-process
 * encoder and verification on. The tab registers as a did:key encoder of kind `browser`, encodes a
 * 30 s clip submitted with the Submit page's "Encode here" and a 100 s clip submitted over the API,
 * and its results pass the coordinator's verification (playlists, hashes, plan, spot re-encode SSIM);
 * ffprobe reads 480p H.264 fMP4 segments of the right duration and hls.js plays them. A job over
 * 2 minutes, or one needing 720p, is never offered to a `browser` encoder, whatever it declares;
 * closing the tab mid-encode hands the job back at once.
 */

const run = promisify(execFile);

/** Page expressions are strings: the dashboard's CSP refuses eval, and this project has no DOM types. */
async function until<T>(what: string, fn: () => Promise<T | false | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Probed {
  streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number }>;
  format: { duration: string };
}

describe('browser encoder (Chromium WebCodecs, real coordinator, verification on)', () => {
  const tdb = withTestDatabase();
  let root: string;
  let coordinator: RunningCoordinator;
  let client: VidmeshClient;
  let key: string;
  let browser: Browser;
  let launching: Promise<Browser> | undefined;
  const clips: Record<'s30' | 's100' | 's130' | 'mp3', string> = { s30: '', s100: '', s130: '', mp3: '' };
  const uploads: Record<'s30' | 's100' | 's130' | 'mp3', string> = { s30: '', s100: '', s130: '', mp3: '' };
  const speeds: Array<{ seconds: number; speed: number }> = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-browser-enc-'));
    launching = launchChromium();
    launching.catch(() => {});
    // Stream copies of the real 720p film, looped: no CPU spent.
    clips.s30 = await makeClip(join(root, 'bbb-30s.mp4'), { loops: 2, seconds: 30 });
    clips.s100 = await makeClip(join(root, 'bbb-100s.mp4'), { loops: 9, seconds: 100 });
    clips.s130 = await makeClip(join(root, 'bbb-130s.mp4'), { loops: 13, seconds: 130 });
    // 10 s of the film with its audio as MP3: neither AAC (copied) nor Opus.
    clips.mp3 = join(root, 'bbb-mp3.mp4');
    await run('ffmpeg', [
      ...['-v', 'error', '-y', '-i', clips.s30, '-t', '10', '-c:v', 'copy'],
      ...['-c:a', 'libmp3lame', '-b:a', '128k', clips.mp3],
    ]);
    coordinator = await startTestCoordinator(join(root, 'coordinator'), {
      databaseUrl: tdb.current.url,
      heartbeatMs: 1000,
      maintenanceMs: 500,
      // Short leases so that a killed tab's lease expires within the test (progress renews every 3 s).
      leaseMs: 20_000,
      rescueGraceMs: 0,
    });
    key = await createTenantKey(coordinator, 'acme');
    client = createClient({ url: coordinator.url, apiKey: key });
    for (const name of ['s100', 's130', 'mp3'] as const)
      uploads[name] = (await client.upload(clips[name])).upload.id;
    browser = await launching;
  });

  after(async () => {
    await (browser ?? (await launching?.catch(() => undefined)))?.close();
    await coordinator?.stop({ graceMs: 500 });
    if (root) await rm(root, { recursive: true, force: true });
    if (speeds.length) {
      console.log('browser encode speed (480p H.264, this machine):');
      for (const s of speeds) console.log(`  ${s.seconds} s clip: ${s.speed.toFixed(2)}× real time`);
    }
  });

  /** A did:key node's signed JSON call (what a stranger's machine can send). */
  async function signed(id: Identity, path: string, body: unknown): Promise<Response> {
    const text = JSON.stringify(body);
    const target = `/api/v1${path}`;
    const { authorization } = await signRequest(id, { method: 'POST', path: target, body: text });
    return fetch(`${coordinator.url}${target}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: text,
    });
  }

  async function register(id: Identity, kind: 'browser' | 'community'): Promise<string> {
    const res = await signed(id, '/encoders/register', {
      name: `${kind}-probe`,
      kind,
      version: 'test',
      did: id.did,
      // Declares more than a browser may do: the coordinator's kind limits must still apply.
      capabilities: { codecs: ['h264'], hwaccel: [], maxHeight: 2160, concurrency: 1, tags: [] },
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { encoder: { id: string } }).encoder.id;
  }

  async function signIn(page: Page) {
    await page.goto(coordinator.url);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  }

  /** The tab's row of a finished job: ok and speed (× real time). */
  async function finished(page: Page, jobId: string, ms: number): Promise<{ ok: boolean; speed: number }> {
    const row = page.locator(`tr[data-testid="finished-job"][data-job="${jobId}"]`);
    await row.waitFor({ timeout: ms });
    return {
      ok: (await row.getAttribute('data-ok')) === 'true',
      speed: Number(await row.getAttribute('data-speed')),
    };
  }

  /** ffprobe of the published rendition and the master's CODECS; downloads the files for the player. */
  async function checkPublished(
    jobId: string,
    seconds: number,
    into: string,
    audio: 'aac' | 'opus' = 'aac',
  ): Promise<string> {
    const job = await client.getJob(jobId);
    assert.equal(job.status, 'completed');
    const result = job.result as {
      masterUrl: string;
      renditions: Array<{ name: string; codecs?: string; width?: number; height?: number }>;
    };
    assert.deepEqual(
      result.renditions.map((r) => [r.name, r.width, r.height]),
      [['480p', 854, 480]],
    );
    const base = `${coordinator.url}/media/${jobId}`;
    const master = await (await fetch(`${base}/master.m3u8`)).text();
    const codecs = /CODECS="([^"]+)"/.exec(master)?.[1] ?? '';
    // AAC is copied from the source (this Chromium has no AAC encoder), other audio becomes Opus: the
    // master says which (RFC 6381; `Opus`: the sample entry of Opus in ISOBMFF, as DASH-IF writes it).
    assert.match(
      codecs,
      audio === 'aac' ? /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/ : /^avc1\.[0-9a-f]{6},Opus$/,
      master,
    );
    assert.match(master, /RESOLUTION=854x480/);
    const media = await (await fetch(`${base}/480p/index.m3u8`)).text();
    assert.match(media, /#EXT-X-MAP:URI="init\.mp4"/);
    const extinf = [...media.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]));
    assert.equal(extinf.length, Math.ceil(seconds / 4), `4 s segments of ${seconds} s:\n${media}`);
    assert.ok(
      extinf.every((d) => d <= 4.05),
      `a keyframe starts every segment: no segment is longer than 4 s (${extinf})`,
    );
    const probed = JSON.parse(
      (
        await run('ffprobe', [
          '-v',
          'error',
          '-show_entries',
          'stream=codec_type,codec_name,width,height:format=duration',
          '-of',
          'json',
          `${base}/480p/index.m3u8`,
        ])
      ).stdout,
    ) as Probed;
    const video = probed.streams.find((s) => s.codec_type === 'video');
    assert.deepEqual([video?.codec_name, video?.width, video?.height], ['h264', 854, 480]);
    assert.ok(probed.streams.some((s) => s.codec_type === 'audio' && s.codec_name === audio));
    assert.ok(
      Math.abs(Number(probed.format.duration) - seconds) < 0.5,
      `duration ${probed.format.duration} s for a ${seconds} s clip`,
    );
    // The coordinator verified the untrusted result before publishing it.
    const history = await client.jobHistory(jobId);
    assert.ok(
      history.some((e) => e.from === 'verifying' && e.to === 'completed'),
      'verified, then completed',
    );
    const logs = (await client.jobLogs(jobId)).lines.map((l) => l.line).join('\n');
    assert.match(logs, /\[verify\] pass spot re-encode/);
    for (const rel of ['master.m3u8', '480p/index.m3u8', '480p/init.mp4', ...segmentsOf(media)]) {
      const path = join(into, rel);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, Buffer.from(await (await fetch(`${base}/${rel}`)).arrayBuffer()));
    }
    return codecs;
  }

  const segmentsOf = (media: string) =>
    media
      .split('\n')
      .filter((l) => l.endsWith('.m4s'))
      .map((l) => `480p/${l}`);

  async function play(dir: string, untilS: number): Promise<PlayOutcome> {
    const files = await servePlayerFiles(dir, packageRoot());
    const page = await browser.newPage();
    try {
      await page.goto(`${files.url}/`);
      await page.addScriptTag({ content: HLS_PLAYER_SCRIPT });
      return (await page.evaluate(`playHls('/files/master.m3u8', '', ${untilS})`)) as PlayOutcome;
    } finally {
      await page.close();
      await files.close();
    }
  }

  test('a job over 2 minutes or needing more than 480p is never offered to a browser encoder', async () => {
    const long = await client.submitJob({
      source: { type: 'upload', id: uploads.s130 },
      ladder: { only: ['480p'], format: 'fmp4' },
      network: 'community',
    });
    const tall = await client.submitJob({
      source: { type: 'upload', id: uploads.s100 },
      ladder: { only: ['720p'], format: 'fmp4' },
      network: 'community',
    });
    const asBrowser = await register(generateIdentity(), 'browser');
    const claim = await signed(generateIdentity(), '/agent/claim', { encoderId: asBrowser, waitMs: 0 });
    assert.equal(claim.status, 403, 'another DID cannot claim for the browser encoder');
    const browserId = generateIdentity();
    const browserEncoder = await register(browserId, 'browser');
    const none = await signed(browserId, '/agent/claim', { encoderId: browserEncoder, waitMs: 0 });
    assert.equal(
      none.status,
      204,
      `a browser encoder declaring 2160p and no duration limit got: ${await none.text()}`,
    );

    // The same jobs are claimable: a community encoder with the same declaration gets them.
    const nodeId = generateIdentity();
    const node = await register(nodeId, 'community');
    const got: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await signed(nodeId, '/agent/claim', { encoderId: node, waitMs: 0 });
      assert.equal(res.status, 200);
      const h = (await res.json()) as { job: { id: string }; leaseToken: string; plan?: unknown };
      assert.equal(h.plan, undefined, 'only browser encoders get the coordinator plan');
      got.push(h.job.id);
    }
    assert.deepEqual(got.sort(), [long.id, tall.id].sort());
    for (const id of got) await client.cancelJob(id);
  });

  test('the tab encodes a 30 s clip ("Encode here") and a 100 s clip; verified, 480p H.264 fMP4, plays', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    try {
      await signIn(page);
      await page.getByRole('link', { name: 'Submit' }).click();
      await page.getByLabel('Video file').setInputFiles(clips.s30);
      const here = page.getByLabel(/Encode here, in this browser tab/);
      await here.check();
      await page.getByRole('button', { name: 'Submit job' }).click();
      await page.waitForURL(/\/encode\?start=1&job=/);
      const first = new URL(page.url()).searchParams.get('job') ?? '';
      const job = await client.getJob(first);
      assert.equal(job.network ?? 'community', 'community');
      const one = await finished(page, first, 240_000);
      assert.ok(one.ok, `the 30 s job failed in the tab: ${await page.content()}`);
      speeds.push({ seconds: 30, speed: one.speed });

      // The same tab, already encoding, takes a short job from the API (no tag: any browser may).
      const second = await client.submitJob({
        source: { type: 'upload', id: uploads.s100 },
        ladder: { only: ['480p'], format: 'fmp4' },
        network: 'community',
      });
      const two = await finished(page, second.id, 420_000);
      assert.ok(two.ok, 'the 100 s job failed in the tab');
      speeds.push({ seconds: 100, speed: two.speed });
      assert.deepEqual(consoleErrors, []);

      const encoders = await client.listEncoders();
      const tab = encoders.find((e) => e.kind === 'browser' && e.name.startsWith('browser '));
      assert.ok(tab, 'the tab registered as a browser encoder');
      assert.equal(tab.capabilities.maxHeight, 480);
      assert.equal(tab.capabilities.maxDurationS, 120);

      for (const [id, seconds] of [
        [first, 30],
        [second.id, 100],
      ] as const) {
        const dir = join(root, `out-${seconds}`);
        await checkPublished(id, seconds, dir);
        const played = await play(dir, 3);
        assert.deepEqual(played.errors, [], `hls.js errors: ${played.errors}`);
        assert.ok(played.currentTime >= 3, `played ${played.currentTime} s`);
        assert.deepEqual([played.videoWidth, played.videoHeight], [854, 480]);
      }
    } finally {
      await context.close();
    }
  });

  test('a source with MP3 audio is encoded with Opus audio, and the master CODECS says Opus', async () => {
    const job = await client.submitJob({
      source: { type: 'upload', id: uploads.mp3 },
      ladder: { only: ['480p'], format: 'fmp4' },
      network: 'community',
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await signIn(page);
      await page.goto(`${coordinator.url}/encode?start=1`);
      const done = await finished(page, job.id, 240_000);
      assert.ok(done.ok, 'the tab failed the MP3-audio job');
      const dir = join(root, 'out-opus');
      await checkPublished(job.id, 10, dir, 'opus');
      const played = await play(dir, 3);
      assert.deepEqual(played.errors, [], `hls.js errors: ${played.errors}`);
      assert.ok(played.currentTime >= 3, `played ${played.currentTime} s`);
    } finally {
      await context.close();
    }
  });

  test('closing the tab while it encodes hands the job back at once (no attempt counted)', async () => {
    const job = await client.submitJob({
      source: { type: 'upload', id: uploads.s100 },
      ladder: { only: ['480p'], format: 'fmp4' },
      network: 'community',
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page);
    await page.goto(`${coordinator.url}/encode?start=1`);
    await page
      .locator(`[data-testid="encoder-job"][data-job="${job.id}"]`)
      .waitFor({ timeout: 60_000 })
      .catch(async (err) => {
        const j = await client.getJob(job.id);
        throw new Error(`${err}\njob ${j.status}\npage: ${(await page.content()).slice(0, 3000)}`);
      });
    await until(
      'the tab to report encoding',
      async () => (await client.getJob(job.id)).stage === 'encoding',
      60_000,
    );
    const closedAt = Date.now();
    await page.close({ runBeforeUnload: true });
    const back = await until(
      'the job back in the queue',
      async () => {
        const j = await client.getJob(job.id);
        return j.status === 'queued' ? j : undefined;
      },
      15_000,
    );
    assert.ok(Date.now() - closedAt < 20_000, 'released, not rescued after the lease expired');
    const history = await client.jobHistory(job.id);
    assert.ok(
      history.some((e) => e.from === 'running' && e.to === 'queued' && e.reason === 'released'),
      JSON.stringify(history),
    );
    // The release is the one the tab signed in advance for pagehide.
    const { rows } = await coordinator.db.query<{ details: { reason?: string } }>(
      `SELECT details FROM job_events WHERE job_id = $1 AND reason = 'released'`,
      [job.id],
    );
    assert.deepEqual(
      rows.map((r) => r.details.reason),
      ['browser tab closed'],
    );
    assert.equal(back.attempts, 0, "the release gave the claim's attempt back");
    await client.cancelJob(job.id);
    await context.close();
  });

  test('a tab that dies without closing (browser killed) leaves a lease that expires and is rescued', async () => {
    const job = await client.submitJob({
      source: { type: 'upload', id: uploads.s100 },
      ladder: { only: ['480p'], format: 'fmp4' },
      network: 'community',
    });
    // A browser of its own, killed with SIGKILL: no pagehide, no release, like a crash or power loss.
    const server = await chromium.launchServer({
      executablePath: process.env.VIDMESH_CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu'],
    });
    const doomed = await chromium.connect(server.wsEndpoint());
    try {
      const page = await doomed.newPage();
      await signIn(page);
      await page.goto(`${coordinator.url}/encode?start=1`);
      await until(
        'the tab to report encoding',
        async () => (await client.getJob(job.id)).stage === 'encoding',
        60_000,
      );
      server.process().kill('SIGKILL');
      const running = await client.getJob(job.id);
      assert.equal(running.status, 'running', 'nobody released it');
      const back = await until(
        'the sweeper to rescue the expired lease',
        async () => {
          const j = await client.getJob(job.id);
          return j.status === 'queued' ? j : undefined;
        },
        60_000,
      );
      assert.equal(back.attempts, 1, 'a rescue counts the attempt');
      const history = await client.jobHistory(job.id);
      assert.ok(
        history.some((e) => e.from === 'running' && e.to === 'queued' && e.reason === 'lease_expired'),
        JSON.stringify(history),
      );
    } finally {
      await server.close().catch(() => undefined);
      await client.cancelJob(job.id).catch(() => undefined);
    }
  });
});

/**
 * Browser encoder speed (docs/encoders.md, "Browser encoder"): 720p Big Buck Bunny looped to each
 * `--seconds` length, submitted as a 480p fMP4 job and encoded by the dashboard's `/encode` page in
 * headless Chromium (software WebCodecs, mediabunny), against the baseline measured in the same run:
 * the same plan encoded by ffmpeg (src/media `encodeLadder`, libx264 at the plan's preset). Verification
 * is off, so the browser's figure is its own encode (what its page reports: source seconds over wall
 * seconds of decode + encode + mux). Prints × real time and the ratio browser / ffmpeg.
 *
 * Run: `npm run build && node dist/bench/browser-encode.js [--seconds 30,100]`
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { loadConfig } from '../src/config.js';
import { createClient } from '../src/coordinator/client.js';
import { startCoordinator } from '../src/coordinator/serve.js';
import { encodeLadder, planLadder, probe } from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30,100' } } });
const lengths = values.seconds
  .split(',')
  .map(Number)
  .filter((s) => s > 0 && s <= 120);
const run = promisify(execFile);
const LADDER = { only: ['480p'], format: 'fmp4' as const };

const dir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-browser-'));
const coordinator = await startCoordinator(
  loadConfig({
    flags: {
      port: 0,
      host: '127.0.0.1',
      dataDir: join(dir, 'coordinator'),
      encoders: 0,
      logLevel: 'silent',
      verify: 'off',
    },
    env: {},
  }),
);
const browser = await chromium.launch({
  executablePath: process.env.VIDMESH_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu'],
});
const rows: Array<{ seconds: number; browser: number; ffmpeg: number }> = [];
try {
  const client = createClient({ url: coordinator.url, apiKey: coordinator.apiKey });
  const page = await browser.newPage();
  await page.goto(coordinator.url);
  await page.getByLabel('API key').fill(coordinator.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  await page.goto(`${coordinator.url}/encode?start=1`);
  for (const seconds of lengths) {
    const clip = join(dir, `bbb-${seconds}s.mp4`);
    const loops = String(Math.ceil(seconds / 10));
    const src = join(mediaDir(), 'big_buck_bunny_10s.mp4');
    await run('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-stream_loop',
      loops,
      '-i',
      src,
      '-t',
      String(seconds),
      '-c',
      'copy',
      clip,
    ]);

    // Baseline: the coordinator's plan for this source, encoded by ffmpeg.
    const plan = planLadder(await probe(clip), LADDER);
    const t0 = performance.now();
    await encodeLadder(plan, join(dir, `ffmpeg-${seconds}`));
    const ffmpegWallS = (performance.now() - t0) / 1000;

    const upload = (await client.upload(clip)).upload.id;
    const job = await client.submitJob({
      source: { type: 'upload', id: upload },
      ladder: LADDER,
      network: 'community',
    });
    const row = page.locator(`tr[data-testid="finished-job"][data-job="${job.id}"]`);
    await row.waitFor({ timeout: 600_000 });
    if ((await row.getAttribute('data-ok')) !== 'true') throw new Error(`the tab failed job ${job.id}`);
    rows.push({
      seconds,
      browser: Number(await row.getAttribute('data-speed')),
      ffmpeg: plan.durationS / ffmpegWallS,
    });
  }
} finally {
  await browser.close();
  await coordinator.stop({ graceMs: 500 });
  await rm(dir, { recursive: true, force: true });
}
console.log(`480p H.264, 720p source; load ${loadavg()[0]?.toFixed(1)} on this machine`);
console.log('| clip | browser × real time | ffmpeg libx264 × real time | browser / ffmpeg |');
console.log('| ---- | ------------------- | -------------------------- | ---------------- |');
for (const r of rows) {
  console.log(
    `| ${r.seconds} s | ${r.browser.toFixed(2)} | ${r.ffmpeg.toFixed(2)} | ${(r.browser / r.ffmpeg).toFixed(2)} |`,
  );
}

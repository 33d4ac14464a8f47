/**
 * Ladder benchmark: quality per byte of the rate-control modes.
 *
 *   npm run build && node dist/bench/ladder.js [--input file]… [--speed veryfast] [--repeat 1]
 *
 * Inputs: every video of the media folder longer than 5 s (or the `--input` files). Per input and
 * approach: total bytes of the rendition segments, SSIM of each rendition against the source scaled
 * to the rendition (frames paired by index, whole title) and wall time, with ratios against the
 * baseline (a) measured in the same run:
 *   (a) today's fixed ladder: target bitrates (rateControl 'cbr'), one ffmpeg process;
 *   (b) capped CRF chosen per title by the analysis pass (opt-in `rateControl: 'capped-crf'`; wall
 *       includes the pass);
 *   (c) 3Speak's settings: libx264 medium, CRF 19 under the same caps, one ffmpeg per rendition.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildFfmpegArgs,
  encodeLadder,
  type LadderPlan,
  measurePlaylist,
  type PlannedVideoRendition,
  planLadder,
  probe,
  renditionSsim,
  withCrf,
} from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err}`)),
    );
  });
}

interface Measured {
  label: string;
  wallS: number;
  bytes: number;
  ssim: Record<string, number>;
  note: string;
}

type Approach = { label: string; run: (plan: LadderPlan, out: string) => Promise<string> };

const APPROACHES: Approach[] = [
  {
    label: 'a fixed ladder (cbr)',
    run: async (plan, out) => {
      await encodeLadder({ ...plan, rateControl: { mode: 'cbr' }, renditions: noCrf(plan) }, out);
      return '';
    },
  },
  {
    label: 'b capped CRF + analysis (opt-in)',
    run: async (plan, out) => {
      const r = await encodeLadder(plan, out);
      return `crf ${Object.entries(r.analysis?.crf ?? {})
        .map(([n, c]) => `${n}:${c}`)
        .join(' ')} (analysis ${r.analysis?.wallS.toFixed(1)} s)`;
    },
  },
  {
    label: 'c 3Speak (medium, CRF 19, per rendition)',
    run: async (plan, out) => {
      const names = plan.renditions.map((r) => r.name);
      const spk = withCrf({ ...plan, speed: 'medium' }, Object.fromEntries(names.map((n) => [n, 19])));
      for (const name of names) {
        await mkdir(join(out, name), { recursive: true });
        await ffmpeg(buildFfmpegArgs({ ...spk, encode: [name] }, 'libx264', { outDir: out }));
      }
      return '';
    },
  },
];

function noCrf(plan: LadderPlan): LadderPlan['renditions'] {
  return plan.renditions.map((r) => (r.kind === 'video' ? { ...r, crf: undefined } : r));
}

async function benchInput(input: string, speed: LadderPlan['speed'], repeat: number, work: string) {
  const source = await probe(input);
  // Capped CRF planned (b); (a) and (c) override its rate control themselves.
  const plan = planLadder(source, { speed, poster: false, thumbnail: false, rateControl: 'capped-crf' });
  const videos = plan.renditions.filter((r): r is PlannedVideoRendition => r.kind === 'video');
  const results: Measured[] = [];
  for (const [i, a] of APPROACHES.entries()) {
    const out = join(work, `approach-${i}`);
    let wallS = Number.POSITIVE_INFINITY;
    let note = '';
    for (let round = 0; round < repeat; round++) {
      await rm(out, { recursive: true, force: true });
      await mkdir(out, { recursive: true });
      const t0 = performance.now();
      note = await a.run(plan, out);
      wallS = Math.min(wallS, (performance.now() - t0) / 1000);
    }
    let bytes = 0;
    const ssim: Record<string, number> = {};
    for (const r of videos) {
      const playlist = join(out, r.name, 'index.m3u8');
      bytes += (await measurePlaylist(playlist)).bytes;
      ssim[r.name] = await renditionSsim(plan, playlist, r);
    }
    results.push({ label: a.label, wallS, bytes, ssim, note });
    await rm(out, { recursive: true, force: true });
  }
  const base = results[0]!;
  const rows = [
    ['approach', 'wall s', 'MB', 'bytes/a', 'wall/a', ...videos.map((r) => `SSIM ${r.name}`), 'note'],
    ...results.map((m) => [
      m.label,
      m.wallS.toFixed(1),
      (m.bytes / 1e6).toFixed(2),
      (m.bytes / base.bytes).toFixed(3),
      (m.wallS / base.wallS).toFixed(3),
      ...videos.map((r) => {
        const d = (m.ssim[r.name] ?? Number.NaN) - (base.ssim[r.name] ?? Number.NaN);
        return `${(m.ssim[r.name] ?? Number.NaN).toFixed(4)}${m === base ? '' : ` (${d >= 0 ? '+' : ''}${d.toFixed(4)})`}`;
      }),
      m.note,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log(
    `\n${input}: ${source.video!.codec} ${source.video!.displayWidth}x${source.video!.displayHeight} ` +
      `${source.durationS.toFixed(1)} s, preset ${plan.speed}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      input: { type: 'string', multiple: true },
      speed: { type: 'string', default: 'veryfast' },
      repeat: { type: 'string', default: '1' },
    },
  });
  const work = await mkdtemp(join(tmpdir(), 'vidmesh-bench-'));
  try {
    let inputs = values.input ?? [];
    if (inputs.length === 0) {
      const all = readdirSync(mediaDir())
        .filter((f) => /\.(mp4|webm|mkv|mov)$/i.test(f))
        .map((f) => join(mediaDir(), f));
      inputs = [];
      for (const f of all) if ((await probe(f)).durationS > 5.05) inputs.push(f);
    }
    const totals = APPROACHES.map(() => ({ bytes: 0, wallS: 0 }));
    for (const input of inputs) {
      const r = await benchInput(input, values.speed as LadderPlan['speed'], Number(values.repeat), work);
      r.forEach((m, i) => {
        totals[i]!.bytes += m.bytes;
        totals[i]!.wallS += m.wallS;
      });
    }
    console.log('\ntotal over inputs (ratios against a):');
    for (const [i, t] of totals.entries()) {
      const bytes = `${(t.bytes / 1e6).toFixed(2)} MB (${(t.bytes / totals[0]!.bytes).toFixed(3)})`;
      const wall = `${t.wallS.toFixed(1)} s (${(t.wallS / totals[0]!.wallS).toFixed(3)})`;
      console.log(`${APPROACHES[i]!.label.padEnd(42)} bytes ${bytes}  wall ${wall}`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();

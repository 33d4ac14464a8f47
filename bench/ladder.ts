/**
 * Ladder benchmark: one-process vidmesh encode vs one ffmpeg per rendition vs a hand-written command.
 *
 *   npm run build && node dist/bench/ladder.js [--seconds 30] [--speed veryfast] [--input file]
 *
 * Input: a 1080p clip of at least 30 s (video-h265.mp4 from the media folder looped with stream copy
 * into a temp file, unless --input is given). For each approach: wall time, CPU time (user + sys of
 * every child process, from /proc/self/stat cutime/cstime, plus this process), bytes written, and
 * SSIM of each rendition against the source scaled to the same size (first 10 s).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildFfmpegArgs,
  encodeLadder,
  type LadderPlan,
  type PlannedVideoRendition,
  planLadder,
  probe,
} from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds used so far by this process and its reaped children (Linux /proc, proc(5)). */
function cpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command name: field 14 utime, 15 stime, 16 cutime, 17 cstime (1-based, proc(5)).
  const ticks = [11, 12, 13, 14].reduce((a, i) => a + Number(fields[i]), 0);
  return ticks / CLK_TCK;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

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
  cpuS: number;
  bytes: number;
  ssim: Record<string, number>;
}

async function measure(label: string, outDir: string, body: () => Promise<void>): Promise<Measured> {
  await mkdir(outDir, { recursive: true });
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  await body();
  const wallS = (performance.now() - t0) / 1000;
  return { label, wallS, cpuS: cpuSeconds() - cpu0, bytes: dirBytes(outDir), ssim: {} };
}

/** SSIM (All) of `playlist` against the source scaled to the rendition's size, over the first `seconds`. */
function ssim(playlist: string, source: string, r: PlannedVideoRendition, fps: string, seconds = 10): number {
  // Both sides start at 0: MPEG-TS output carries a muxing offset the source does not have.
  const graph =
    `[0:v]setpts=PTS-STARTPTS[d];` +
    `[1:v]fps=${fps},scale=${r.width}:${r.height}:flags=bicubic,setsar=1,format=yuv420p,setpts=PTS-STARTPTS[ref];` +
    `[d][ref]ssim`;
  const res = spawnSync(
    'ffmpeg',
    [
      '-hide_banner',
      '-nostdin',
      '-t',
      String(seconds),
      '-i',
      playlist,
      '-t',
      String(seconds),
      '-i',
      source,
      '-lavfi',
      graph,
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8' },
  );
  const m = /All:([\d.]+)/.exec(res.stderr ?? '');
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * (c) A single ffmpeg command written by hand the way an operator would, with the same encoder
 * settings: one decode, split, three scalers and encoders, one HLS muxer with var_stream_map.
 */
function handWrittenArgs(input: string, out: string, plan: LadderPlan): string[] {
  const [r0, r1, r2] = plan.renditions as PlannedVideoRendition[];
  const v = plan.video!;
  const fps = `${v.frameRate.num}/${v.frameRate.den}`;
  const x264 = (r: PlannedVideoRendition, i: number): string[] => [
    `-c:v:${i}`,
    'libx264',
    `-profile:v:${i}`,
    r.profile,
    `-level:v:${i}`,
    r.level,
    `-b:v:${i}`,
    `${r.videoBitrate / 1000}k`,
    `-maxrate:v:${i}`,
    `${r.maxrate / 1000}k`,
    `-bufsize:v:${i}`,
    `${r.bufsize / 1000}k`,
  ];
  return [
    '-hide_banner',
    '-nostdin',
    '-y',
    '-loglevel',
    'error',
    '-i',
    input,
    '-filter_complex',
    `[0:v]fps=${fps},split=3[a][b][c];[a]scale=${r0!.width}:${r0!.height},setsar=1,format=yuv420p[v0];` +
      `[b]scale=${r1!.width}:${r1!.height},setsar=1,format=yuv420p[v1];[c]scale=${r2!.width}:${r2!.height},setsar=1,format=yuv420p[v2]`,
    '-map',
    '[v0]',
    '-map',
    '[v1]',
    '-map',
    '[v2]',
    '-map',
    '0:a:0',
    '-map',
    '0:a:0',
    '-map',
    '0:a:0',
    '-preset',
    plan.speed,
    '-g',
    String(v.gopFrames),
    '-keyint_min',
    String(v.gopFrames),
    '-sc_threshold',
    '0',
    '-force_key_frames',
    `expr:gte(t,n_forced*${plan.segmentDuration})`,
    ...x264(r0!, 0),
    ...x264(r1!, 1),
    ...x264(r2!, 2),
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-ac',
    '2',
    '-ar',
    '48000',
    '-f',
    'hls',
    '-hls_time',
    String(plan.segmentDuration),
    '-hls_playlist_type',
    'vod',
    '-hls_flags',
    'independent_segments',
    '-master_pl_name',
    'master.m3u8',
    '-var_stream_map',
    'v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:480p',
    '-hls_segment_filename',
    join(out, '%v', 'seg_%05d.ts'),
    join(out, '%v', 'index.m3u8'),
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '30' },
      speed: { type: 'string', default: 'veryfast' },
      input: { type: 'string' },
      repeat: { type: 'string', default: '1' },
    },
  });
  const work = await mkdtemp(join(tmpdir(), 'vidmesh-bench-'));
  try {
    let input = values.input;
    if (!input) {
      input = join(work, 'input-1080p.mp4');
      const base = join(mediaDir(), 'video-h265.mp4');
      const loops = Math.max(0, Math.ceil(Number(values.seconds) / 10) - 1);
      execFileSync('ffmpeg', ['-v', 'error', '-stream_loop', String(loops), '-i', base, '-c', 'copy', input]);
    }
    const source = await probe(input);
    const plan = planLadder(source, { speed: values.speed as LadderPlan['speed'] });
    const videos = plan.renditions.filter((r): r is PlannedVideoRendition => r.kind === 'video');
    if (videos.length !== 3)
      throw new Error(`bench needs a 1080p source (got ${videos.map((r) => r.name).join(',')})`);
    const fps = `${plan.video!.frameRate.num}/${plan.video!.frameRate.den}`;
    process.stderr.write(
      `input ${source.video!.codec} ${source.video!.displayWidth}x${source.video!.displayHeight} ` +
        `${source.durationS.toFixed(1)} s, preset ${plan.speed}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`,
    );

    // Rounds alternate the approaches; the best (minimum) wall and CPU of each is kept, which is the
    // least disturbed by other load on a shared machine.
    const aDir = join(work, 'a');
    const bDir = join(work, 'b');
    const cDir = join(work, 'c');
    let encodeOnlyS = Number.POSITIVE_INFINITY;
    const best = new Map<string, Measured>();
    const keep = (m: Measured): void => {
      const prev = best.get(m.label);
      best.set(
        m.label,
        prev ? { ...m, wallS: Math.min(prev.wallS, m.wallS), cpuS: Math.min(prev.cpuS, m.cpuS) } : m,
      );
    };
    for (let round = 0; round < Number(values.repeat); round++) {
      for (const d of [aDir, bDir, cDir]) await rm(d, { recursive: true, force: true });
      keep(
        await measure('a vidmesh encode (1 process)', aDir, async () => {
          const r = await encodeLadder(plan, aDir);
          encodeOnlyS = Math.min(encodeOnlyS, r.encodeWallS);
        }),
      );
      keep(
        await measure('c hand-written single command', cDir, () =>
          ffmpeg(handWrittenArgs(input, cDir, plan)),
        ),
      );
      keep(
        await measure('b one ffmpeg per rendition', bDir, async () => {
          for (const r of videos) {
            await mkdir(join(bDir, r.name), { recursive: true });
            await ffmpeg(buildFfmpegArgs({ ...plan, encode: [r.name] }, 'libx264', { outDir: bDir }));
          }
        }),
      );
      process.stderr.write(`round ${round + 1} done\n`);
    }
    const results = [
      'a vidmesh encode (1 process)',
      'b one ffmpeg per rendition',
      'c hand-written single command',
    ].map((l) => best.get(l)!);

    for (const [m, dir] of [
      [results[0]!, aDir],
      [results[1]!, bDir],
      [results[2]!, cDir],
    ] as const) {
      for (const r of videos) m.ssim[r.name] = ssim(join(dir, r.name, 'index.m3u8'), input, r, fps);
    }

    const [a, b, c] = results as [Measured, Measured, Measured];
    const rows = [
      ['approach', 'wall s', 'cpu s', 'MB', ...videos.map((r) => `SSIM ${r.name}`)],
      ...results.map((m) => [
        m.label,
        m.wallS.toFixed(1),
        m.cpuS.toFixed(1),
        (m.bytes / 1e6).toFixed(1),
        ...videos.map((r) => (m.ssim[r.name] ?? Number.NaN).toFixed(4)),
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
    console.log('');
    console.log(`a ffmpeg ladder wall (without poster/measuring): ${encodeOnlyS.toFixed(1)} s`);
    console.log(
      `wall a/c = ${(a.wallS / c.wallS).toFixed(3)} (target ≤ 1.05)   cpu a/c = ${(a.cpuS / c.cpuS).toFixed(3)}`,
    );
    console.log(
      `wall b/a = ${(b.wallS / a.wallS).toFixed(3)} (target ≥ 1.15)   cpu b/a = ${(b.cpuS / a.cpuS).toFixed(3)}`,
    );
    console.log(`encode-only a/c = ${(encodeOnlyS / c.wallS).toFixed(3)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();

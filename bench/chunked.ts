// Chunked encoding benchmark (issue #22, docs/chunking.md). All figures are measured in one run:
//
// (a) unchunked: the whole ladder encoded by one encoder pinned to CPU 0 (`taskset -c 0`);
// (b) chunked: the same source split into chunk tasks (default 60 s = 15 × 4 s segments) plus the
//     audio task, pulled from one queue by two encoders pinned to CPU 0 and CPU 1, then stitched.
//     Each task runs in its own process (as a claim would), pinned like its encoder. Run twice:
//     (b0) without pre-roll and (b1) with the default pre-roll (PREROLL_SEGMENTS; --preroll N).
// Printed: wall time (speed-up a/b), CPU seconds (overhead b/a − 1), bytes and SSIM per rendition
// (b vs a, SSIM against the source scaled to the rendition, every frame), and at the seams
// (the first segment of each chunk: bitrate and SSIM of b vs the same segment of a).
// (c) a simulated fleet: the job store (PGlite) with N fake chunk workers of the speed measured in
//     (b) encoding a 1-hour job, time scaled; makespan and speed-up for N = 1…64, with the parts that
//     do not shrink with N (audio task, stitch, source range download) shown.
//
// Source: real footage from VIDMESH_MEDIA_DIR (see makeSource), looped to --seconds.
// Pinning: under `taskset -c N` x264 sees one CPU (sched_getaffinity) and picks threads=1 (no lookahead
// thread), ffmpeg one decoder thread: each encoder is one core, one thread.
// Run: npm run build && node dist/bench/chunked.js [--seconds 120] [--size 1920x1080] [--chunk 60]
//      [--segment 4] [--speed veryfast] [--preroll 1] [--fleet true] [--keep]
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { createChunkTasks, STITCH_TAG } from '../src/jobs/chunks.js';
import { createDatabase, createJobStore } from '../src/jobs/index.js';
import {
  DEFAULT_CHUNKING,
  encodeAudioTrack,
  encodeLadder,
  encodeVideoChunk,
  type LadderPlan,
  PREROLL_SEGMENTS,
  planChunks,
  planLadder,
  probe,
  stitchLadder,
} from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    size: { type: 'string', default: '1920x1080' },
    chunk: { type: 'string', default: '60' },
    segment: { type: 'string', default: '4' },
    speed: { type: 'string', default: 'veryfast' },
    preroll: { type: 'string', default: String(PREROLL_SEGMENTS) },
    fleet: { type: 'string', default: 'true' },
    keep: { type: 'boolean', default: false },
    // Worker mode (one task in a pinned process): --worker whole|audio|chunk --input --out [--index]
    worker: { type: 'string' },
    input: { type: 'string' },
    out: { type: 'string' },
    index: { type: 'string' },
  },
});
const SEGMENT = Number(values.segment);
const CHUNK = Number(values.chunk);
const chunksOf = (durationS: number, prerollSegments: number) =>
  planChunks(durationS, SEGMENT, { seconds: CHUNK }, { ...DEFAULT_CHUNKING, prerollSegments })!.chunks;

function ladderOf(input: string): Promise<LadderPlan> {
  return probe(input).then((info) =>
    planLadder(info, { segmentDuration: SEGMENT, speed: values.speed as 'veryfast', poster: true }),
  );
}

/** CPU seconds of this process's waited-for children (ffmpeg), from /proc/self/stat (cutime + cstime). */
function childCpuS(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 3; cutime and cstime are fields 16 and 17.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function worker(): Promise<void> {
  const plan = await ladderOf(values.input!);
  const t0 = performance.now();
  if (values.worker === 'whole') await encodeLadder(plan, values.out!);
  else if (values.worker === 'audio') await encodeAudioTrack(plan, values.out!);
  else {
    const chunks = chunksOf(plan.durationS, Number(values.preroll));
    await encodeVideoChunk(plan, chunks[Number(values.index)]!, values.out!);
  }
  process.stdout.write(`${JSON.stringify({ wallS: (performance.now() - t0) / 1000, cpuS: childCpuS() })}\n`);
}

const self = fileURLToPath(import.meta.url);
async function pinned(cpu: number, args: string[]): Promise<{ wallS: number; cpuS: number }> {
  const child = spawn('taskset', ['-c', String(cpu), process.execPath, self, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`worker ${args.join(' ')} exited ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    n += e.isDirectory() ? await dirBytes(join(dir, e.name)) : (await stat(join(dir, e.name))).size;
  }
  return n;
}

/**
 * Per-frame SSIM (All) of `rendition` vs the source scaled to it, every `step`-th frame (the first
 * `limitS` seconds when given). Frames are paired by index, the source's from `shift` on: a source
 * with irregular timestamps (a looped copy has a gap at each loop point) puts a chunk's first frame a
 * few ms from the unchunked encode's, and the ssim filter, pairing by time, would then compare it
 * with a neighbouring source frame. `shift` is the ladder's own offset to the source (see bestShift).
 */
async function ssimFrames(
  rendition: string,
  source: string,
  o: { w: number; h: number; fps: number; shift: number; step: number; limitS?: number },
): Promise<number[]> {
  const stats = `${rendition}.ssim.log`;
  const byIndex = `setpts=N/(${o.fps}*TB),framestep=${o.step}`;
  const graph =
    `[0:v]${byIndex}[a];[1:v]trim=start_frame=${o.shift},${byIndex},` +
    `scale=${o.w}:${o.h}:flags=bicubic[b];[a][b]ssim=stats_file=${stats}`;
  const limit = o.limitS ? ['-t', String(o.limitS)] : [];
  await run('ffmpeg', [
    ...['-hide_banner', '-nostats', '-loglevel', 'error', ...limit, '-i', rendition, ...limit, '-i', source],
    ...['-lavfi', graph, '-f', 'null', '-'],
  ]);
  return readFileSync(stats, 'utf8')
    .split('\n')
    .map((l) => /All:([\d.]+)/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number);
}

/** The source frame (0, 1 or 2) the rendition's first frame shows: best SSIM over the first 2 s. */
async function bestShift(rendition: string, source: string, o: { w: number; h: number; fps: number }) {
  let best = { shift: 0, ssim: -1 };
  for (const shift of [0, 1, 2]) {
    const ssim = mean(await ssimFrames(rendition, source, { ...o, shift, step: 1, limitS: 2 }));
    if (ssim > best.ssim) best = { shift, ssim };
  }
  return best.shift;
}

/**
 * Writes the bench source: real footage from the shared media folder (`VIDMESH_MEDIA_DIR`): the
 * 1080p25 animation, the 1080p30 HEVC clip and Big Buck Bunny (720p, scaled up) one after the other,
 * as 1080p30 H.264 (x264 veryfast CRF 20, its default 250-frame GOP, so a chunk's seek decodes from
 * an earlier keyframe as with a real upload) + AAC stereo, looped to `seconds`.
 */
async function makeSource(out: string, seconds: number): Promise<void> {
  const [w, h] = values.size.split('x');
  const clips = ['video.mp4', 'video-h265.mp4', 'big_buck_bunny_10s.mp4'];
  const norm = clips.map(
    (_, i) =>
      `[${i}:v]scale=${w}:${h}:force_original_aspect_ratio=decrease,pad=${w}:${h}:-1:-1,fps=30,setsar=1[v${i}];` +
      `[${i}:a]aresample=48000,aformat=channel_layouts=stereo[a${i}]`,
  );
  const graph = `${norm.join(';')};${clips.map((_, i) => `[v${i}][a${i}]`).join('')}concat=n=${clips.length}:v=1:a=1[v][a]`;
  const mix = `${out}.mix.mp4`;
  await run('ffmpeg', [
    ...['-v', 'error', '-y', ...clips.flatMap((c) => ['-i', join(mediaDir(), c)])],
    ...['-filter_complex', graph, '-map', '[v]', '-map', '[a]'],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-c:a', 'aac', '-b:a', '192k', mix],
  ]);
  await run('ffmpeg', [
    ...['-v', 'error', '-y', '-stream_loop', '-1', '-i', mix, '-t', String(seconds)],
    ...['-c', 'copy', '-movflags', '+faststart', out],
  ]);
  await rm(mix);
  const info = await probe(out);
  console.log(
    `source: ${clips.join(' + ')} from ${mediaDir()}, ${info.video?.width}x${info.video?.height} 30 fps, ` +
      `${info.durationS.toFixed(1)} s, ${((info.bitRate ?? 0) / 1e6).toFixed(1)} Mbit/s`,
  );
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const f = (x: number, d = 2) => x.toFixed(d);

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log();
}

/**
 * The fleet simulation: the job store (PGlite) holds a 1-hour parent's chunk tasks and N fake workers
 * claim and complete them for real, in the order of a virtual clock (discrete events: the worker that
 * is free first claims next), each task taking the time measured in (b) for its length plus the
 * store's measured claim+complete round trip. Returns the makespan in seconds and that round trip.
 */
async function simulateFleet(
  n: number,
  m: { chunkS: number; durationS: number; encodeSPerS: number; audioSPerS: number; fetchSPerS: number },
): Promise<{ makespanS: number; cycleMs: number }> {
  const db = await createDatabase({});
  const store = createJobStore(db, { leaseMs: 600_000 });
  try {
    const parent = await store.submit({
      spec: { bench: true },
      renditions: ['ladder'],
      requirements: { tags: [STITCH_TAG] },
    });
    const plan = planChunks(m.durationS, SEGMENT, { seconds: m.chunkS })!;
    await createChunkTasks(db, parent.id, [
      { chunkIndex: -1, spec: { role: 'audio' }, durationS: m.durationS, renditions: ['audio'] },
      ...plan.chunks.map((c) => ({
        chunkIndex: c.index,
        spec: { role: 'video' },
        durationS: c.durationS,
        renditions: ['ladder'],
      })),
    ]);
    const caps = { codecs: [], hwaccel: [], maxHeight: 4320, tags: [], concurrency: 1 };
    const clocks = Array.from({ length: n }, () => 0);
    const held: Array<{ id: string; token: string } | undefined> = [];
    const done = new Set<number>();
    let cycles = 0;
    let cycleMs = 0;
    while (done.size < n) {
      // The free-first worker: finish its task, claim the next.
      let w = -1;
      for (let i = 0; i < n; i++) if (!done.has(i) && (w < 0 || clocks[i]! < clocks[w]!)) w = i;
      const t0 = performance.now();
      const h = held[w];
      if (h) await store.complete(h.id, h.token, `sim-${w}`, { result: null });
      const c = await store.claim({ id: `sim-${w}`, kind: 'infrastructure' }, caps);
      const ms = performance.now() - t0;
      cycles++;
      cycleMs += ms;
      if (!c) {
        held[w] = undefined;
        done.add(w);
        continue;
      }
      if (c.job.id === parent.id) throw new Error('the parent was claimed');
      held[w] = { id: c.job.id, token: c.leaseToken };
      const d = c.job.requirements.durationS ?? 0;
      const work = c.job.chunkIndex === -1 ? d * m.audioSPerS : d * (m.encodeSPerS + m.fetchSPerS);
      clocks[w] = clocks[w]! + ms / 1000 + work;
    }
    return { makespanS: Math.max(...clocks), cycleMs: cycleMs / cycles };
  } finally {
    await store.close();
    await db.close();
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-chunked-'));
  try {
    const src = join(dir, 'src.mp4');
    const seconds = Number(values.seconds);
    console.log(
      `load average at start: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} (shared machine)`,
    );
    await makeSource(src, seconds);
    const plan = await ladderOf(src);
    const chunks = planChunks(plan.durationS, SEGMENT, { seconds: CHUNK })!.chunks;
    console.log(
      `ladder: ${plan.encode.join(', ')} (${values.speed}); ${chunks.length} chunks of ${CHUNK} s + audio\n`,
    );

    // (a) one encoder, one core.
    const wholeDir = join(dir, 'whole');
    const a = await pinned(0, ['--worker', 'whole', '--input', src, '--out', wholeDir, ...passThrough()]);

    // (b) two encoders, one core each, one shared queue (audio first: it spans the whole duration),
    // (b0) without pre-roll, (b1) with it, each stitched.
    const chunked = async (tag: string, prerollSegments: number) => {
      const chunks = chunksOf(plan.durationS, prerollSegments);
      const queue = [{ kind: 'audio', index: -1 }, ...chunks.map((c) => ({ kind: 'chunk', index: c.index }))];
      const tasks: Array<{ index: number; cpu: number; wallS: number; cpuS: number }> = [];
      const t0 = performance.now();
      await Promise.all(
        [0, 1].map(async (cpu) => {
          for (let t = queue.shift(); t; t = queue.shift()) {
            const out = join(dir, tag, t.kind === 'audio' ? 'audio' : `chunk${t.index}`);
            const r = await pinned(cpu, [
              ...['--worker', t.kind, '--input', src, '--out', out, `--index=${t.index}`],
              ...passThrough(),
              `--preroll=${prerollSegments}`,
            ]);
            tasks.push({ index: t.index, cpu, ...r });
          }
        }),
      );
      const encodeWallS = (performance.now() - t0) / 1000;
      const cpuBefore = process.cpuUsage();
      const childBefore = childCpuS();
      const tStitch = performance.now();
      const stitchedDir = join(dir, tag, 'stitched');
      await mkdir(stitchedDir, { recursive: true });
      const stitched = await stitchLadder(
        plan,
        {
          chunkDirs: chunks.map((c) => join(dir, tag, `chunk${c.index}`)),
          audioDir: join(dir, tag, 'audio'),
        },
        stitchedDir,
      );
      const stitchWallS = (performance.now() - tStitch) / 1000;
      const used = process.cpuUsage(cpuBefore);
      const stitchCpuS = (used.user + used.system) / 1e6 + childCpuS() - childBefore;
      const wallS = encodeWallS + stitchWallS;
      const cpuS = tasks.reduce((x, t) => x + t.cpuS, 0) + stitchCpuS;
      const audioTask = tasks.find((t) => t.index === -1)!;
      const coreCpuS = (cpu: number) => tasks.filter((t) => t.cpu === cpu).reduce((x, t) => x + t.cpuS, 0);
      const busiestCoreS = Math.max(coreCpuS(0), coreCpuS(1)) + stitchCpuS;
      return {
        tag,
        chunks,
        tasks,
        stitched,
        stitchedDir,
        stitchWallS,
        stitchCpuS,
        wallS,
        cpuS,
        audioTask,
        busiestCoreS,
      };
    };
    const runs = [await chunked('b0', 0), await chunked('b1', Number(values.preroll))];
    const [b0, b1] = runs as [(typeof runs)[0], (typeof runs)[0]];
    console.log(
      `(a) unchunked, 1 encoder on 1 core vs (b) chunked, 2 encoders on 1 core each: ` +
        `(b0) no pre-roll, (b1) pre-roll ${values.preroll} segment(s)`,
    );
    const measures: string[][] = [
      ['measure', '(a)', ...runs.flatMap((b) => [`(${b.tag})`, 'ratio']), 'goal'],
    ];
    measures.push([
      'wall s',
      f(a.wallS, 1),
      ...runs.flatMap((b) => [
        `${f(b.wallS, 1)} (stitch ${f(b.stitchWallS, 1)})`,
        `${f(a.wallS / b.wallS)}x speed-up`,
      ]),
      '>= 1.7x',
    ]);
    measures.push([
      'CPU s',
      f(a.cpuS, 1),
      ...runs.flatMap((b) => [
        `${f(b.cpuS, 1)} (audio ${f(b.audioTask.cpuS, 1)}, stitch ${f(b.stitchCpuS, 1)})`,
        `${f((b.cpuS / a.cpuS - 1) * 100, 1)} % overhead`,
      ]),
      '<= 10 %',
    ]);
    // On a shared machine the encoders do not get whole cores: the share each got, and the speed-up
    // their CPU seconds give when each has its core to itself (the busier core's CPU + the stitch).
    measures.push([
      'core share',
      `${f((a.cpuS / a.wallS) * 100, 0)} %`,
      ...runs.flatMap((b) => [`${f((b.cpuS / b.wallS / 2) * 100, 0)} % (of 2)`, '']),
      '',
    ]);
    measures.push([
      'CPU-bound wall s',
      f(a.cpuS, 1),
      ...runs.flatMap((b) => [f(b.busiestCoreS, 1), `${f(a.cpuS / b.busiestCoreS)}x speed-up`]),
      '>= 1.7x',
    ]);
    table(measures);

    const rows = [
      [
        'rendition',
        'run',
        'frames a',
        'frames b − a',
        'bytes a',
        'bytes b/a',
        'SSIM a',
        'SSIM b − a',
        'seam kbit/s a',
        'seam kbit/s b/a',
        'seam SSIM a',
        'seam SSIM b − a',
      ],
    ];
    const fps = plan.video!.frameRate.num / plan.video!.frameRate.den;
    // Seams: the first segment of every chunk after the first (frames of [start, start + segment)).
    // A tail chunk shorter than a segment is merged into the previous segment by the muxer.
    const seams = b0.chunks.slice(1).filter((c) => c.durationS >= SEGMENT);
    const seamFrames = (xs: number[]) =>
      seams.flatMap((c) => xs.filter((_, i) => i / fps >= c.startS && i / fps < c.startS + SEGMENT));
    for (const r of b0.stitched.renditions) {
      const pa = join(wholeDir, r.playlist);
      const ba = await dirBytes(join(wholeDir, r.name));
      const geometry = { w: r.width!, h: r.height!, fps };
      const shift = await bestShift(pa, src, geometry);
      const sa = await ssimFrames(pa, src, { ...geometry, shift, step: 1 });
      const segBytes = async (d: string, c: (typeof seams)[number]) =>
        (await stat(join(d, r.name, `seg_${String(c.firstSegment).padStart(5, '0')}.ts`))).size;
      let seamA = 0;
      for (const c of seams) seamA += await segBytes(wholeDir, c);
      const seamSeconds = seams.length * SEGMENT;
      for (const b of runs) {
        const pb = join(b.stitchedDir, r.playlist);
        const bb = await dirBytes(join(b.stitchedDir, r.name));
        const sb = await ssimFrames(pb, src, { ...geometry, shift, step: 1 });
        let seamB = 0;
        for (const c of seams) seamB += await segBytes(b.stitchedDir, c);
        rows.push([
          r.name,
          b.tag,
          String(await frameCount(pa)),
          String((await frameCount(pb)) - (await frameCount(pa))),
          String(ba),
          f(bb / ba, 4),
          f(mean(sa), 4),
          f(mean(sb) - mean(sa), 4),
          f((seamA * 8) / seamSeconds / 1000, 0),
          f(seamB / seamA, 3),
          f(mean(seamFrames(sa)), 4),
          f(mean(seamFrames(sb)) - mean(seamFrames(sa)), 4),
        ]);
      }
    }
    console.log(
      'bytes and SSIM (vs the source scaled to the rendition; goal: bytes within 2 %, SSIM within 0.002)',
    );
    table(rows);
    if (values.fleet !== 'true') return;
    const { tasks, audioTask, stitchCpuS } = b1;

    // (c) the fleet: speeds from (b), one hour of the same ladder.
    // Speeds from CPU seconds (each simulated worker has a core of its own; wall times on this shared
    // machine depend on what else runs), the baseline likewise from (a)'s CPU seconds.
    const videoTasks = tasks.filter((t) => t.index >= 0);
    const encodeSPerS = videoTasks.reduce((s, t) => s + t.cpuS, 0) / plan.durationS;
    const audioSPerS = audioTask.cpuS / plan.durationS;
    const stitchSPerS = stitchCpuS / plan.durationS;
    // Source range download at 100 Mbit/s for the chunk's share of the (here ~4 Mbit/s 1080p) source.
    const srcBytes = (await stat(src)).size;
    const fetchSPerS = (srcBytes * 8) / plan.durationS / 100e6;
    const hour = 3600;
    const m = { chunkS: CHUNK, durationS: hour, encodeSPerS, audioSPerS, fetchSPerS };
    console.log(
      `(c) simulated fleet, 1 h source, speeds from CPU seconds: encode ${f(encodeSPerS)} s/s per worker, audio ${f(audioSPerS, 3)} s/s, ` +
        `stitch ${f(stitchSPerS, 3)} s/s, source fetch ${f(fetchSPerS, 4)} s/s (100 Mbit/s), job store on PGlite`,
    );
    // One encoder doing the whole hour unchunked, at the CPU speed measured in (a).
    const single = (hour * a.cpuS) / plan.durationS;
    const fleet = [
      ['N', 'makespan s', 'stitch s', 'total s', 'speed-up vs 1 unchunked', 'efficiency', 'store ms/task'],
    ];
    const stitchS = hour * stitchSPerS;
    for (const n of [1, 2, 4, 8, 16, 24, 32, 48, 64]) {
      const sim = await simulateFleet(n, m);
      const total = sim.makespanS + stitchS;
      fleet.push([
        String(n),
        f(sim.makespanS, 0),
        f(stitchS, 0),
        f(total, 0),
        `${f(single / total)}x`,
        `${f((single / total / n) * 100, 0)} %`,
        f(sim.cycleMs, 1),
      ]);
    }
    table(fleet);
    console.log(
      `floor: the longest task (one ${CHUNK} s chunk, ${f(CHUNK * (encodeSPerS + fetchSPerS), 0)} s; ` +
        `the audio task, ${f(hour * audioSPerS, 0)} s) plus the stitch (${f(stitchS, 0)} s): ` +
        `at most ${f(single / (Math.max(CHUNK * (encodeSPerS + fetchSPerS), hour * audioSPerS) + stitchS), 1)}x for any N`,
    );
    console.log(
      `load average at end: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    if (values.keep) console.log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

/** Video frames (packets) of a playlist or file. */
async function frameCount(path: string): Promise<number> {
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-select_streams', 'v:0', '-count_packets'],
    ...['-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', path],
  ]);
  // An HLS input lists the stream twice (under its program and on its own): the first line.
  return Number(stdout.trim().split('\n')[0]);
}

function passThrough(): string[] {
  return ['--segment', String(SEGMENT), '--chunk', String(CHUNK), '--speed', String(values.speed)];
}

if (values.worker) await worker();
else await main();

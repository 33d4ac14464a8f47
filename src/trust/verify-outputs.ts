import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import {
  buildOutputsArgs,
  type LadderOptionsInput,
  type NamedOutput,
  type OutputsPlan,
  type PlannedFileOutput,
  type ProbeResult,
  planLadder,
  planOutputs,
  posterTime,
  runProcess,
  TONEMAP_FILTERS,
} from '../media/index.js';
import { hashFile, isMediaFile, listFiles, safeJoin } from '../storage/index.js';
import {
  benchCpu,
  pickSegments,
  ssimOf,
  type VerificationCheck,
  type VerificationReport,
  verifyStagedLadder,
} from './verify.js';

/**
 * Verification of the staged outputs of a job with `outputs[]` (docs/verification.md, "Jobs with
 * outputs"), done by the coordinator before it publishes what an untrusted encoder uploaded. The staged
 * folder holds one sub-folder per output (`<name>/…`). In order of cost, stopping at the first failing
 * stage:
 * 1. `files`: every staged file is a media file inside the folder of an output reported completed, and
 *    every such output staged something;
 * 2. `hashes`: every staged file's SHA-256 equals the completion report's (`result.files`), and every
 *    declared file was staged;
 * 3. `plan`: hls/dash outputs as a ladder (`verifyStagedLadder` without spots: playlists, codec, size,
 *    frame rate, duration, packets); mp4/webm/audio files by `ffprobe -count_packets` against the job's
 *    own plan for this source (`planOutputs`): container, codecs, exact frame size, frame rate within
 *    1 %, duration within 0.5 s (or 2 %), at least 90 % of the expected video packets, audio present as
 *    planned, channels; thumbnails/poster: the planned number of images, each of the planned size;
 * 4. `spot re-encode`: hls/dash as the ladder spot check; mp4/webm: K random spans of 2 s, each encoded
 *    by the verifier from the source with the output's own plan (`buildOutputsArgs`: the same filters,
 *    codec and rate control) and compared with the staged file's same span by SSIM; thumbnails/poster:
 *    K images (the poster) compared with the source's frame at their time through the same scaling.
 *    Audio outputs get no spot check (their plan check is all).
 */

export interface VerifyOutputsOptions {
  /** `staging/<jobId>`: one folder per output. */
  dir: string;
  /** The outputs the encoder reported `completed` (those to verify and publish), as the planner takes them. */
  outputs: NamedOutput[];
  /** The job's own `ladder`: the default of hls/dash outputs. */
  defaultLadder: LadderOptionsInput;
  /** The probed source (`path` = the source file on the coordinator). */
  source: ProbeResult;
  /** Files the encoder declared at completion: `<output>/<path>` → SHA-256 (hex). Absent: the hashes check fails. */
  declared?: ReadonlyMap<string, string>;
  /** Spans (segments, images) spot-checked per output (default 2; 0 skips the spot check). */
  spotSegments?: number;
  /** Lowest SSIM (0..1) a spot may have against the verifier's own encode (default 0.95). */
  minSsim?: number;
  random?: () => number;
  signal?: AbortSignal;
}

/** Seconds of each spot-checked span of an mp4/webm output. */
const SPOT_SPAN_S = 2;

const EXPECTED_CODEC: Record<string, string> = { h264: 'h264', hevc: 'hevc', av1: 'av1', vp9: 'vp9' };
const IMAGE_CODEC: Record<string, string> = { jpg: 'mjpeg', png: 'png', webp: 'webp' };
const AUDIO_CODEC: Record<string, string> = { m4a: 'aac', mp3: 'mp3', opus: 'opus' };
/** ffprobe's `format_name` must contain this for the container asked. */
const CONTAINER: Record<string, string> = { mp4: 'mp4', webm: 'webm', m4a: 'mp4', mp3: 'mp3', opus: 'ogg' };

interface Probed {
  format: string;
  durationS: number;
  video?: { codec: string; width: number; height: number; fps: number; packets: number };
  audio?: { codec: string; channels: number };
}

async function probeFile(path: string, signal?: AbortSignal): Promise<Probed | string> {
  const out = await runProcess(
    'ffprobe',
    ['-v', 'error', '-count_packets', '-show_streams', '-show_format', '-of', 'json', '-i', path],
    { captureStdout: true, ...(signal ? { signal } : {}), stallTimeoutMs: 120_000 },
  );
  if (out.code !== 0) return `ffprobe failed: ${out.stderr.trim().split('\n').slice(-2).join(' ')}`;
  const json = JSON.parse(out.stdout.toString('utf8') || '{}') as {
    streams?: Array<Record<string, unknown>>;
    format?: Record<string, unknown>;
  };
  const streams = json.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video');
  const a = streams.find((s) => s.codec_type === 'audio');
  const [num, den] = String(v?.avg_frame_rate ?? '0/1')
    .split('/')
    .map(Number);
  return {
    format: String(json.format?.format_name ?? ''),
    durationS: Number(json.format?.duration ?? 0),
    ...(v
      ? {
          video: {
            codec: String(v.codec_name),
            width: Number(v.width),
            height: Number(v.height),
            fps: den ? (num ?? 0) / den : 0,
            packets: Number(v.nb_read_packets ?? 0),
          },
        }
      : {}),
    ...(a ? { audio: { codec: String(a.codec_name), channels: Number(a.channels) } } : {}),
  };
}

/** Image files of a thumbnails output (`thumb_0001.jpg`, …), in order. */
const thumbsOf = (files: string[], ext: string) =>
  files.filter((f) => new RegExp(`^thumb_\\d{4,}\\.${ext}$`).test(f)).sort();

/** The time (s) of the source frame a thumbnail or poster image shows (its 0-based index). */
function imageTime(o: NamedOutput['options'], index: number, source: ProbeResult): number {
  if (o.kind === 'poster') return posterTime(o.timeS, source.durationS);
  if (o.kind !== 'thumbnails') return 0;
  if (o.times) {
    const uniq = [...new Set(o.times.map((t) => Math.max(0, t)))]
      .filter((t) => t < source.durationS)
      .sort((a, b) => a - b);
    return uniq[index] ?? 0;
  }
  // `fps=1/N:round=down` emits, for each interval, its last frame: image k (0-based) is the frame just
  // before (k + 1) × N s, or the source's last frame (an input seek lands on the frame at or after).
  const frame = 1 / (source.video?.fps || 25);
  return Math.max(0, Math.min((index + 1) * (o.intervalS ?? 10), source.durationS) - 1.5 * frame);
}

/** Images a thumbnails output must have for this source: `[min, max]`. */
function expectedImages(o: NamedOutput['options'], source: ProbeResult): [number, number] {
  if (o.kind !== 'thumbnails') return [1, 1];
  if (o.times) {
    const n = new Set(o.times.map((t) => Math.max(0, t)).filter((t) => t < source.durationS)).size;
    return [n, n];
  }
  // `fps=1/N:round=down`: one image per started interval; the last one may fall either way.
  const n = Math.floor(source.durationS / (o.intervalS ?? 10));
  return [Math.max(1, n), n + 1];
}

/** What is wrong with a staged file output against its plan, or nothing. */
async function checkFileOutput(
  v: VerifyOptionsWithPlan,
  out: NamedOutput,
  f: PlannedFileOutput,
  files: string[],
): Promise<string[]> {
  const o = out.options;
  const dir = safeJoin(v.dir, out.name);
  const problems: string[] = [];
  if (f.kind === 'thumbnails' || f.kind === 'poster') {
    const ext = 'format' in o ? String(o.format) : 'jpg';
    const images = f.kind === 'poster' ? files.filter((x) => x === f.file) : thumbsOf(files, ext);
    const [min, max] = expectedImages(o, v.source);
    if (images.length < min || images.length > max)
      return [`${images.length} images, planned ${min === max ? min : `${min}..${max}`}`];
    for (const img of images) {
      const p = await probeFile(join(dir, img), v.signal);
      if (typeof p === 'string') return [`${img}: ${p}`];
      const [w, h] = f.size ?? [0, 0];
      if (!p.video || p.video.width !== w || p.video.height !== h)
        problems.push(`${img}: size ${p.video?.width}x${p.video?.height}, planned ${w}x${h}`);
      else if (p.video.codec !== IMAGE_CODEC[ext])
        problems.push(`${img}: codec ${p.video.codec}, planned ${IMAGE_CODEC[ext]}`);
      if (problems.length) break;
    }
    return problems;
  }
  if (!files.includes(f.file)) return [`${f.file} was not staged (${files.slice(0, 3).join(', ')})`];
  const p = await probeFile(join(dir, f.file), v.signal);
  if (typeof p === 'string') return [p];
  const container = o.kind === 'audio' ? CONTAINER[o.format] : CONTAINER[o.kind];
  if (!container || !p.format.split(',').includes(container))
    problems.push(`container ${p.format}, planned ${container}`);
  const want = v.source.durationS;
  if (Math.abs(p.durationS - want) > Math.max(0.5, want * 0.02))
    problems.push(`duration ${p.durationS.toFixed(2)} s, planned ${want.toFixed(2)} s`);
  if (o.kind === 'audio') {
    if (!p.audio || p.audio.codec !== AUDIO_CODEC[o.format])
      problems.push(`audio codec ${p.audio?.codec ?? 'none'}, planned ${AUDIO_CODEC[o.format]}`);
    else if (p.audio.channels !== o.channels)
      problems.push(`${p.audio.channels} channels, planned ${o.channels}`);
    return problems;
  }
  if (o.kind !== 'mp4' && o.kind !== 'webm') return problems;
  const [w, h] = f.size ?? [0, 0];
  const fps = o.fps ?? v.source.video?.fps ?? 0;
  if (!p.video) return [...problems, 'no video stream'];
  if (p.video.width !== w || p.video.height !== h)
    problems.push(`size ${p.video.width}x${p.video.height}, planned ${w}x${h}`);
  if (p.video.codec !== EXPECTED_CODEC[o.videoCodec])
    problems.push(`codec ${p.video.codec}, planned ${EXPECTED_CODEC[o.videoCodec]}`);
  if (fps > 0 && Math.abs(p.video.fps - fps) > fps * 0.01)
    problems.push(`frame rate ${p.video.fps.toFixed(3)}, planned ${fps.toFixed(3)}`);
  if (fps > 0 && p.video.packets < want * fps * 0.9)
    problems.push(`${p.video.packets} video packets for ${(want * fps).toFixed(0)} frames`);
  if (f.mapAudio !== (p.audio !== undefined))
    problems.push(f.mapAudio ? 'no audio stream' : 'an audio stream that was not planned');
  return problems;
}

type VerifyOptionsWithPlan = VerifyOutputsOptions & { plan: OutputsPlan };

/** Spot checks of one file output; pushes its spots and returns the low ones and CPU seconds. */
async function spotFileOutput(
  v: VerifyOptionsWithPlan,
  out: NamedOutput,
  f: PlannedFileOutput,
  files: string[],
  work: string,
  spots: VerificationReport['spots'],
): Promise<{ low: string[]; cpuS: number }> {
  const k = v.spotSegments ?? 2;
  const minSsim = v.minSsim ?? 0.95;
  const random = v.random ?? Math.random;
  const dir = safeJoin(v.dir, out.name);
  const [w, h] = f.size ?? [0, 0];
  const low: string[] = [];
  let cpuS = 0;
  if (f.kind === 'mp4' || f.kind === 'webm') {
    const span = Math.min(SPOT_SPAN_S, v.source.durationS);
    const windows = Math.max(1, Math.floor(v.source.durationS / span));
    for (const i of pickSegments(windows, k, random)) {
      const start = i * span;
      const refDir = join(work, `${out.name}-${i}`);
      await mkdir(join(refDir, out.name), { recursive: true });
      // The output's own plan alone, video only, over [start, start + span) of the source.
      const plan: OutputsPlan = { ...v.plan, files: [{ ...f, mapAudio: false }] };
      const args = buildOutputsArgs(plan, refDir)!;
      args.splice(args.indexOf('-progress'), 2);
      args.splice(args.indexOf('-loglevel') + 1, 1, 'info');
      args.splice(args.indexOf('-i'), 0, '-ss', start.toFixed(3), '-t', span.toFixed(3));
      args.unshift('-benchmark');
      const enc = await runProcess('ffmpeg', args, {
        ...(v.signal ? { signal: v.signal } : {}),
        stallTimeoutMs: 120_000,
      });
      if (enc.code !== 0)
        throw new Error(`reference encode failed: ${enc.stderr.trim().split('\n').slice(-2).join(' ')}`);
      cpuS += benchCpu(enc.stderr);
      const m = await ssimOf(join(dir, f.file), join(refDir, out.name, f.file), w, h, v.signal, [
        '-ss',
        start.toFixed(3),
        '-t',
        span.toFixed(3),
      ]);
      cpuS += m.cpuS;
      const segment = `${f.file}@${start.toFixed(1)}s`;
      spots.push({ rendition: out.name, segment, ssim: m.ssim });
      if (m.ssim < minSsim) low.push(`${out.name}/${segment} SSIM ${m.ssim.toFixed(4)}`);
    }
    return { low, cpuS };
  }
  if (f.kind !== 'thumbnails' && f.kind !== 'poster') return { low, cpuS };
  const o = out.options;
  const ext = 'format' in o ? String(o.format) : 'jpg';
  const images = f.kind === 'poster' ? [f.file] : thumbsOf(files, ext);
  // The plan's chain after its frame pick (thumbnails: select/fps; poster: trim + setpts), before format.
  const geometry = f.filters.slice(f.kind === 'poster' ? 2 : 1, -1);
  for (const i of pickSegments(images.length, k, random)) {
    const img = images[i]!;
    const ref = join(work, `${out.name}-${i}.png`);
    const t = imageTime(o, i, v.source);
    // An HDR source is tone-mapped once before the split, as the shared decode does.
    const vf = [...(v.plan.toneMap ? TONEMAP_FILTERS : []), ...geometry, 'format=rgb24'].join(',');
    const enc = await runProcess(
      'ffmpeg',
      [
        ...['-hide_banner', '-nostdin', '-benchmark', '-y', '-ss', t.toFixed(3), '-i', v.source.path],
        ...['-map', `0:${v.plan.videoStream}`, '-vf', vf, '-frames:v', '1', '-f', 'image2', ref],
      ],
      { ...(v.signal ? { signal: v.signal } : {}), stallTimeoutMs: 120_000 },
    );
    if (enc.code !== 0)
      throw new Error(`reference frame failed: ${enc.stderr.trim().split('\n').slice(-2).join(' ')}`);
    cpuS += benchCpu(enc.stderr);
    const m = await ssimOf(join(dir, img), ref, w, h, v.signal);
    cpuS += m.cpuS;
    spots.push({ rendition: out.name, segment: img, ssim: m.ssim });
    if (m.ssim < minSsim) low.push(`${out.name}/${img} SSIM ${m.ssim.toFixed(4)}`);
  }
  return { low, cpuS };
}

/**
 * Verifies the staged outputs of a job with `outputs[]` against the job's plan and source (see the
 * module comment). Never throws for a bad upload: the report says what failed (its checks are one per
 * stage, naming the output). Throws only when the verifier itself cannot run (ffmpeg missing, aborted).
 */
export async function verifyStagedOutputs(v: VerifyOutputsOptions): Promise<VerificationReport> {
  const started = Date.now();
  const checks: VerificationCheck[] = [];
  const spots: VerificationReport['spots'] = [];
  let cpuS = 0;
  const done = (): VerificationReport => ({
    ok: checks.length > 0 && checks.every((c) => c.ok),
    checks,
    spots,
    cpuS: Math.round(cpuS * 1000) / 1000,
    wallS: (Date.now() - started) / 1000,
  });
  const check = (name: string, problems: string[], passed: string) => {
    checks.push(
      problems.length
        ? { name, ok: false, detail: problems.slice(0, 5).join('; ') }
        : { name, ok: true, detail: passed },
    );
    return problems.length === 0;
  };

  // 1. files: what was staged, per output.
  const staged = await stat(v.dir).then(
    async () => (await listFiles(v.dir)).filter((f) => !f.endsWith('.part')),
    () => [] as string[],
  );
  const names = new Set(v.outputs.map((o) => o.name));
  const perOutput = new Map<string, string[]>(v.outputs.map((o) => [o.name, []]));
  const problems: string[] = [];
  for (const f of staged) {
    const [top, ...rest] = f.split('/');
    if (!top || rest.length === 0 || !names.has(top)) problems.push(`${f} belongs to no completed output`);
    else if (!isMediaFile(f)) problems.push(`${f} is not a media file`);
    else perOutput.get(top)!.push(posix.join(...rest));
  }
  for (const [name, files] of perOutput)
    if (files.length === 0) problems.push(`output ${name} staged nothing`);
  if (!check('files', problems, `${staged.length} files in ${names.size} outputs`)) return done();

  // 2. hashes: the report binds the bytes.
  const bad: string[] = [];
  if (!v.declared) bad.push('the completion report declares no files');
  else {
    for (const f of staged) {
      const want = v.declared.get(f);
      if (want === undefined) bad.push(`${f} (not declared)`);
      else if ((await hashFile(safeJoin(v.dir, f))).sha256 !== want) bad.push(`${f} (hash differs)`);
    }
    const stagedSet = new Set(staged);
    for (const f of v.declared.keys())
      if (names.has(f.split('/')[0] ?? '') && !stagedSet.has(f)) bad.push(`${f} (declared, not staged)`);
  }
  if (
    !check(
      'hashes',
      bad.length ? [`uploaded files differ from the completion report: ${bad.slice(0, 5).join(', ')}`] : [],
      `${staged.length} files match the declared SHA-256`,
    )
  )
    return done();

  // 3. plan: every output as the job's plan for this source says.
  const plan = planOutputs(v.source, v.outputs, v.defaultLadder);
  const withPlan: VerifyOptionsWithPlan = { ...v, plan };
  const planProblems: string[] = [];
  for (const i of plan.impossible) planProblems.push(`${i.name}: reported completed, but ${i.reason}`);
  for (const l of plan.ladders) {
    const r = await verifyStagedLadder({
      dir: safeJoin(v.dir, l.name),
      master: 'master.m3u8',
      plan: planLadder(v.source, l.ladder),
      source: v.source,
      spotSegments: 0,
      ...(v.signal ? { signal: v.signal } : {}),
    });
    cpuS += r.cpuS;
    for (const c of r.checks) if (!c.ok) planProblems.push(`${l.name}: ${c.name}: ${c.detail}`);
  }
  for (const f of plan.files) {
    const out = v.outputs.find((o) => o.name === f.name)!;
    for (const p of await checkFileOutput(withPlan, out, f, perOutput.get(f.name) ?? []))
      planProblems.push(`${f.name}: ${p}`);
  }
  if (
    !check(
      'plan',
      planProblems,
      `${v.outputs.length} outputs with the planned container, codecs, size, frame rate and duration`,
    )
  )
    return done();

  // 4. spot re-encode: the verifier's own encode of a few spans / frames against the staged ones.
  const k = v.spotSegments ?? 2;
  const minSsim = v.minSsim ?? 0.95;
  if (k <= 0) return done();
  const low: string[] = [];
  for (const l of plan.ladders) {
    const r = await verifyStagedLadder({
      dir: safeJoin(v.dir, l.name),
      master: 'master.m3u8',
      plan: planLadder(v.source, l.ladder),
      source: v.source,
      spotSegments: k,
      minSsim,
      ...(v.random ? { random: v.random } : {}),
      ...(v.signal ? { signal: v.signal } : {}),
    });
    cpuS += r.cpuS;
    for (const s of r.spots) spots.push({ ...s, rendition: `${l.name}/${s.rendition}` });
    for (const c of r.checks) if (!c.ok) low.push(`${l.name}: ${c.detail}`);
  }
  const work = await mkdtemp(join(tmpdir(), 'vidmesh-verify-outputs-'));
  try {
    for (const f of plan.files) {
      const out = v.outputs.find((o) => o.name === f.name)!;
      const r = await spotFileOutput(withPlan, out, f, perOutput.get(f.name) ?? [], work, spots);
      cpuS += r.cpuS;
      low.push(...r.low);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const lowest = spots.length ? Math.min(...spots.map((s) => s.ssim)).toFixed(4) : '-';
  check(
    'spot re-encode',
    low.length ? [`below SSIM ${minSsim} against the verifier's encode: ${low.join(', ')}`] : [],
    `${spots.length} spans/images at SSIM ≥ ${minSsim} (lowest ${lowest})`,
  );
  return done();
}

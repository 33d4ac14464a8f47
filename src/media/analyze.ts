import { join } from 'node:path';
import type { Logger } from '../log.js';
import { CancelledError } from './errors.js';
import { sourceFilters } from './ffmpeg-args.js';
import { LOCAL_ONLY, localUrl } from './input.js';
import type { LadderPlan, PlannedVideoRendition } from './ladder.js';
import { runProcess, summarizeStderr } from './process.js';

/**
 * Per-title CRF analysis (capped-crf rate control): a few sampled seconds of the source are encoded
 * at {@link PROBE_CRFS} for every rendition, each compared with SSIM (Wang et al. 2004, ffmpeg's
 * `ssim` filter) against the source scaled to the rendition, and the CRF meeting the plan's target
 * SSIM is interpolated in the SSIM-dB domain (−10·log10(1 − SSIM)), which is close to linear in CRF.
 */

/**
 * The CRF each rendition is sampled at. One probe keeps the pass near a tenth of the encode; the
 * slope to the target comes from {@link ASSUMED_DB_PER_CRF}. Passing two CRFs to the builders
 * measures the slope instead (twice the cost).
 */
export const PROBE_CRFS = [23] as const;
/** SSIM-dB lost per CRF step when only one point is measured (0.43–0.59 measured on the media set). */
export const ASSUMED_DB_PER_CRF = 0.5;
/** Bounds of the chosen CRF. */
export const CRF_RANGE = { min: 14, max: 32 } as const;

/** A sampled stretch of the source, s. */
export interface AnalysisWindow {
  startS: number;
  lengthS: number;
}

/**
 * Where to sample (pure): about 6 % of the duration in total, at least 0.5 s and at most 6 s, in up
 * to 3 windows of ≥ 0.5 s centred at evenly spaced points (skipping the first and last 10 %), so the
 * pass costs about a tenth of the ladder encode.
 */
export function analysisWindows(durationS: number): AnalysisWindow[] {
  const total = Math.min(6, Math.max(0.5, durationS * 0.06), durationS);
  const count = Math.max(1, Math.min(3, Math.floor(total / 0.5)));
  const lengthS = total / count;
  return Array.from({ length: count }, (_, i) => {
    const centre = durationS * (0.1 + (0.8 * (i + 0.5)) / count);
    const startS = Math.max(0, Math.min(durationS - lengthS, centre - lengthS / 2));
    return { startS: Math.round(startS * 1000) / 1000, lengthS: Math.round(lengthS * 1000) / 1000 };
  });
}

/** Input options reading each window of the source (fast input seeking), then their concatenation. */
function windowInputs(plan: LadderPlan, windows: AnalysisWindow[], first: number): [string[], string] {
  const args = windows.flatMap((w) => [
    ...['-ss', w.startS.toFixed(3), '-t', w.lengthS.toFixed(3), ...LOCAL_ONLY, '-i', localUrl(plan.input)],
  ]);
  const v = plan.video!.streamIndex;
  const refs = windows.map((_, i) => `[${first + i}:${v}]`).join('');
  const concat = windows.length > 1 ? `${refs}concat=n=${windows.length}:v=1:a=0,` : refs;
  return [args, concat];
}

/** Frames renumbered by index (Matroska rounds timestamps to 1 ms: pairing by time would shift). */
function byIndex(plan: LadderPlan): string {
  const { num, den } = plan.video!.frameRate;
  return `settb=1/${num},setpts=N*${den}`;
}

/** The software scaler of the ladder (square pixels, 8-bit 4:2:0), for samples and references. */
function scaleTo(r: Pick<PlannedVideoRendition, 'width' | 'height'>): string {
  return `scale=${r.width}:${r.height}:flags=bicubic,setsar=1,format=yuv420p`;
}

/** File name of one sample encode. */
export function sampleName(rendition: string, crf: number): string {
  return `${rendition}-crf${crf}.mkv`;
}

/**
 * argv encoding the sampled windows once per rendition × CRF in one ffmpeg process (pure): decode
 * once, split, scale, libx264 at the plan's preset, profile, GOP and VBV caps, video only, Matroska;
 * plus one lossless reference per rendition ({@link referenceName}).
 */
export function buildSampleEncodeArgs(
  plan: LadderPlan,
  windows: AnalysisWindow[],
  outDir: string,
  crfs: readonly number[] = PROBE_CRFS,
): string[] {
  const renditions = videoRenditions(plan);
  const [inputs, head] = windowInputs(plan, windows, 0);
  const n = renditions.length * (crfs.length + 1);
  const outs = Array.from({ length: n }, (_, i) => `[s${i}]`).join('');
  const graph = [`${head}${[...sourceFilters(plan), `split=${n}`].join(',')}${outs}`];
  const args = ['-hide_banner', '-nostdin', '-y', '-loglevel', 'error', ...inputs];
  let i = 0;
  const outputs: string[] = [];
  for (const r of renditions) {
    for (const crf of crfs) {
      graph.push(`[s${i}]${scaleTo(r)}[e${i}]`);
      outputs.push(
        ...['-map', `[e${i}]`, '-an', '-c:v', 'libx264', '-preset', plan.speed],
        ...['-profile:v', r.profile, ...(r.level ? ['-level:v', r.level] : []), '-crf', String(crf)],
        ...['-maxrate', `${Math.round(r.maxrate / 1000)}k`, '-bufsize', `${Math.round(r.bufsize / 1000)}k`],
        ...['-g', String(plan.video!.gopFrames), '-sc_threshold', '0'],
        join(outDir, sampleName(r.name, crf)),
      );
      i++;
    }
    // The reference of this rendition, losslessly (x264 -qp 0): the SSIM pass then decodes these
    // small files instead of seeking and decoding the source a second time (a source with sparse
    // keyframes costs seconds per window).
    graph.push(`[s${i}]${scaleTo(r)}[e${i}]`);
    outputs.push(
      ...['-map', `[e${i}]`, '-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0'],
      join(outDir, referenceName(r.name)),
    );
    i++;
  }
  return [...args, '-filter_complex', graph.join(';'), ...outputs];
}

/** File name of the lossless reference of one rendition's samples. */
export function referenceName(rendition: string): string {
  return `${rendition}-reference.mkv`;
}

/** Filter instance name of one SSIM measurement (it prefixes ffmpeg's log line). */
function ssimId(rendition: string, crf: number): string {
  return `ssim@${rendition.replace(/-/g, '_')}_crf${crf}`;
}

/**
 * argv measuring the SSIM of every sample encode against its rendition's lossless reference in one
 * ffmpeg process (pure): each named `ssim` filter compares one sample, frames paired by index.
 * ffmpeg prints `[ssim@<id> …] SSIM Y:… All:<mean> (dB)` per filter at the end.
 */
export function buildSampleSsimArgs(
  plan: LadderPlan,
  sampleDir: string,
  crfs: readonly number[] = PROBE_CRFS,
): string[] {
  const renditions = videoRenditions(plan);
  const samples = renditions.flatMap((r) => crfs.map((c) => ({ r, c })));
  const graph: string[] = [];
  renditions.forEach((_, i) => {
    const outs = crfs.map((_, k) => `[r${i}c${k}]`).join('');
    graph.push(`[${samples.length + i}:v]${byIndex(plan)},split=${crfs.length}${outs}`);
  });
  samples.forEach(({ r, c }, n) => {
    const i = renditions.indexOf(r);
    const k = crfs.indexOf(c);
    graph.push(`[${n}:v]${byIndex(plan)}[d${n}];[d${n}][r${i}c${k}]${ssimId(r.name, c)}=shortest=1`);
  });
  return [
    ...['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'],
    ...samples.flatMap(({ r, c }) => ['-i', join(sampleDir, sampleName(r.name, c))]),
    ...renditions.flatMap((r) => ['-i', join(sampleDir, referenceName(r.name))]),
    ...['-filter_complex', graph.join(';'), '-f', 'null', '-'],
  ];
}

/** Mean SSIM (All) per filter id from ffmpeg's stderr. */
export function parseSsimLog(stderr: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of stderr.matchAll(/\[(ssim@[\w]+) @ [^\]]*\] SSIM .*?All:([\d.]+)/g))
    out.set(m[1]!, Number(m[2]));
  return out;
}

/** SSIM to decibels: −10·log10(1 − SSIM) (capped at 60 dB for a perfect match). */
export function ssimDb(ssim: number): number {
  return ssim >= 1 ? 60 : -10 * Math.log10(1 - ssim);
}

/**
 * The CRF meeting `targetSsim` from measured points (pure): linear in SSIM-dB through the two nearest
 * points, rounded to 0.5 and clamped to {@link CRF_RANGE}. With one usable point, or points where a
 * higher CRF did not lower SSIM (noise on static content), a slope of 0.5 dB per CRF step is assumed.
 */
export function pickCrf(points: Array<{ crf: number; ssim: number }>, targetSsim: number): number {
  const usable = points.filter((p) => Number.isFinite(p.ssim) && p.ssim > 0).sort((a, b) => a.crf - b.crf);
  const target = ssimDb(targetSsim);
  let crf: number;
  if (usable.length === 0) return clampCrf(23);
  const a = usable[0]!;
  const b = usable.at(-1)!;
  const slope = usable.length > 1 ? (ssimDb(a.ssim) - ssimDb(b.ssim)) / (b.crf - a.crf) : 0;
  if (slope > 0.05) {
    crf = a.crf + (ssimDb(a.ssim) - target) / slope;
  } else {
    const near = Math.abs(ssimDb(a.ssim) - target) < Math.abs(ssimDb(b.ssim) - target) ? a : b;
    crf = near.crf + (ssimDb(near.ssim) - target) / ASSUMED_DB_PER_CRF;
  }
  return clampCrf(crf);
}

function clampCrf(crf: number): number {
  return Math.min(CRF_RANGE.max, Math.max(CRF_RANGE.min, Math.round(crf * 2) / 2));
}

function videoRenditions(plan: LadderPlan): PlannedVideoRendition[] {
  return plan.renditions.filter(
    // The samples are x264 encodes: other codecs follow their H.264 twin's CRF (withCrf).
    (r): r is PlannedVideoRendition =>
      r.kind === 'video' && r.codec === 'h264' && plan.encode.includes(r.name),
  );
}

/** What the analysis pass measured and chose. */
export interface CrfAnalysis {
  /** Chosen CRF per rendition name. */
  crf: Record<string, number>;
  /** Measured SSIM per rendition at each probe CRF. */
  points: Record<string, Array<{ crf: number; ssim: number }>>;
  windows: AnalysisWindow[];
  wallS: number;
}

/**
 * Runs the analysis pass of a capped-crf plan in `workDir`: one ffmpeg encoding every sample, then
 * one SSIM measurement per sample. Best-effort: on failure (undecodable window, seek error) it logs
 * and returns undefined, and the ladder is encoded with the planned CRF.
 * @throws CancelledError when `signal` aborts
 */
export async function analyzeCrf(
  plan: LadderPlan,
  workDir: string,
  options: { signal?: AbortSignal; stallTimeoutMs?: number; log?: Logger } = {},
): Promise<CrfAnalysis | undefined> {
  if (plan.kind !== 'video' || plan.rateControl.mode !== 'capped-crf') return undefined;
  const { signal, stallTimeoutMs, log } = options;
  const target = plan.rateControl.targetSsim;
  const started = performance.now();
  const windows = analysisWindows(plan.durationS);
  try {
    const enc = await runProcess('ffmpeg', buildSampleEncodeArgs(plan, windows, workDir), {
      signal,
      stallTimeoutMs,
    });
    if (enc.code !== 0) throw new Error(`sample encode failed: ${summarizeStderr(enc.stderr)}`);
    const out = await runProcess('ffmpeg', buildSampleSsimArgs(plan, workDir), {
      signal,
      stallTimeoutMs,
    });
    const measured = parseSsimLog(out.stderr);
    const crf: Record<string, number> = {};
    const points: CrfAnalysis['points'] = {};
    for (const r of videoRenditions(plan)) {
      points[r.name] = PROBE_CRFS.map((c) => ({
        crf: c,
        ssim: measured.get(ssimId(r.name, c)) ?? Number.NaN,
      }));
      if (out.code !== 0 || points[r.name]!.some((p) => Number.isNaN(p.ssim)))
        throw new Error(`SSIM of ${r.name} failed: ${summarizeStderr(out.stderr)}`);
      crf[r.name] = pickCrf(points[r.name]!, target);
    }
    const wallS = (performance.now() - started) / 1000;
    log?.info({ crf, points, wallS }, 'crf analysis');
    return { crf, points, windows, wallS };
  } catch (err) {
    if (err instanceof CancelledError || signal?.aborted) throw err;
    log?.warn({ reason: err instanceof Error ? err.message : String(err) }, 'crf analysis failed');
    return undefined;
  }
}

/**
 * Mean SSIM (All) of an encoded rendition (its playlist or file) against the source scaled to the
 * rendition's size with the plan's source filters, frames paired by index, over at most `seconds`.
 * Used to check results (tests, bench); NaN when ffmpeg fails.
 */
export async function renditionSsim(
  plan: LadderPlan,
  encoded: string,
  r: Pick<PlannedVideoRendition, 'width' | 'height'>,
  options: { seconds?: number; signal?: AbortSignal } = {},
): Promise<number> {
  const limit = options.seconds === undefined ? [] : ['-t', String(options.seconds)];
  const ref = [...sourceFilters(plan), scaleTo(r), byIndex(plan)];
  const out = await runProcess(
    'ffmpeg',
    [
      ...['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', ...limit, '-i', encoded],
      ...[...limit, ...LOCAL_ONLY, '-i', localUrl(plan.input)],
      ...[
        '-filter_complex',
        `[0:v]${byIndex(plan)}[d];[1:${plan.video!.streamIndex}]${ref.join(',')}[ref];[d][ref]ssim=shortest=1`,
      ],
      ...['-f', 'null', '-'],
    ],
    { signal: options.signal },
  );
  const m = /SSIM .*All:([\d.]+)/.exec(out.stderr);
  return out.code === 0 && m ? Number(m[1]) : Number.NaN;
}

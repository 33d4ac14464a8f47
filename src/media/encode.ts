import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { analyzeCrf, type CrfAnalysis } from './analyze.js';
import type { VideoCodec } from './codecs.js';
import { DASH_MANIFEST, writeMpd } from './dash.js';
import { CancelledError, EncodeError } from './errors.js';
import {
  backendSupports,
  buildFfmpegArgs,
  buildPosterArgs,
  masterName,
  renditionLayout,
  sourceFilters,
} from './ffmpeg-args.js';
import {
  describeRendition,
  fixZeroTargetDuration,
  type RenditionResult,
  writeMasterPlaylist,
} from './hls.js';
import type { HwaccelReport } from './hwaccel.js';
import { type LadderPlan, withCrf } from './ladder.js';
import { runProcess, summarizeStderr } from './process.js';
import { createProgressParser, type EncodeProgress, throttleProgress } from './progress.js';
import { buildStoryboardArgs, writeStoryboardVtt } from './storyboard.js';
import type { Backend } from './types.js';

export interface EncodeOptions {
  signal?: AbortSignal;
  /** Progress events, throttled to one per `progressIntervalMs` (default 1000) plus the final one. */
  onProgress?: (p: EncodeProgress & { backend: Backend }) => void;
  progressIntervalMs?: number;
  /**
   * Backend(s) to try in order: one backend, a list, or a {@link HwaccelReport} (its `order`).
   * Default libx264. When one fails, the next is tried from scratch and the failure is recorded.
   */
  hwaccel?: Backend | Backend[] | HwaccelReport;
  /** Kill ffmpeg when it reports no progress for this long (ms, default 120000). No total timeout. */
  stallTimeoutMs?: number;
  vaapiDevice?: string;
  log?: Logger;
  /**
   * Renditions of the plan produced by an earlier run and published already (re-running some
   * renditions of a ladder): the master playlist and the result list them beside the ones encoded now,
   * so the published master stays complete. Ignored for names encoded now or not in the plan.
   */
  keep?: RenditionResult[];
  /**
   * Per codec, the backends whose test encode passed ({@link detectCodecSupport}'s `backends`): a
   * backend is tried only when it passed for every codec of the plan. Unset: every backend that has
   * the codecs' encoders at all is tried, falling back on failure.
   */
  codecBackends?: Partial<Record<VideoCodec, Backend[]>>;
}

/** A backend that failed during this job and was replaced by the next one. */
export interface BackendFallback {
  backend: Backend;
  code: string;
  reason: string;
}

export interface EncodeResult {
  outDir: string;
  /** Master playlist, relative to `outDir`. */
  master: string;
  /** DASH MPD over the same CMAF segments (`manifest.mpd`), relative to `outDir`, when planned. */
  dash: string | undefined;
  /** Every rendition on disk after this run (encoded now or kept from an earlier run), highest first. */
  renditions: RenditionResult[];
  /** Names encoded by this run. */
  encoded: string[];
  /** Poster and thumbnail JPEGs, relative to `outDir` (undefined for audio-only or when disabled). */
  poster: string | undefined;
  thumbnail: string | undefined;
  /**
   * WebVTT thumbnail track and its sprite sheets, relative to `outDir`, when planned and written
   * (best-effort like the poster: a failure is logged, the ladder still completes).
   */
  storyboard: { vtt: string; sheets: string[] } | undefined;
  backend: Backend;
  fallbacks: BackendFallback[];
  /** Output duration, s. */
  durationS: number;
  /** Wall time of the ffmpeg ladder encode (excluding analysis, poster and measuring), s. */
  encodeWallS: number;
  /** The capped-crf analysis pass (chosen CRF per rendition, measured points, wall time), if it ran. */
  analysis: CrfAnalysis | undefined;
  /** The plan as encoded (with the CRFs chosen by the analysis). */
  plan: LadderPlan;
  /** durationS / encodeWallS: multiples of realtime. */
  speed: number;
}

/**
 * Runs a {@link LadderPlan}: one ffmpeg process encodes every selected rendition into a staging folder
 * inside `outDir`, which is moved into place only when complete; then measures the segments, inspects
 * the produced streams (exact CODECS, true RESOLUTION), writes the master playlist, the poster and the
 * thumbnail (and MP4 copies when planned). The staging folder is removed whatever happens.
 *
 * Output layout (vidmesh): `master.m3u8`, `<rendition>/index.m3u8`, `<rendition>/seg_NNNNN.ts|m4s`
 * (+ `init.mp4` for fMP4), `poster.jpg`, `thumbnail.jpg`, `<rendition>.mp4`. 3speak layout:
 * `manifest.m3u8` and `<rendition>/<rendition>_N.ts`.
 *
 * @throws CancelledError when `signal` aborts (ffmpeg's process group is killed first);
 *   EncodeStalledError when ffmpeg is silent for `stallTimeoutMs`; EncodeError when every backend fails.
 */
export async function encodeLadder(
  planned: LadderPlan,
  outDir: string,
  options: EncodeOptions = {},
): Promise<EncodeResult> {
  let plan = planned;
  const { signal, log } = options;
  // A backend that lacks one of the plan's codecs (VP9 on NVENC, AV1 on VAAPI) is skipped, not tried.
  const codecs = plan.renditions.flatMap((r) =>
    r.kind === 'video' && plan.encode.includes(r.name) ? [r.codec] : [],
  );
  const order = backendOrder(options.hwaccel).filter(
    (b) =>
      backendSupports(b, codecs) &&
      (b === 'libx264' || codecs.every((c) => options.codecBackends?.[c]?.includes(b) ?? true)),
  );
  const stallTimeoutMs = options.stallTimeoutMs ?? 120_000;
  if (signal?.aborted) throw new CancelledError('cancelled before start');
  await mkdir(outDir, { recursive: true });
  const staging = await mkdtemp(join(outDir, '.encode-'));
  try {
    let analysis: CrfAnalysis | undefined;
    if (plan.rateControl.mode === 'capped-crf' && plan.rateControl.analyze && plan.kind === 'video') {
      const work = join(staging, '.analysis');
      await mkdir(work, { recursive: true });
      analysis = await analyzeCrf(plan, work, { signal, stallTimeoutMs, log });
      await rm(work, { recursive: true, force: true });
      if (analysis) plan = withCrf(plan, analysis.crf);
    }
    const fallbacks: BackendFallback[] = [];
    let backend: Backend | undefined;
    let encodeWallS = 0;
    for (const candidate of order) {
      const started = performance.now();
      try {
        await runLadder(plan, candidate, staging, { ...options, stallTimeoutMs });
        backend = candidate;
        encodeWallS = (performance.now() - started) / 1000;
        break;
      } catch (err) {
        if (err instanceof CancelledError || signal?.aborted)
          throw err instanceof CancelledError ? err : new CancelledError('cancelled');
        const last = candidate === order[order.length - 1];
        if (last) throw err;
        const code = err instanceof EncodeError ? err.code : 'encode_failed';
        const reason = err instanceof Error ? err.message : String(err);
        fallbacks.push({ backend: candidate, code, reason });
        log?.warn({ backend: candidate, code, reason }, 'encode backend failed; falling back');
        await rm(staging, { recursive: true, force: true });
        await mkdir(staging, { recursive: true });
      }
    }
    if (!backend) throw new EncodeError('no encoder backend available');

    for (const name of plan.encode) {
      const playlist = join(staging, renditionLayout(plan, name).playlist);
      if (existsSync(playlist))
        await writeFile(playlist, fixZeroTargetDuration(await readFile(playlist, 'utf8')));
      const target = join(outDir, name);
      await rm(target, { recursive: true, force: true });
      await rename(join(staging, name), target);
    }

    const renditions: RenditionResult[] = [];
    for (const r of plan.renditions) {
      const layout = renditionLayout(plan, r.name);
      const kept = plan.encode.includes(r.name) ? undefined : options.keep?.find((k) => k.name === r.name);
      if (kept) renditions.push(kept);
      else if (existsSync(join(outDir, layout.playlist)))
        renditions.push(await describeRendition(outDir, r.name, r.kind, layout.playlist, signal));
    }
    if (plan.mp4) {
      for (const r of renditions.filter((x) => plan.encode.includes(x.name))) {
        r.mp4 = await remuxMp4(outDir, staging, r, signal, stallTimeoutMs);
      }
    }

    const { poster, thumbnail } = await writePoster(plan, outDir, staging, signal, stallTimeoutMs, log);
    const storyboard = await writeStoryboard(plan, outDir, staging, signal, stallTimeoutMs, log);

    const master = masterName(plan.layout);
    await writeMasterPlaylist(outDir, renditions, { fileName: master, format: plan.format });
    const dash = plan.dash ? await writeMpd(outDir, renditions, DASH_MANIFEST) : undefined;
    return {
      outDir,
      master,
      dash,
      renditions,
      encoded: [...plan.encode],
      poster,
      thumbnail,
      storyboard,
      backend,
      fallbacks,
      durationS: plan.durationS,
      encodeWallS,
      analysis,
      plan,
      speed: encodeWallS > 0 ? plan.durationS / encodeWallS : 0,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Poster and thumbnail, best-effort: the representative frame, else the first decodable frame, else
 * none (logged). A failed poster never fails the ladder; only cancellation propagates.
 */
export async function writePoster(
  plan: LadderPlan,
  outDir: string,
  staging: string,
  signal: AbortSignal | undefined,
  stallTimeoutMs: number,
  log: Logger | undefined,
): Promise<{ poster: string | undefined; thumbnail: string | undefined }> {
  if (plan.kind !== 'video' || !(plan.poster || plan.thumbnail))
    return { poster: undefined, thumbnail: undefined };
  const p = join(staging, 'poster.jpg');
  const t = join(staging, 'thumbnail.jpg');
  for (const frame of ['representative', 'first'] as const) {
    let reason: string;
    try {
      await rm(p, { force: true });
      await rm(t, { force: true });
      const out = await runProcess('ffmpeg', buildPosterArgs(plan, p, t, frame), { signal, stallTimeoutMs });
      if (out.code === 0 && existsSync(p) && existsSync(t)) {
        if (plan.poster) await rename(p, join(outDir, 'poster.jpg'));
        if (plan.thumbnail) await rename(t, join(outDir, 'thumbnail.jpg'));
        return {
          poster: plan.poster ? 'poster.jpg' : undefined,
          thumbnail: plan.thumbnail ? 'thumbnail.jpg' : undefined,
        };
      }
      reason = out.code === 0 ? 'ffmpeg wrote no frame' : summarizeStderr(out.stderr);
    } catch (err) {
      if (err instanceof CancelledError || signal?.aborted) throw err;
      reason = err instanceof Error ? err.message : String(err);
    }
    log?.warn({ frame, reason }, 'poster extraction failed');
  }
  log?.warn({ input: plan.input }, 'no poster or thumbnail: no frame could be extracted');
  return { poster: undefined, thumbnail: undefined };
}

/**
 * Storyboard sprite sheets + WebVTT track, best-effort: one ffmpeg pass into the staging folder;
 * moved into place with the VTT only when every planned sheet was written. Only cancellation
 * propagates.
 */
async function writeStoryboard(
  plan: LadderPlan,
  outDir: string,
  staging: string,
  signal: AbortSignal | undefined,
  stallTimeoutMs: number,
  log: Logger | undefined,
): Promise<{ vtt: string; sheets: string[] } | undefined> {
  const sb = plan.storyboard;
  if (plan.kind !== 'video' || !sb) return undefined;
  const work = join(staging, '.storyboard');
  let reason: string;
  try {
    await mkdir(work, { recursive: true });
    const args = buildStoryboardArgs(plan, sb, work, sourceFilters(plan).slice(1));
    const out = await runProcess('ffmpeg', args, { signal, stallTimeoutMs });
    const missing = sb.sheets.filter((s) => !existsSync(join(work, s)));
    if (out.code === 0 && missing.length === 0) {
      for (const s of sb.sheets) await rename(join(work, s), join(outDir, s));
      return { vtt: await writeStoryboardVtt(outDir, sb, plan.durationS), sheets: [...sb.sheets] };
    }
    reason = out.code === 0 ? `sheets not written: ${missing.join(', ')}` : summarizeStderr(out.stderr);
  } catch (err) {
    if (err instanceof CancelledError || signal?.aborted) throw err;
    reason = err instanceof Error ? err.message : String(err);
  }
  log?.warn({ reason }, 'storyboard failed; the ladder completes without it');
  return undefined;
}

function backendOrder(h: EncodeOptions['hwaccel']): Backend[] {
  if (h === undefined) return ['libx264'];
  if (typeof h === 'string') return h === 'libx264' ? ['libx264'] : [h, 'libx264'];
  const list = Array.isArray(h) ? [...h] : [...h.order];
  if (!list.includes('libx264')) list.push('libx264');
  return list;
}

async function runLadder(
  plan: LadderPlan,
  backend: Backend,
  staging: string,
  options: EncodeOptions & { stallTimeoutMs: number },
): Promise<void> {
  for (const name of plan.encode) await mkdir(join(staging, name), { recursive: true });
  const args = buildFfmpegArgs(plan, backend, { outDir: staging, vaapiDevice: options.vaapiDevice });
  options.log?.debug({ backend, args }, 'ffmpeg ladder');
  const parse = createProgressParser(plan.durationS);
  const emit = options.onProgress
    ? throttleProgress((p) => options.onProgress?.({ ...p, backend }), options.progressIntervalMs ?? 1000)
    : undefined;
  const outcome = await runProcess('ffmpeg', args, {
    signal: options.signal,
    stallTimeoutMs: options.stallTimeoutMs,
    onStdoutLine: (line) => {
      const p = parse(line);
      if (p && emit) emit(p);
    },
  });
  if (outcome.code !== 0) {
    throw new EncodeError(
      `ffmpeg (${backend}) exited with ${outcome.code ?? outcome.signal}: ${summarizeStderr(outcome.stderr)}`,
      {
        details: { backend, exitCode: outcome.code },
      },
    );
  }
}

export async function remuxMp4(
  outDir: string,
  staging: string,
  r: RenditionResult,
  signal: AbortSignal | undefined,
  stallTimeoutMs: number,
): Promise<string> {
  const tmp = join(staging, `${r.name}.mp4`);
  const out = await runProcess(
    'ffmpeg',
    [
      '-hide_banner',
      '-nostdin',
      '-y',
      '-loglevel',
      'error',
      '-i',
      join(outDir, r.playlist),
      '-c',
      'copy',
      '-movflags',
      '+faststart',
      tmp,
    ],
    { signal, stallTimeoutMs },
  );
  if (out.code !== 0) throw new EncodeError(`MP4 remux of ${r.name} failed: ${summarizeStderr(out.stderr)}`);
  await rename(tmp, join(outDir, `${r.name}.mp4`));
  return `${r.name}.mp4`;
}

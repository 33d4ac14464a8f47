import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ChunkSpan } from './chunking.js';
import { type EncodeOptions, type EncodeResult, encodeLadder, remuxMp4, writePoster } from './encode.js';
import { CancelledError, EncodeError } from './errors.js';
import { audioEncoderArgs, hlsMuxerArgs, masterName, renditionLayout } from './ffmpeg-args.js';
import {
  describeRendition,
  fixZeroTargetDuration,
  measurePlaylist,
  type RenditionResult,
  writeMasterPlaylist,
} from './hls.js';
import { LOCAL_ONLY, localUrl } from './input.js';
import type { LadderPlan } from './ladder.js';
import { runProcess, summarizeStderr } from './process.js';
import { createProgressParser, throttleProgress } from './progress.js';

/**
 * Chunked encoding, the doing half (docs/chunking.md): a video chunk task, the audio task, and the
 * stitch that turns their outputs into the same ladder an unchunked encode writes. Each runs ffmpeg
 * with `spawn` through {@link runProcess}.
 */

/** Name of the audio task's rendition folder (`audio/index.m3u8`). */
export const CHUNK_AUDIO_NAME = 'audio';

/**
 * Encodes the video renditions of one chunk: the ladder's own argv (same encoder settings, GOP and
 * forced keyframes) with an accurate input seek to `chunk.startS − chunk.prerollS`, exact `-t`, no
 * audio, and output timestamps offset by that start, so the chunk's frame at `startS` is an IDR at the
 * segment boundary and its segments continue the previous chunk's. The pre-roll (whole segments, 0 or
 * absent: none) is encoded only to run the rate control in: its segments are then deleted and dropped
 * from each playlist ({@link dropLeadingSegments}), so the output holds exactly `[startS, startS +
 * durationS)`. Writes `<r>/index.m3u8` + segments and a `master.m3u8` (measured without the pre-roll).
 * Capped-CRF analysis is not run per chunk (rate control must not differ between chunks): the plan's
 * CRF applies. @throws as {@link encodeLadder}; EncodeError when the pre-roll is not whole segments
 * of the plan or the encoder did not cut a segment at `startS`.
 */
export async function encodeVideoChunk(
  plan: LadderPlan,
  chunk: Pick<ChunkSpan, 'startS' | 'durationS'> & { prerollS?: number },
  outDir: string,
  options: EncodeOptions = {},
): Promise<EncodeResult> {
  const video = plan.renditions.filter((r) => r.kind === 'video' && plan.encode.includes(r.name));
  if (video.length === 0) throw new EncodeError('chunk: the plan has no video rendition to encode');
  const prerollS = chunk.prerollS ?? 0;
  const prerollSegments = Math.round(prerollS / plan.segmentDuration);
  if (
    prerollS < 0 ||
    prerollS > chunk.startS + 1e-6 ||
    Math.abs(prerollSegments * plan.segmentDuration - prerollS) > 1e-6
  )
    throw new EncodeError(
      `chunk: pre-roll ${prerollS} s is not whole ${plan.segmentDuration} s segments before the start`,
    );
  const chunkPlan: LadderPlan = {
    ...plan,
    chunk: { startS: chunk.startS - prerollS, durationS: chunk.durationS + prerollS },
    durationS: chunk.durationS + prerollS,
    encode: video.map((r) => r.name),
    renditions: video,
    mp4: false,
    poster: false,
    thumbnail: false,
    rateControl: plan.rateControl.mode === 'cbr' ? plan.rateControl : { ...plan.rateControl, analyze: false },
  };
  const { keep: _keep, ...rest } = options;
  const result = await encodeLadder(chunkPlan, outDir, rest);
  if (prerollSegments === 0) return result;
  const halfFrameS = 0.5 / (plan.video ? plan.video.frameRate.num / plan.video.frameRate.den : 30);
  const renditions: RenditionResult[] = [];
  for (const r of result.renditions) {
    const path = join(outDir, r.playlist);
    const { text, dropped } = dropLeadingSegments(await readFile(path, 'utf8'), prerollSegments);
    // The muxer cuts at the IDR forced at every segment boundary, so the pre-roll is exactly its first
    // segments; anything else (a source without a frame near a boundary) would shift the seam.
    const droppedS = dropped.reduce((a, d) => a + d.durationS, 0);
    if (Math.abs(droppedS - prerollS) > halfFrameS)
      throw new EncodeError(
        `chunk: ${r.name}'s pre-roll segments last ${droppedS.toFixed(3)} s, not ${prerollS} s`,
      );
    for (const d of dropped) await rm(join(dirname(path), d.uri), { force: true });
    await writeFile(path, text);
    renditions.push(await describeRendition(outDir, r.name, 'video', r.playlist, options.signal));
  }
  await writeMasterPlaylist(outDir, renditions, { fileName: result.master, format: plan.format });
  const done = { startS: chunk.startS, durationS: chunk.durationS };
  return {
    ...result,
    renditions,
    durationS: chunk.durationS,
    plan: { ...result.plan, durationS: chunk.durationS, chunk: done },
  };
}

/**
 * A VOD media playlist without its first `count` segments (pure): their `#EXTINF` + URI lines (and any
 * tags between the two) removed, `#EXT-X-MEDIA-SEQUENCE` raised by `count`. Returns the text
 * and the dropped segments (URI, duration in seconds) in order.
 * @throws EncodeError when the playlist has no more than `count` segments.
 */
export function dropLeadingSegments(
  text: string,
  count: number,
): { text: string; dropped: Array<{ uri: string; durationS: number }> } {
  const lines = text.split('\n');
  const out: string[] = [];
  const dropped: Array<{ uri: string; durationS: number }> = [];
  let pending: string[] = [];
  let durationS = 0;
  let seen = 0;
  let inSegments = false;
  for (const line of lines) {
    const trimmed = line.trim();
    const seq = /^#EXT-X-MEDIA-SEQUENCE:(\d+)$/.exec(trimmed);
    if (seq) {
      out.push(`#EXT-X-MEDIA-SEQUENCE:${Number(seq[1]) + count}`);
      continue;
    }
    if (trimmed.startsWith('#EXTINF:')) {
      inSegments = true;
      durationS = Number.parseFloat(trimmed.slice('#EXTINF:'.length));
      pending.push(line);
      continue;
    }
    if (inSegments && trimmed !== '' && !trimmed.startsWith('#')) {
      if (seen < count) dropped.push({ uri: trimmed, durationS });
      else out.push(...pending, line);
      pending = [];
      seen++;
      inSegments = false;
      continue;
    }
    if (inSegments) pending.push(line);
    else out.push(line);
  }
  out.push(...pending);
  if (seen <= count) throw new EncodeError(`playlist has ${seen} segments, cannot drop ${count}`);
  return { text: out.join('\n'), dropped };
}

/**
 * The audio task: the source's audio (or a silent track, as the ladder does) encoded once for the
 * whole duration with the ladder's AAC settings into `audio/index.m3u8` + segments, plus the poster
 * and thumbnail (the task reads the whole source anyway). Writes a `master.m3u8` listing `audio`.
 * @throws CancelledError, EncodeError.
 */
export async function encodeAudioTrack(
  plan: LadderPlan,
  outDir: string,
  options: Pick<
    EncodeOptions,
    'signal' | 'stallTimeoutMs' | 'log' | 'onProgress' | 'progressIntervalMs'
  > = {},
): Promise<EncodeResult> {
  const { signal, log } = options;
  const stallTimeoutMs = options.stallTimeoutMs ?? 120_000;
  await mkdir(outDir, { recursive: true });
  const staging = await mkdtemp(join(outDir, '.encode-'));
  const started = performance.now();
  try {
    await mkdir(join(staging, CHUNK_AUDIO_NAME), { recursive: true });
    const silent = plan.audio.mode === 'silent';
    const input = silent
      ? [
          '-f',
          'lavfi',
          '-t',
          plan.durationS.toFixed(3),
          '-i',
          `anullsrc=channel_layout=stereo:sample_rate=${plan.audio.sampleRate}`,
        ]
      : [...LOCAL_ONLY, '-i', localUrl(plan.input)];
    const map = silent ? '0:a:0' : `0:${plan.audio.streamIndex}`;
    const args = [
      ...['-hide_banner', '-nostdin', '-y', '-loglevel', 'error', '-progress', 'pipe:1', '-nostats'],
      ...(plan.trimS !== undefined && !silent ? ['-t', String(plan.trimS)] : []),
      ...input,
      ...['-map', map, '-vn', ...audioEncoderArgs(plan)],
      // On the chunks' timeline (one chunk spanning the whole duration, so starting at the origin).
      ...hlsMuxerArgs(
        { ...plan, chunk: { startS: 0, durationS: plan.durationS } },
        CHUNK_AUDIO_NAME,
        staging,
      ),
    ];
    const parse = createProgressParser(plan.durationS);
    const emit = options.onProgress
      ? throttleProgress(
          (p) => options.onProgress?.({ ...p, backend: 'libx264' }),
          options.progressIntervalMs ?? 1000,
        )
      : undefined;
    const out = await runProcess('ffmpeg', args, {
      signal,
      stallTimeoutMs,
      onStdoutLine: (line) => {
        const p = parse(line);
        if (p && emit) emit(p);
      },
    });
    if (out.code !== 0) throw new EncodeError(`audio task: ffmpeg failed: ${summarizeStderr(out.stderr)}`);
    const playlist = renditionLayout(plan, CHUNK_AUDIO_NAME).playlist;
    await moveInto(staging, outDir, CHUNK_AUDIO_NAME, plan);
    const rendition = await describeRendition(outDir, CHUNK_AUDIO_NAME, 'audio', playlist, signal);
    const { poster, thumbnail } = await writePoster(plan, outDir, staging, signal, stallTimeoutMs, log);
    await writeMasterPlaylist(outDir, [rendition], { fileName: 'master.m3u8', format: plan.format });
    const wallS = (performance.now() - started) / 1000;
    return copyOnlyResult(plan, wallS, {
      outDir,
      master: 'master.m3u8',
      renditions: [rendition],
      encoded: [CHUNK_AUDIO_NAME],
      poster,
      thumbnail,
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** The finished outputs a stitch joins: the chunk tasks' folders in chunk order, and the audio task's. */
export interface StitchParts {
  chunkDirs: string[];
  audioDir: string;
}

/**
 * Stitches chunk outputs into the ladder an unchunked encode writes (same layout, same muxed A/V
 * segments): per rendition, the chunks' segments in order (their timestamps already continue each
 * other) and the audio task's segments are remuxed with `-c copy` (no re-encoding) by the HLS muxer,
 * which cuts at the IDR frames every chunk forced on segment boundaries. So sequence numbers are
 * continuous and no EXT-X-DISCONTINUITY is needed. Then, as {@link encodeLadder} does: BANDWIDTH
 * measured on the segments (RFC 8216 §4.3.4.2), MP4 copies remuxed when asked, the master playlist;
 * the poster and thumbnail come from the audio task. MPEG-TS segments only (fMP4 jobs are not split).
 *
 * @throws EncodeError when a part is missing or ffmpeg fails; CancelledError when `signal` aborts.
 */
export async function stitchLadder(
  plan: LadderPlan,
  parts: StitchParts,
  outDir: string,
  options: Pick<EncodeOptions, 'signal' | 'stallTimeoutMs'> = {},
): Promise<EncodeResult> {
  const { signal } = options;
  const stallTimeoutMs = options.stallTimeoutMs ?? 120_000;
  if (plan.format !== 'ts') throw new EncodeError('stitch: only MPEG-TS ladders are stitched');
  if (parts.chunkDirs.length === 0) throw new EncodeError('stitch: no chunks');
  await mkdir(outDir, { recursive: true });
  const staging = await mkdtemp(join(outDir, '.stitch-'));
  const started = performance.now();
  try {
    const audioTs = join(staging, 'audio.ts');
    await concatSegments([parts.audioDir], renditionLayout(plan, CHUNK_AUDIO_NAME).playlist, audioTs);
    const names = plan.encode.filter((n) =>
      existsSync(join(parts.chunkDirs[0]!, renditionLayout(plan, n).playlist)),
    );
    if (names.length === 0) throw new EncodeError('stitch: the first chunk has no rendition of the plan');
    const whole: LadderPlan = { ...plan, chunk: undefined };
    for (const name of names) {
      if (signal?.aborted) throw new CancelledError('cancelled');
      const videoTs = join(staging, `${name}.video.ts`);
      await concatSegments(parts.chunkDirs, renditionLayout(plan, name).playlist, videoTs);
      await mkdir(join(staging, name), { recursive: true });
      const out = await runProcess(
        'ffmpeg',
        [
          // -copyts: both inputs keep the chunks' common timeline (by default each input would be
          // moved to start at 0 on its own, losing the audio's offset to the video).
          ...['-hide_banner', '-nostdin', '-y', '-loglevel', 'error', '-copyts'],
          ...[...LOCAL_ONLY, '-i', localUrl(videoTs), ...LOCAL_ONLY, '-i', localUrl(audioTs)],
          ...['-map', '0:v:0', '-map', '1:a:0', '-c', 'copy'],
          ...hlsMuxerArgs(whole, name, staging),
        ],
        { signal, stallTimeoutMs },
      );
      if (out.code !== 0) throw new EncodeError(`stitch of ${name} failed: ${summarizeStderr(out.stderr)}`);
      await rm(videoTs, { force: true });
      await moveInto(staging, outDir, name, plan);
    }
    const renditions: RenditionResult[] = [];
    for (const name of names) {
      const r = await describeRendition(outDir, name, 'video', renditionLayout(plan, name).playlist, signal);
      if (plan.mp4) r.mp4 = await remuxMp4(outDir, staging, r, signal, stallTimeoutMs);
      renditions.push(r);
    }
    let poster: string | undefined;
    let thumbnail: string | undefined;
    for (const f of ['poster.jpg', 'thumbnail.jpg'] as const) {
      if (!existsSync(join(parts.audioDir, f))) continue;
      await copyFile(join(parts.audioDir, f), join(outDir, f));
      if (f === 'poster.jpg') poster = f;
      else thumbnail = f;
    }
    const master = masterName(plan.layout);
    await writeMasterPlaylist(outDir, renditions, { fileName: master, format: plan.format });
    const wallS = (performance.now() - started) / 1000;
    return copyOnlyResult(plan, wallS, { outDir, master, renditions, encoded: names, poster, thumbnail });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The result of the audio task or the stitch: libx264 H.264/TS HLS with no fallback, analysis, DASH
 * or storyboard (chunking is planned only for such ladders); speed is media seconds per wall second.
 */
function copyOnlyResult(
  plan: LadderPlan,
  wallS: number,
  parts: Pick<EncodeResult, 'outDir' | 'master' | 'renditions' | 'encoded' | 'poster' | 'thumbnail'>,
): EncodeResult {
  return {
    ...parts,
    dash: undefined,
    storyboard: undefined,
    backend: 'libx264',
    fallbacks: [],
    durationS: plan.durationS,
    encodeWallS: wallS,
    analysis: undefined,
    plan,
    speed: wallS > 0 ? plan.durationS / wallS : 0,
  };
}

/** Appends the segments of `playlist` in each of `dirs`, in order, into one MPEG-TS file. */
async function concatSegments(dirs: string[], playlist: string, target: string): Promise<void> {
  const out = await open(target, 'w');
  try {
    for (const dir of dirs) {
      const path = join(dir, playlist);
      const m = await measurePlaylist(path);
      // One segment in memory at a time: segments are a few MB.
      for (const s of m.segments) await out.write(await readFile(join(dirname(path), s.uri)));
    }
  } finally {
    await out.close();
  }
}

async function moveInto(staging: string, outDir: string, name: string, plan: LadderPlan): Promise<void> {
  const playlist = join(staging, renditionLayout(plan, name).playlist);
  if (existsSync(playlist))
    await writeFile(playlist, fixZeroTargetDuration(await readFile(playlist, 'utf8')));
  await rm(join(outDir, name), { recursive: true, force: true });
  await rename(join(staging, name), join(outDir, name));
}

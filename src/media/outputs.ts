import { join } from 'node:path';
import { z } from 'zod';
import { SVTAV1_PRESET, TONEMAP_FILTERS, VP9_CPU_USED } from './ffmpeg-args.js';
import { LOCAL_ONLY, localUrl } from './input.js';
import { type LadderOptionsInput, ladderOptionsSchema, X264_PRESETS } from './ladder.js';
import type { ProbeResult } from './types.js';

/**
 * Outputs of a transcode (issue 18), beside or instead of the HLS ladder: each output is its own file
 * set (an MP4, a WebM, an audio file, thumbnails, a poster, or an HLS/DASH ladder) with its own codec
 * settings. This module only plans and builds argv (pure) and names the files; the encoder runs them,
 * the job spec adds a name and a destination per output.
 *
 * Terminology: an *output* is one requested deliverable; the *shared decode* is the one ffmpeg process
 * that decodes the source once and feeds every file output through a `split` filter; `hls`/`dash`
 * outputs are ladders ({@link ladderOptionsSchema}) encoded by the ladder encoder (its own single
 * decode). Units: bitrates in bits/s, times in s, sizes in pixels.
 */

export const OUTPUT_KINDS = ['hls', 'dash', 'mp4', 'webm', 'audio', 'thumbnails', 'poster'] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];
/** How a source is fitted into a `width`×`height` box: inside it, covering it (cropped), or inside it padded. */
export const ASPECT_MODES = ['fit', 'fill', 'pad'] as const;
export type AspectMode = (typeof ASPECT_MODES)[number];
export const IMAGE_FORMATS = ['jpg', 'png', 'webp'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export const AUDIO_FORMATS = ['m4a', 'mp3', 'opus'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];
export const MP4_VIDEO_CODECS = ['h264', 'hevc', 'av1'] as const;
export const WEBM_VIDEO_CODECS = ['vp9', 'av1'] as const;
type FileVideoCodec = (typeof MP4_VIDEO_CODECS)[number] | (typeof WEBM_VIDEO_CODECS)[number];

const even = (n: number): number => Math.max(2, Math.round(n / 2) * 2);
const evenDim = (max: number) => z.number().int().min(16).max(max).multipleOf(2);
/** A file name inside the output's folder: no path, no leading dot. */
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'invalid file name');

const box = {
  /** Output width in pixels (even); with only one of width/height the other follows the source. */
  width: evenDim(7680).optional(),
  height: evenDim(4320).optional(),
  aspect: z.enum(ASPECT_MODES).default('fit'),
};
const audioFields = {
  /** bits/s. */
  audioBitrate: z.number().int().min(16_000).max(512_000).default(128_000),
  channels: z.union([z.literal(1), z.literal(2)]).default(2),
};
const videoFields = {
  ...box,
  /** Target bitrate in bits/s (1-pass ABR, VBV peak 1.5×); alternative to `crf`. */
  videoBitrate: z.number().int().min(50_000).max(100_000_000).optional(),
  /** Constant quality (x264/x265 0–51, VP9/AV1 0–63); default per codec when no bitrate is set. */
  crf: z.number().int().min(0).max(63).optional(),
  /** Output frame rate (frames/s); default: the source's. */
  fps: z.number().min(1).max(120).optional(),
  speed: z.enum(X264_PRESETS).default('veryfast'),
  /** false: no audio track. A source without audio gives a video-only file. */
  audio: z.boolean().default(true),
  ...audioFields,
  fileName: fileName.optional(),
};

export const hlsOutputOptionsSchema = z.strictObject({
  kind: z.literal('hls'),
  /** The ladder (default: the job's `ladder`, else the default preset). */
  ladder: ladderOptionsSchema.optional(),
});
export const dashOutputOptionsSchema = z.strictObject({
  kind: z.literal('dash'),
  /** The ladder, encoded as CMAF (fMP4) with a DASH manifest beside the HLS master. */
  ladder: ladderOptionsSchema.optional(),
});
export const mp4OutputOptionsSchema = z.strictObject({
  kind: z.literal('mp4'),
  videoCodec: z.enum(MP4_VIDEO_CODECS).default('h264'),
  audioCodec: z.literal('aac').default('aac'),
  ...videoFields,
});
export const webmOutputOptionsSchema = z.strictObject({
  kind: z.literal('webm'),
  videoCodec: z.enum(WEBM_VIDEO_CODECS).default('vp9'),
  audioCodec: z.literal('opus').default('opus'),
  ...videoFields,
});
export const audioOutputOptionsSchema = z.strictObject({
  kind: z.literal('audio'),
  format: z.enum(AUDIO_FORMATS).default('m4a'),
  ...audioFields,
  fileName: fileName.optional(),
});
export const thumbnailsOutputOptionsSchema = z.strictObject({
  kind: z.literal('thumbnails'),
  format: z.enum(IMAGE_FORMATS).default('jpg'),
  /** Times (s) to take a frame at; alternative to `intervalS`. */
  times: z.array(z.number().min(0).max(86_400)).min(1).max(100).optional(),
  /** One frame every N s from the start (default 10 when `times` is absent). */
  intervalS: z.number().min(0.5).max(3600).optional(),
  ...box,
});
export const posterOutputOptionsSchema = z.strictObject({
  kind: z.literal('poster'),
  format: z.enum(IMAGE_FORMATS).default('jpg'),
  /** Time (s) of the frame; default a quarter into the source, at most 30 s. */
  timeS: z.number().min(0).max(86_400).optional(),
  ...box,
  fileName: fileName.optional(),
});

/** One output's media options, discriminated on `kind`; cross-field rules in {@link checkOutputOptions}. */
export const outputOptionsSchema = z.discriminatedUnion('kind', [
  hlsOutputOptionsSchema,
  dashOutputOptionsSchema,
  mp4OutputOptionsSchema,
  webmOutputOptionsSchema,
  audioOutputOptionsSchema,
  thumbnailsOutputOptionsSchema,
  posterOutputOptionsSchema,
]);
export type OutputOptions = z.output<typeof outputOptionsSchema>;
export type OutputOptionsInput = z.input<typeof outputOptionsSchema>;

const EXTENSIONS: Record<string, string> = { mp4: 'mp4', webm: 'webm', m4a: 'm4a', mp3: 'mp3', opus: 'opus' };
const MAX_CRF: Record<FileVideoCodec, number> = { h264: 51, hevc: 51, vp9: 63, av1: 63 };
const DEFAULT_CRF: Record<FileVideoCodec, number> = { h264: 23, hevc: 28, vp9: 33, av1: 35 };

/**
 * Cross-field problems of one output's options (pure): `crf` with `videoBitrate`, a CRF above the
 * codec's range, `times` with `intervalS`, a `fileName` with another container's extension.
 * Returns messages; empty when valid.
 */
export function checkOutputOptions(o: OutputOptions): string[] {
  const problems: string[] = [];
  if (o.kind === 'mp4' || o.kind === 'webm') {
    if (o.crf !== undefined && o.videoBitrate !== undefined)
      problems.push('set crf or videoBitrate, not both');
    if (o.crf !== undefined && o.crf > MAX_CRF[o.videoCodec])
      problems.push(`crf of ${o.videoCodec} is 0..${MAX_CRF[o.videoCodec]}`);
  }
  if (o.kind === 'thumbnails' && o.times && o.intervalS !== undefined)
    problems.push('set times or intervalS, not both');
  if ((o.kind === 'mp4' || o.kind === 'webm' || o.kind === 'audio' || o.kind === 'poster') && o.fileName) {
    const ext = o.kind === 'audio' ? EXTENSIONS[o.format] : o.kind === 'poster' ? o.format : o.kind;
    if (!o.fileName.toLowerCase().endsWith(`.${ext}`)) problems.push(`fileName must end with .${ext}`);
  }
  return problems;
}

/** Output video codecs a set of outputs needs (ladders' codecs come from their ladder options). */
export function outputVideoCodecs(outputs: readonly OutputOptions[]): FileVideoCodec[] {
  const out = new Set<FileVideoCodec>();
  for (const o of outputs) if (o.kind === 'mp4' || o.kind === 'webm') out.add(o.videoCodec);
  return [...out];
}

/** The scaling of one output: scale to `scale`, then crop or pad to `frame` (centered). */
export interface OutputGeometry {
  scale: [number, number];
  /** Final frame size (= scale unless cropped or padded). */
  frame: [number, number];
  mode: 'none' | 'crop' | 'pad';
}

/**
 * The output size of a `width`×`height` box for a source displayed at `srcW`×`srcH` (square pixels,
 * rotation applied) (pure). No box: the source size. One side: the other follows the source's aspect.
 * Both: `fit` scales inside the box (the result may be smaller on one side), `fill` scales to cover it
 * and crops the overflow, `pad` scales inside it and pads to exactly the box. Sizes are even (4:2:0).
 */
export function outputGeometry(
  srcW: number,
  srcH: number,
  width: number | undefined,
  height: number | undefined,
  aspect: AspectMode,
): OutputGeometry {
  const same = (w: number, h: number): OutputGeometry => ({ scale: [w, h], frame: [w, h], mode: 'none' });
  if (width === undefined && height === undefined) return same(even(srcW), even(srcH));
  if (width === undefined) return same(even((srcW * height!) / srcH), height!);
  if (height === undefined) return same(width, even((srcH * width) / srcW));
  const fit = Math.min(width / srcW, height / srcH);
  if (aspect === 'fit') return same(even(srcW * fit), even(srcH * fit));
  if (aspect === 'pad') {
    const w = Math.min(width, even(srcW * fit));
    const h = Math.min(height, even(srcH * fit));
    return { scale: [w, h], frame: [width, height], mode: w === width && h === height ? 'none' : 'pad' };
  }
  const cover = Math.max(width / srcW, height / srcH);
  const w = Math.max(width, even(srcW * cover));
  const h = Math.max(height, even(srcH * cover));
  return { scale: [w, h], frame: [width, height], mode: w === width && h === height ? 'none' : 'crop' };
}

function geometryFilters(g: OutputGeometry): string[] {
  const f = [`scale=${g.scale[0]}:${g.scale[1]}:flags=bicubic`, 'setsar=1'];
  const [fw, fh] = g.frame;
  if (g.mode === 'crop') f.push(`crop=${fw}:${fh}`);
  if (g.mode === 'pad') f.push(`pad=${fw}:${fh}:(ow-iw)/2:(oh-ih)/2:color=black`);
  return f;
}

/** A named output as the planner takes it. */
export interface NamedOutput {
  name: string;
  options: OutputOptions;
}

/** A file output of the shared decode: its filter chain (video) and its output-side argv. */
export interface PlannedFileOutput {
  name: string;
  kind: Exclude<OutputKind, 'hls' | 'dash'>;
  /** Filters after the split (empty for audio). */
  filters: string[];
  /** Output options after `-map` (codecs, rate control, muxer) without the file path. */
  args: string[];
  /** Maps the source's audio stream. */
  mapAudio: boolean;
  /** Maps the filtered video. */
  mapVideo: boolean;
  /** The output path relative to the output's folder (a `%04d` pattern for thumbnails). */
  file: string;
  /** Frame size of video/images. */
  size?: [number, number];
}

/** A ladder output (hls/dash): encoded by the ladder encoder with these options. */
export interface PlannedLadderOutput {
  name: string;
  kind: 'hls' | 'dash';
  ladder: LadderOptionsInput;
}

/** The plan of every output of one job for one source (pure). */
export interface OutputsPlan {
  ladders: PlannedLadderOutput[];
  files: PlannedFileOutput[];
  /** Outputs this source cannot give (a video output of an audio-only source, audio of a silent one). */
  impossible: { name: string; reason: string }[];
  /** Source facts the shared decode needs. */
  input: string;
  durationS: number;
  videoStream: number | undefined;
  audioStream: number | undefined;
  /** HDR source: tone-mapped to SDR BT.709 once, before the split. */
  toneMap: boolean;
}

const kbps = (bits: number): string => `${Math.round(bits / 1000)}k`;

function videoCodecArgs(codec: FileVideoCodec, o: { videoBitrate?: number; crf?: number; speed: string }) {
  const speed = o.speed as (typeof X264_PRESETS)[number];
  const crf = o.videoBitrate === undefined ? (o.crf ?? DEFAULT_CRF[codec]) : undefined;
  const abr = (b: number) => ['-b:v', kbps(b), '-maxrate', kbps(b * 1.5), '-bufsize', kbps(b * 2)];
  switch (codec) {
    case 'h264':
      return [
        ...['-c:v', 'libx264', '-preset', speed, '-profile:v', 'high', '-pix_fmt', 'yuv420p'],
        ...(crf === undefined ? abr(o.videoBitrate!) : ['-crf', String(crf)]),
      ];
    case 'hevc':
      return [
        ...['-c:v', 'libx265', '-preset', speed, '-tag:v', 'hvc1', '-pix_fmt', 'yuv420p'],
        ...['-x265-params', 'log-level=error'],
        ...(crf === undefined ? abr(o.videoBitrate!) : ['-crf', String(crf)]),
      ];
    case 'vp9':
      return [
        ...['-c:v', 'libvpx-vp9', '-deadline', 'good', '-cpu-used', VP9_CPU_USED[speed], '-row-mt', '1'],
        ...['-pix_fmt', 'yuv420p'],
        // libvpx's constant quality needs -b:v 0 (else -crf is a constrained-quality floor).
        ...(crf === undefined ? ['-b:v', kbps(o.videoBitrate!)] : ['-crf', String(crf), '-b:v', '0']),
      ];
    case 'av1':
      return [
        ...['-c:v', 'libsvtav1', '-preset', SVTAV1_PRESET[speed], '-pix_fmt', 'yuv420p'],
        ...(crf === undefined ? ['-b:v', kbps(o.videoBitrate!)] : ['-crf', String(crf)]),
      ];
  }
}

function audioCodecArgs(codec: 'aac' | 'mp3' | 'opus', o: { audioBitrate: number; channels: 1 | 2 }) {
  const enc = { aac: 'aac', mp3: 'libmp3lame', opus: 'libopus' }[codec];
  // Opus runs at 48 kHz (RFC 7845 §5.1: the input rate is only informative).
  const rate = codec === 'opus' ? ['-ar', '48000'] : [];
  return ['-c:a', enc, '-b:a', kbps(o.audioBitrate), '-ac', String(o.channels), ...rate];
}

const IMAGE_ENCODER: Record<ImageFormat, { pix: string; args: string[] }> = {
  jpg: { pix: 'yuvj420p', args: ['-c:v', 'mjpeg', '-q:v', '3'] },
  png: { pix: 'rgb24', args: ['-c:v', 'png'] },
  webp: { pix: 'yuv420p', args: ['-c:v', 'libwebp', '-quality', '80'] },
};

/** Poster time (s): the asked one, else a quarter in (at most 30 s); never past the last 0.1 s. */
export function posterTime(asked: number | undefined, durationS: number): number {
  const t = asked ?? Math.min(30, durationS * 0.25);
  return Math.max(0, Math.min(t, durationS - 0.1));
}

/**
 * `select` expression taking the first frame at or after each time (s): `t` is the frame's time,
 * `prev_pts*TB` the previous frame's (NAN before the first frame, so time 0 is the first frame).
 */
export function selectAtTimes(times: readonly number[]): string {
  const uniq = [...new Set(times.map((t) => Math.max(0, t)))].sort((a, b) => a - b);
  return uniq.map((t) => (t === 0 ? 'isnan(prev_pts)' : `gte(t\\,${t})*lt(prev_pts*TB\\,${t})`)).join('+');
}

/**
 * Plans every output of a job for one probed source (pure): ladders go to the ladder encoder; file
 * outputs to one shared decode. Throws nothing: an output this source cannot give is listed in
 * `impossible` (the others still run).
 * @param defaultLadder the job's own `ladder`, used by hls/dash outputs that set none.
 */
export function planOutputs(
  info: ProbeResult,
  outputs: readonly NamedOutput[],
  defaultLadder: LadderOptionsInput = {},
): OutputsPlan {
  const v = info.video;
  const audio = info.audio[0];
  const plan: OutputsPlan = {
    ladders: [],
    files: [],
    impossible: [],
    input: info.path,
    durationS: info.durationS,
    videoStream: v?.index,
    audioStream: audio?.index,
    toneMap: v?.hdr !== undefined,
  };
  for (const { name, options: o } of outputs) {
    if (o.kind === 'hls' || o.kind === 'dash') {
      const ladder: LadderOptionsInput = { ...(o.ladder ?? defaultLadder) };
      if (o.kind === 'dash') Object.assign(ladder, { format: 'fmp4', dash: true });
      plan.ladders.push({ name, kind: o.kind, ladder });
      continue;
    }
    if (o.kind === 'audio') {
      if (!audio) {
        plan.impossible.push({ name, reason: 'the source has no audio stream' });
        continue;
      }
      const codec = o.format === 'm4a' ? 'aac' : o.format;
      const muxer = { m4a: 'ipod', mp3: 'mp3', opus: 'ogg' }[o.format];
      plan.files.push({
        name,
        kind: 'audio',
        filters: [],
        args: ['-vn', ...audioCodecArgs(codec, o), '-map_metadata', '-1', '-f', muxer],
        mapAudio: true,
        mapVideo: false,
        file: o.fileName ?? `audio.${EXTENSIONS[o.format]}`,
      });
      continue;
    }
    if (!v) {
      plan.impossible.push({ name, reason: 'the source has no video stream' });
      continue;
    }
    const g = outputGeometry(v.displayWidth, v.displayHeight, o.width, o.height, o.aspect);
    if (o.kind === 'mp4' || o.kind === 'webm') {
      const withAudio = o.audio && audio !== undefined;
      const fps = o.fps ? [`fps=${o.fps}`] : [];
      const aCodec = o.kind === 'mp4' ? 'aac' : 'opus';
      plan.files.push({
        name,
        kind: o.kind,
        filters: [...fps, ...geometryFilters(g), 'format=yuv420p'],
        args: [
          ...videoCodecArgs(o.videoCodec, o),
          ...(withAudio ? audioCodecArgs(aCodec, o) : ['-an']),
          ...['-map_metadata', '-1', '-map_chapters', '-1'],
          ...(o.kind === 'mp4' ? ['-movflags', '+faststart', '-f', 'mp4'] : ['-f', 'webm']),
        ],
        mapAudio: withAudio,
        mapVideo: true,
        file: o.fileName ?? `video.${o.kind}`,
        size: g.frame,
      });
      continue;
    }
    const img = IMAGE_ENCODER[o.format];
    if (o.kind === 'poster') {
      const t = posterTime(o.timeS, info.durationS);
      plan.files.push({
        name,
        kind: 'poster',
        filters: [`trim=start=${t}`, 'setpts=PTS-STARTPTS', ...geometryFilters(g), `format=${img.pix}`],
        args: [...img.args, '-frames:v', '1', '-update', '1', '-f', 'image2'],
        mapAudio: false,
        mapVideo: true,
        file: o.fileName ?? `poster.${o.format}`,
        size: g.frame,
      });
      continue;
    }
    const times = o.times?.filter((t) => t < info.durationS);
    if (times?.length === 0) {
      plan.impossible.push({ name, reason: `every time is past the source's end (${info.durationS} s)` });
      continue;
    }
    const pick = times ? [`select=${selectAtTimes(times)}`] : [`fps=1/${o.intervalS ?? 10}:round=down`];
    plan.files.push({
      name,
      kind: 'thumbnails',
      filters: [...pick, ...geometryFilters(g), `format=${img.pix}`],
      args: [...img.args, '-fps_mode', 'vfr', '-f', 'image2', '-start_number', '1'],
      mapAudio: false,
      mapVideo: true,
      file: `thumb_%04d.${o.format}`,
      size: g.frame,
    });
  }
  return plan;
}

/**
 * argv (without the binary) of the shared decode (pure): the source decoded once, its video split to
 * every file output's filter chain, each output written to `<outDir>/<name>/<file>`; progress as
 * `key=value` blocks on stdout (`-progress pipe:1`). Undefined when the plan has no file output.
 * Every token comes from the validated plan: nothing the client wrote reaches ffmpeg as a string but
 * numbers and enum names.
 */
export function buildOutputsArgs(plan: OutputsPlan, outDir: string): string[] | undefined {
  if (plan.files.length === 0) return undefined;
  const args = ['-hide_banner', '-nostdin', '-y', '-loglevel', 'error', '-progress', 'pipe:1', '-nostats'];
  args.push(...LOCAL_ONLY, '-i', localUrl(plan.input));
  const video = plan.files.filter((f) => f.mapVideo);
  if (video.length > 0) {
    const splits = video.map((_, i) => `[s${i}]`).join('');
    const pre = [...(plan.toneMap ? TONEMAP_FILTERS : []), `split=${video.length}`];
    const graph = [`[0:${plan.videoStream}]${pre.join(',')}${splits}`];
    video.forEach((f, i) => {
      graph.push(`[s${i}]${f.filters.join(',')}[o${i}]`);
    });
    args.push('-filter_complex', graph.join(';'));
  }
  for (const f of plan.files) {
    if (f.mapVideo) args.push('-map', `[o${video.indexOf(f)}]`);
    if (f.mapAudio) args.push('-map', `0:${plan.audioStream}`);
    args.push(...f.args, join(outDir, f.name, f.file));
  }
  return args;
}

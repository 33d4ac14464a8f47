/**
 * The live ladder (issue 23, docs/live.md): which renditions a live stream gets and the ffmpeg argv
 * that encodes one ingest feed into all of them at once. Pure: data in, arrays out; the encoder's live
 * runner spawns the command.
 *
 * Terminology (RFC 8216): a **rendition** (variant stream) is one resolution/bitrate of the ladder; each
 * is cut into **segments** of `segmentS` seconds, every segment starting on a keyframe (closed GOP of
 * `segmentS` seconds) at the same instant in every rendition, so a player can switch renditions at any
 * segment boundary (RFC 8216 §6.2.4, aligned segments).
 */

/** One rung of the live ladder. Heights in pixels (the short side), bitrates in bits/s. */
export interface LiveRendition {
  name: string;
  height: number;
  videoBitrate: number;
  audioBitrate: number;
}

/** The named live rungs; a live job picks some of them by name (default `720p`, `480p`). */
export const LIVE_RENDITIONS: readonly LiveRendition[] = [
  { name: '1080p', height: 1080, videoBitrate: 4_500_000, audioBitrate: 128_000 },
  { name: '720p', height: 720, videoBitrate: 2_500_000, audioBitrate: 128_000 },
  { name: '480p', height: 480, videoBitrate: 1_000_000, audioBitrate: 96_000 },
  { name: '360p', height: 360, videoBitrate: 600_000, audioBitrate: 96_000 },
  { name: '240p', height: 240, videoBitrate: 300_000, audioBitrate: 64_000 },
];
export const LIVE_RENDITION_NAMES = ['1080p', '720p', '480p', '360p', '240p'] as const;
export const DEFAULT_LIVE_LADDER = ['720p', '480p'] as const;

/** The rungs named, highest first; throws RangeError for an unknown name (the API validates names first). */
export function liveLadder(names: readonly string[]): LiveRendition[] {
  const out = names.map((n) => {
    const r = LIVE_RENDITIONS.find((x) => x.name === n);
    if (!r) throw new RangeError(`unknown live rendition: ${n}`);
    return r;
  });
  return out.sort((a, b) => b.height - a.height);
}

/** Output width of a 16:9 rendition of `height` (even, as yuv420p needs). */
export function liveWidth(height: number): number {
  return Math.round((height * 16) / 9 / 2) * 2;
}

/** HLS `BANDWIDTH` of a rendition: video + audio bits/s plus 10 % for MPEG-TS overhead. */
export function liveBandwidth(r: LiveRendition): number {
  return Math.round((r.videoBitrate + r.audioBitrate) * 1.1);
}

/** H.264 level of a live rendition: the lowest that holds its size at 30 fps (ITU-T H.264 Table A-1). */
export function liveLevel(r: LiveRendition): '3.0' | '3.1' | '4.0' {
  if (r.height <= 480) return '3.0';
  if (r.height <= 720) return '3.1';
  return '4.0';
}

/** RFC 6381 codecs of a live rendition: H.264 Main (`4d40`, as x264 signals it) at its level + AAC-LC. */
export function liveCodecs(r: LiveRendition): string {
  const level = { '3.0': '1e', '3.1': '1f', '4.0': '28' }[liveLevel(r)];
  return `avc1.4d40${level},mp4a.40.2`;
}

export interface LiveArgsInput {
  /**
   * The ingest feed: `pipe:0` (the runner pipes the coordinator's FLV relay into stdin, so no
   * credential ever appears in the argv) or a file path.
   */
  input: string;
  /** Input format, e.g. `flv` for a pipe (a pipe cannot be probed by its name). */
  inputFormat?: string;
  renditions: readonly LiveRendition[];
  /** Output folder: `<outDir>/<name>/seg_%06d.ts` and `<outDir>/<name>/segments.csv`. */
  outDir: string;
  /** Segment duration, seconds (default 2). */
  segmentS?: number;
  /** Output frame rate (default 30): fixed, so every rendition puts its keyframes on the same frames. */
  fps?: number;
  /** x264 preset (default `veryfast`). */
  preset?: string;
  /** Threads per x264 encoder (default 0 = ffmpeg's choice). */
  threads?: number;
}

/**
 * ffmpeg argv for one live ladder. Choices, all for latency or alignment:
 * - input: a short probe, so the first segment does not wait on probing; `-copyts` keeps the ingest timeline (the segment list's start times are ingest seconds, which the
 *   coordinator maps to wall-clock EXT-X-PROGRAM-DATE-TIME, and a second encoder after a failover
 *   continues the same timeline);
 * - video: one decode, `split` + `scale` per rendition, constant `fps`, x264 `zerolatency` (no
 *   B-frames, no lookahead: a frame leaves the encoder as soon as it is coded), keyframes forced every
 *   `segmentS` seconds and none elsewhere (`sc_threshold 0`), so all renditions cut at the same instants;
 * - output: the `segment` muxer (one per rendition) writes MPEG-TS segments and appends a CSV line
 *   `file,start,end` once a segment is complete, which the runner watches and uploads; `-muxdelay 0`
 *   keeps MPEG-TS timestamps equal to the ingest timeline (the muxer would add 0.7 s otherwise).
 * `-progress pipe:1` reports progress on stdout. Returns the argv without the `ffmpeg` binary.
 */
export function buildLiveArgs(input: LiveArgsInput): string[] {
  const segmentS = input.segmentS ?? 2;
  const fps = input.fps ?? 30;
  const preset = input.preset ?? 'veryfast';
  const n = input.renditions.length;
  if (n === 0) throw new RangeError('a live ladder needs at least one rendition');
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-progress', 'pipe:1', '-nostats'];
  // No `-fflags nobuffer`: it drops the packets read while probing, i.e. the relay's first keyframe.
  args.push('-probesize', '500000', '-analyzeduration', '1000000');
  if (input.inputFormat) args.push('-f', input.inputFormat);
  args.push('-copyts', '-i', input.input);
  const splits = input.renditions.map((_, i) => `[v${i}]`).join('');
  const filters = [`[0:v:0]fps=${fps},split=${n}${splits}`];
  input.renditions.forEach((r, i) => {
    filters.push(`[v${i}]scale=-2:${r.height},setsar=1,format=yuv420p[out${i}]`);
  });
  args.push('-filter_complex', filters.join(';'));
  const gop = Math.round(segmentS * fps);
  input.renditions.forEach((r, i) => {
    args.push('-map', `[out${i}]`, '-map', '0:a:0?');
    args.push(
      '-c:v',
      'libx264',
      '-preset',
      preset,
      '-tune',
      'zerolatency',
      '-profile:v',
      'main',
      '-level',
      liveLevel(r),
      '-b:v',
      String(r.videoBitrate),
      '-maxrate',
      String(Math.round(r.videoBitrate * 1.2)),
      '-bufsize',
      String(r.videoBitrate),
      '-g',
      String(gop),
      '-keyint_min',
      String(gop),
      '-sc_threshold',
      '0',
      '-force_key_frames',
      `expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+${segmentS}))`,
    );
    if (input.threads !== undefined) args.push('-threads', String(input.threads));
    args.push('-c:a', 'aac', '-b:a', String(r.audioBitrate), '-ar', '48000', '-ac', '2');
    args.push(
      '-f',
      'segment',
      '-segment_time',
      String(segmentS),
      '-segment_format',
      'mpegts',
      '-segment_list',
      `${input.outDir}/${r.name}/segments.csv`,
      '-segment_list_type',
      'csv',
      '-segment_list_flags',
      'live',
      '-reset_timestamps',
      '0',
      '-muxdelay',
      '0',
      '-muxpreload',
      '0',
      `${input.outDir}/${r.name}/seg_%06d.ts`,
    );
  });
  return args;
}

/** One completed segment as the segment muxer lists it: file name, start and end on the ingest timeline (s). */
export interface LiveSegmentEntry {
  file: string;
  startS: number;
  endS: number;
}

/**
 * Parses the segment muxer's CSV list (`file,start,end` per line, ffmpeg's `segment_list_type csv`);
 * an incomplete last line (no newline yet) is left for the next read. Returns the entries and the
 * number of characters consumed.
 */
export function parseSegmentCsv(text: string): { entries: LiveSegmentEntry[]; consumed: number } {
  const entries: LiveSegmentEntry[] = [];
  let consumed = 0;
  for (;;) {
    const nl = text.indexOf('\n', consumed);
    if (nl < 0) break;
    const line = text.slice(consumed, nl).trim();
    consumed = nl + 1;
    if (!line) continue;
    const parts = line.split(',');
    if (parts.length < 3) continue;
    const startS = Number(parts[parts.length - 2]);
    const endS = Number(parts[parts.length - 1]);
    const file = parts.slice(0, parts.length - 2).join(',');
    if (!file || !Number.isFinite(startS) || !Number.isFinite(endS)) continue;
    entries.push({ file, startS, endS });
  }
  return { entries, consumed };
}

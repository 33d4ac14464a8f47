import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  EmptyFileError,
  InputNotFoundError,
  NotMediaError,
  NoVideoError,
  ProbeError,
  TruncatedMediaError,
} from './errors.js';
import { LOCAL_ONLY, localUrl } from './input.js';
import { runProcess, summarizeStderr } from './process.js';
import type { AudioStreamInfo, HdrTransfer, ProbeResult, Rational, VideoStreamInfo } from './types.js';

// ffprobe decodes a frame to find stream info: a header declaring a huge frame (16000x16000 PNG: ~800
// MB of RSS) would cost that memory before any limit is checked. Beyond this many pixels (8192x8192)
// the decoder refuses and the size reads 0, which the encoder's source limits then refuse.
const PROBE_MAX_PIXELS = ['-max_pixels', String(8192 * 8192)];

export interface ProbeOptions {
  signal?: AbortSignal;
  /** ffprobe binary (default `ffprobe` on PATH). */
  ffprobePath?: string;
}

/**
 * Probes a media file with ffprobe (`-show_format -show_streams -of json`, format documented at
 * https://ffmpeg.org/ffprobe.html) and checks that its data reaches the declared duration.
 *
 * Returns a {@link ProbeResult}: durations in seconds, bitrates in bits/s, sizes in bytes. An audio-only
 * file is valid (`kind: 'audio'`, `video` undefined).
 *
 * @throws InputNotFoundError (`input_not_found`) no such file; EmptyFileError (`empty_file`) zero bytes;
 *   NotMediaError (`not_media`) no container recognised; TruncatedMediaError (`truncated`) the index or
 *   the data is cut short; NoVideoError (`no_video`) neither decodable video nor audio;
 *   CancelledError when `signal` aborts; FfmpegMissingError when ffprobe is missing.
 */
export async function probe(input: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const ffprobe = options.ffprobePath ?? 'ffprobe';
  const path = resolve(input);
  const info = await stat(path).catch((err: unknown) => {
    throw new InputNotFoundError(`input not found: ${path}`, { cause: err });
  });
  if (!info.isFile()) throw new InputNotFoundError(`input is not a regular file: ${path}`);
  if (info.size === 0) throw new EmptyFileError(`input is empty (0 bytes): ${path}`);

  const head = await runProcess(
    ffprobe,
    [
      '-v',
      'error',
      ...LOCAL_ONLY,
      ...PROBE_MAX_PIXELS,
      '-show_format',
      '-show_streams',
      '-of',
      'json',
      '-i',
      localUrl(path),
    ],
    { signal: options.signal, captureStdout: true },
  );
  if (head.code !== 0) {
    const reason = summarizeStderr(head.stderr);
    const looksLikeMp4 = await startsWithFtyp(path);
    if (/moov atom not found/i.test(head.stderr) && looksLikeMp4) {
      throw new TruncatedMediaError(`input is truncated (MP4 index missing): ${path}`, {
        details: { reason },
      });
    }
    if (
      /Invalid data found|could not find codec|unknown format|EBML header parsing failed/i.test(head.stderr)
    ) {
      throw new NotMediaError(`input is not a media file: ${path}`, { details: { reason } });
    }
    throw new ProbeError(`ffprobe failed on ${path}: ${reason}`, { details: { reason } });
  }
  let json: FfprobeJson;
  try {
    json = JSON.parse(head.stdout.toString('utf8')) as FfprobeJson;
  } catch (err) {
    throw new ProbeError('ffprobe returned invalid JSON', { cause: err });
  }
  const container = json.format?.format_name ?? '';
  if (/(^|,)(hls|applehttp|concat|dash|ffconcat|tee)(,|$)/.test(container)) {
    // Playlists name further URLs that ffmpeg would fetch: a user file must be media itself.
    throw new NotMediaError(`playlists are not accepted as input (${container}): ${path}`);
  }
  if (headerDurationS(json) === undefined && (json.streams ?? []).length > 0) {
    // Live-written Matroska/WebM (OBS, MediaRecorder) and some MPEG-TS carry no duration: read every
    // packet's timestamps (demux only, no decoding) and take the span from the first to the last.
    const scan = await scanPackets(ffprobe, path, undefined, options.signal);
    const durationS = scan.lastEndS - scan.firstS;
    return parseProbeJson(path, json, durationS > 0 ? durationS : undefined);
  }
  const result = parseProbeJson(path, json);
  await checkComplete(ffprobe, path, result, options.signal);
  return result;
}

/** The duration (s) the container header declares (format, else the longest stream), if any. */
function headerDurationS(json: FfprobeJson): number | undefined {
  const fromFormat = num(json.format?.duration);
  if (fromFormat !== undefined && fromFormat > 0) return fromFormat;
  const fromStreams = Math.max(0, ...(json.streams ?? []).map((s) => num(s.duration) ?? 0));
  return fromStreams > 0 ? fromStreams : undefined;
}

/**
 * The video stream to encode: not cover art (`attached_pic`) or a timed thumbnail track; among the
 * rest, a stream marked default first, then the largest picture, then the lowest index (ffmpeg's own
 * choice is the largest picture).
 */
function pickVideoStream(streams: FfprobeStream[]): FfprobeStream | undefined {
  const candidates = streams.filter(
    (s) =>
      s.codec_type === 'video' &&
      s.disposition?.attached_pic !== 1 &&
      s.disposition?.timed_thumbnails !== 1 &&
      (s.width ?? 0) > 0 &&
      (s.height ?? 0) > 0,
  );
  const score = (s: FfprobeStream): number =>
    (s.disposition?.default === 1 ? 1e12 : 0) + (s.width ?? 0) * (s.height ?? 0);
  return candidates.reduce<FfprobeStream | undefined>(
    (best, s) => (best === undefined || score(s) > score(best) ? s : best),
    undefined,
  );
}

/**
 * Turns ffprobe JSON into a {@link ProbeResult} (pure). Exported for table-driven tests.
 * `packetDurationS` (s) is used when the header declares no duration (from {@link scanPackets}).
 * @throws NotMediaError when no stream is present; NoVideoError when no usable video or audio stream.
 */
export function parseProbeJson(path: string, json: FfprobeJson, packetDurationS?: number): ProbeResult {
  const streams = json.streams ?? [];
  const format = json.format ?? {};
  if (streams.length === 0) throw new NotMediaError(`no streams in ${path}`);
  const fromHeader = headerDurationS(json);
  const durationS = fromHeader ?? packetDurationS ?? Number.NaN;
  const videoStream = pickVideoStream(streams);
  const audio: AudioStreamInfo[] = streams
    .filter((s) => s.codec_type === 'audio' && (s.channels ?? 0) > 0)
    .map((s) => ({
      index: s.index,
      codec: s.codec_name ?? 'unknown',
      profile: s.profile,
      channels: s.channels ?? 0,
      sampleRate: Number(s.sample_rate ?? 0),
      bitRate: num(s.bit_rate),
      durationS: num(s.duration),
    }));
  const video = videoStream ? parseVideo(videoStream) : undefined;
  if (!video && audio.length === 0) throw new NoVideoError(`no decodable video or audio stream in ${path}`);
  if (!(durationS > 0)) throw new NotMediaError(`no duration in ${path} (neither header nor packets)`);
  return {
    path,
    kind: video ? 'video' : 'audio',
    container: format.format_name ?? 'unknown',
    durationS,
    durationFrom: fromHeader !== undefined ? 'header' : 'packets',
    startTimeS: num(format.start_time) ?? 0,
    sizeBytes: Number(format.size ?? 0),
    bitRate: num(format.bit_rate),
    video,
    audio,
  };
}

function parseVideo(s: FfprobeStream): VideoStreamInfo {
  const width = s.width ?? 0;
  const height = s.height ?? 0;
  const sar = parseRatio(s.sample_aspect_ratio, ':') ?? { num: 1, den: 1 };
  const sarOk = sar.num > 0 && sar.den > 0 ? sar : { num: 1, den: 1 };
  const avg = parseRatio(s.avg_frame_rate, '/');
  const real = parseRatio(s.r_frame_rate, '/');
  const frameRate = avg && avg.num > 0 ? avg : real && real.num > 0 ? real : { num: 30, den: 1 };
  const fps = frameRate.num / frameRate.den;
  const rFps = real && real.num > 0 ? real.num / real.den : fps;
  // A real VFR stream has r_frame_rate (the base rate) different from the average rate.
  const vfr = Math.abs(rFps - fps) / fps > 0.01;
  const rotation = parseRotation(s);
  const storedDisplayWidth = Math.round((width * sarOk.num) / sarOk.den);
  const swap = rotation === 90 || rotation === 270;
  const pixFmt = s.pix_fmt ?? 'unknown';
  const transfer = s.color_transfer;
  const hdr: HdrTransfer | undefined =
    transfer === 'smpte2084' ? 'pq' : transfer === 'arib-std-b67' ? 'hlg' : undefined;
  return {
    index: s.index,
    codec: s.codec_name ?? 'unknown',
    profile: s.profile,
    width,
    height,
    sar: sarOk,
    displayAspectRatio: s.display_aspect_ratio,
    rotation,
    displayWidth: swap ? height : storedDisplayWidth,
    displayHeight: swap ? storedDisplayWidth : height,
    frameRate,
    fps,
    vfr,
    pixFmt,
    bitDepth: bitDepthOf(pixFmt, s.bits_per_raw_sample),
    colorTransfer: transfer,
    colorPrimaries: s.color_primaries,
    hdr,
    bitRate: num(s.bit_rate),
    durationS: num(s.duration),
  };
}

/** Clockwise display rotation in degrees (0, 90, 180, 270) from the display matrix or legacy `rotate` tag. */
function parseRotation(s: FfprobeStream): 0 | 90 | 180 | 270 {
  const fromMatrix = s.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation;
  const raw = typeof fromMatrix === 'number' ? fromMatrix : -Number(s.tags?.rotate ?? 0);
  // ffprobe reports the display matrix angle counter-clockwise; players rotate the other way.
  const cw = (((-Math.round(raw / 90) * 90) % 360) + 360) % 360;
  return cw as 0 | 90 | 180 | 270;
}

function bitDepthOf(pixFmt: string, bitsPerRawSample: string | undefined): number {
  // yuv420p10le -> 10, p010le -> 10, yuv444p12be -> 12; 8-bit formats carry no depth suffix.
  const m = /(\d+)(?:le|be)$/.exec(pixFmt);
  const bits = m ? Number(m[1]) : 8;
  if (bits >= 9 && bits <= 16) return bits;
  const raw = Number(bitsPerRawSample ?? 0);
  return raw >= 8 && raw <= 16 ? raw : 8;
}

function parseRatio(value: string | undefined, sep: string): Rational | undefined {
  if (!value) return undefined;
  const [a, b] = value.split(sep);
  const n = Number(a);
  const d = Number(b);
  if (!Number.isFinite(n) || !Number.isFinite(d) || d === 0) return undefined;
  return { num: n, den: d };
}

function num(value: string | number | undefined): number | undefined {
  if (value === undefined || value === 'N/A') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

async function startsWithFtyp(path: string): Promise<boolean> {
  const { open } = await import('node:fs/promises');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(12);
    await fh.read(buf, 0, 12, 0);
    return buf.subarray(4, 8).toString('latin1') === 'ftyp';
  } finally {
    await fh.close();
  }
}

/** First timestamp and last packet end (s, container time base) seen by a packet scan. */
interface PacketScan {
  firstS: number;
  lastEndS: number;
  packets: number;
  stderr: string;
}

/**
 * Lists packet timestamps (demux only, no decoding) from `fromS` (s; undefined: the whole file) with
 * `ffprobe -show_entries packet=pts_time,dts_time,duration_time`. A packet without a pts counts by its
 * dts. When seeking fails (Matroska without cues, sparse keyframes) the scan reads the whole file.
 */
async function scanPackets(
  ffprobe: string,
  path: string,
  fromS: number | undefined,
  signal?: AbortSignal,
): Promise<PacketScan> {
  const interval = fromS !== undefined && fromS > 0 ? ['-read_intervals', `${fromS.toFixed(3)}%`] : [];
  const out = await runProcess(
    ffprobe,
    [
      '-v',
      'error',
      ...interval,
      '-show_entries',
      'packet=pts_time,dts_time,duration_time',
      '-of',
      'csv=p=0',
      ...LOCAL_ONLY,
      ...PROBE_MAX_PIXELS,
      '-i',
      localUrl(path),
    ],
    { signal, captureStdout: true },
  );
  let firstS = Number.POSITIVE_INFINITY;
  let lastEndS = Number.NEGATIVE_INFINITY;
  let packets = 0;
  for (const line of out.stdout.toString('utf8').split('\n')) {
    const [pts, dts, dur] = line.split(',');
    const at = num(pts) ?? num(dts);
    if (at === undefined) continue;
    packets++;
    firstS = Math.min(firstS, at);
    lastEndS = Math.max(lastEndS, at + (num(dur) ?? 0));
  }
  if (interval.length > 0 && (packets === 0 || /Could not (seek|read packets)/i.test(out.stderr))) {
    return scanPackets(ffprobe, path, undefined, signal);
  }
  return packets === 0
    ? { firstS: 0, lastEndS: 0, packets, stderr: out.stderr }
    : { firstS, lastEndS, packets, stderr: out.stderr };
}

/**
 * Reads the packets of the last few seconds (demux only, no decoding) and checks that they reach the
 * declared duration: a file whose header is intact but whose data was cut short (an interrupted
 * download) passes the header probe yet would fail half-way through a long encode. Timestamps are
 * taken relative to the container's start time (MPEG-TS starts at 1.4 s, edit lists start below 0).
 */
async function checkComplete(
  ffprobe: string,
  path: string,
  p: ProbeResult,
  signal?: AbortSignal,
): Promise<void> {
  const scan = await scanPackets(ffprobe, path, p.startTimeS + p.durationS - 5, signal);
  const lastEnd = scan.lastEndS - Math.min(p.startTimeS, scan.packets > 0 ? scan.firstS : p.startTimeS);
  const marker = /partial file|ended prematurely|truncat|Invalid NAL unit size|error reading/i.test(
    scan.stderr,
  );
  const shortBy = p.durationS - lastEnd;
  if (marker || shortBy > Math.max(1, p.durationS * 0.05)) {
    throw new TruncatedMediaError(
      `input is truncated: data ends at ${lastEnd.toFixed(2)} s of ${p.durationS.toFixed(2)} s: ${path}`,
      { details: { lastPacketEndS: lastEnd, durationS: p.durationS, reason: summarizeStderr(scan.stderr) } },
    );
  }
}

/** The subset of ffprobe's JSON output this module reads. */
export interface FfprobeJson {
  streams?: FfprobeStream[];
  format?: {
    format_name?: string;
    duration?: string;
    start_time?: string;
    size?: string;
    bit_rate?: string;
  };
}

export interface FfprobeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  display_aspect_ratio?: string;
  pix_fmt?: string;
  bits_per_raw_sample?: string;
  color_transfer?: string;
  color_primaries?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  duration?: string;
  bit_rate?: string;
  channels?: number;
  sample_rate?: string;
  tags?: Record<string, string>;
  disposition?: Record<string, number>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
}

import { ProbeError } from './errors.js';
import { runProcess, summarizeStderr } from './process.js';

/** Output video codecs a ladder rendition may name (issue #17); `h264` is the only one encoded today. */
export const VIDEO_CODECS = ['h264', 'hevc', 'vp9', 'av1'] as const;
export type VideoCodec = (typeof VIDEO_CODECS)[number];

/**
 * ffmpeg encoder names per output codec: the software encoder first, then NVENC, VAAPI and QSV.
 * Software: libx264, libx265, libvpx-vp9, libsvtav1 (SVT-AV1; libaom is too slow for a ladder).
 */
export const ENCODERS: Record<VideoCodec, { software: string; hardware: string[] }> = {
  h264: { software: 'libx264', hardware: ['h264_nvenc', 'h264_vaapi', 'h264_qsv'] },
  hevc: { software: 'libx265', hardware: ['hevc_nvenc', 'hevc_vaapi', 'hevc_qsv'] },
  vp9: { software: 'libvpx-vp9', hardware: ['vp9_vaapi', 'vp9_qsv'] },
  av1: { software: 'libsvtav1', hardware: ['av1_nvenc', 'av1_vaapi', 'av1_qsv'] },
};

/** What this ffmpeg build can encode: per codec, the encoders compiled in. */
export interface CodecReport {
  /** Codecs whose software encoder is present (always usable: no device needed). */
  software: VideoCodec[];
  /** Compiled-in hardware encoders per codec; usable only where detectHwaccel's test encode passes. */
  hardware: Partial<Record<VideoCodec, string[]>>;
  /** AAC-LC (ffmpeg's native `aac`) is present. */
  aac: boolean;
}

/**
 * Parses `ffmpeg -hide_banner -encoders` (one ` V..... name  description` line per encoder) into a
 * {@link CodecReport} (pure).
 */
export function parseEncoderList(text: string): CodecReport {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^ [VAS][.A-Z]{5} (\S+)/.exec(line);
    if (m && m[1] !== '=') names.add(m[1]!);
  }
  const software = VIDEO_CODECS.filter((c) => names.has(ENCODERS[c].software));
  const hardware: CodecReport['hardware'] = {};
  for (const c of VIDEO_CODECS) {
    const found = ENCODERS[c].hardware.filter((e) => names.has(e));
    if (found.length > 0) hardware[c] = found;
  }
  return { software, hardware, aac: names.has('aac') };
}

/**
 * Lists the output codecs this machine's ffmpeg can encode (`ffmpeg -encoders`), for an encoder
 * node's capability advertisement. Hardware encoders are only compiled in here: whether a device
 * runs them is {@link detectHwaccel}'s test encode.
 * @throws FfmpegMissingError without ffmpeg; ProbeError when ffmpeg fails
 */
export async function detectCodecs(options: { signal?: AbortSignal } = {}): Promise<CodecReport> {
  const out = await runProcess('ffmpeg', ['-hide_banner', '-encoders'], {
    signal: options.signal,
    captureStdout: true,
  });
  if (out.code !== 0) throw new ProbeError(`ffmpeg -encoders failed: ${summarizeStderr(out.stderr)}`);
  return parseEncoderList(out.stdout.toString('utf8'));
}

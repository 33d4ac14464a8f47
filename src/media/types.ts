/**
 * Terminology of the media pipeline.
 * - source: the input file, described by a {@link ProbeResult}.
 * - rendition: one encoded quality level of the output (e.g. `720p`): its own media playlist and segments.
 * - ladder: the set of renditions of one job; the master playlist lists them as variants (RFC 8216 §4.3.4.2).
 * - plan: the pure description of what to encode ({@link LadderPlan}), built from probe + options.
 * - backend: the encoder family that runs the plan: `libx264` is the CPU (software) backend for every
 *   codec (libx264, libx265, libsvtav1, libvpx-vp9), the others a GPU API (NVENC, VAAPI, QSV).
 *
 * Units: durations in seconds (`…S`), timeouts in milliseconds (`…Ms`), bitrates in bits per second,
 * sizes in bytes.
 */

/** An exact ratio (frame rates such as 30000/1001, sample aspect ratios such as 2:1). */
export interface Rational {
  num: number;
  den: number;
}

export type HdrTransfer = 'pq' | 'hlg';

export interface VideoStreamInfo {
  /** Stream index in the container. */
  index: number;
  codec: string;
  profile: string | undefined;
  /** Stored (coded) size in pixels, before sample aspect ratio and rotation. */
  width: number;
  height: number;
  sar: Rational;
  displayAspectRatio: string | undefined;
  /** Clockwise rotation players apply from the display matrix: 0, 90, 180 or 270 degrees. */
  rotation: 0 | 90 | 180 | 270;
  /** Size as displayed: square pixels, rotation applied. */
  displayWidth: number;
  displayHeight: number;
  /** Average frame rate (exact) and its value in frames/s. */
  frameRate: Rational;
  fps: number;
  /** Variable frame rate (the base rate differs from the average). */
  vfr: boolean;
  pixFmt: string;
  bitDepth: number;
  colorTransfer: string | undefined;
  colorPrimaries: string | undefined;
  /** HDR transfer function when PQ (SMPTE ST 2084) or HLG (ARIB STD-B67). */
  hdr: HdrTransfer | undefined;
  bitRate: number | undefined;
  durationS: number | undefined;
}

export interface AudioStreamInfo {
  index: number;
  codec: string;
  profile: string | undefined;
  channels: number;
  /** Hz. */
  sampleRate: number;
  bitRate: number | undefined;
  durationS: number | undefined;
}

/** What `probe()` learned about a source. */
export interface ProbeResult {
  path: string;
  /** `audio`: no video stream (valid input: gives an audio-only HLS rendition). */
  kind: 'video' | 'audio';
  /** ffprobe's format_name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  container: string;
  /** Duration, s: declared by the container header, else measured from the packets (live-written MKV). */
  durationS: number;
  /** Where `durationS` came from. */
  durationFrom: 'header' | 'packets';
  /** The container's first timestamp, s (MPEG-TS often 1.4; negative with some edit lists). */
  startTimeS: number;
  sizeBytes: number;
  bitRate: number | undefined;
  video: VideoStreamInfo | undefined;
  audio: AudioStreamInfo[];
}

/** Encoder backends in fallback order (the SPK blueprint's order); `libx264` is the software one. */
export const BACKENDS = ['nvenc', 'vaapi', 'qsv', 'libx264'] as const;
export type Backend = (typeof BACKENDS)[number];

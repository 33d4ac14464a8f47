import {
  ALL_FORMATS,
  BlobSource,
  BufferTarget,
  CmafOutputFormat,
  Conversion,
  canEncodeAudio,
  HlsOutputFormat,
  Input,
  Output,
  PathedTarget,
} from 'mediabunny';
import type { EncodePlan } from '../../../src/protocol/wire.js';

/**
 * The browser encoder's transcode (docs/encoders.md, "Browser encoder"): one source → one H.264 fMP4
 * HLS rendition per the coordinator's plan, in memory. mediabunny demuxes, resizes, muxes CMAF
 * segments and writes the playlists; WebCodecs decodes and encodes. Keyframes are forced every
 * segment duration, so every segment starts with one (RFC 8216 §6.2.1 alignment, and what the
 * verifier's per-segment decode needs). Audio: the source's AAC is copied (this Chromium has no AAC
 * encoder), any other audio is encoded to Opus; the master's CODECS names what was written.
 */

/** One output file: its path relative to the master playlist, and its bytes. */
export interface OutputFile {
  path: string;
  bytes: Uint8Array;
}

export interface TranscodeResult {
  files: OutputFile[];
  /** Path of the master playlist (`master.m3u8`). */
  master: string;
  /** The one rendition written, with what its master entry declares. */
  rendition: {
    name: string;
    width: number;
    height: number;
    /** RFC 6381 codecs of the variant, e.g. `avc1.640016,mp4a.40.2` or `avc1.640016,Opus`. */
    codecs: string;
    /** BANDWIDTH (peak segment bitrate), bits/s. */
    bandwidth: number;
    /** AVERAGE-BANDWIDTH, bits/s. */
    averageBandwidth: number;
    frameRate: number;
    durationS: number;
    segments: number;
    bytes: number;
    playlist: string;
  };
  /** What the audio became: copied AAC, encoded Opus, or none (no audio in the source). */
  audio: 'aac-copy' | 'opus' | 'none';
  /** Wall seconds of the transcode and its speed (× real time). */
  wallS: number;
  speed: number;
}

/** Thrown when the source cannot be encoded here (no video track, codec not decodable, …); not retryable. */
export class TranscodeInputError extends Error {
  readonly code = 'unsupported_source';
}

/**
 * Transcodes `source` to the plan's first H.264 rendition as fMP4 HLS under `<name>/`: `init.mp4`,
 * `seg_<n>.m4s`, `index.m3u8`, and `master.m3u8` at the root. `onProgress(fraction 0..1, sourceS)`.
 * Throws {@link TranscodeInputError} for sources it cannot read, `ConversionCanceledError` on `signal`.
 */
export async function transcodeToHls(
  source: Blob,
  plan: EncodePlan,
  options: { onProgress?: (fraction: number, sourceS: number) => void; signal?: AbortSignal } = {},
): Promise<TranscodeResult> {
  const r = plan.renditions.find((x) => x.codec === 'h264');
  if (!r) throw new TranscodeInputError('the plan has no H.264 rendition');
  const started = performance.now();
  const input = new Input({ source: new BlobSource(source), formats: ALL_FORMATS });
  const videoTrack = await input.getPrimaryVideoTrack();
  if (!videoTrack) throw new TranscodeInputError('the source has no video track');
  const audioTrack = await input.getPrimaryAudioTrack();
  let audio: TranscodeResult['audio'] = 'none';
  if (audioTrack) {
    if (audioTrack.codec === 'aac') audio = 'aac-copy';
    else if (await canEncodeAudio('opus')) audio = 'opus';
  }

  const written = new Map<string, BufferTarget>();
  const output = new Output({
    format: new HlsOutputFormat({
      segmentFormat: new CmafOutputFormat(),
      targetDuration: plan.segmentDurationS,
      getPlaylistPath: () => `${r.name}/index.m3u8`,
      getInitPath: () => 'init.mp4',
      getSegmentPath: ({ n }) => `seg_${String(n - 1).padStart(3, '0')}.m4s`,
    }),
    target: new PathedTarget('master.m3u8', (req) => {
      const t = new BufferTarget();
      written.set(req.path, t);
      return t;
    }),
  });
  const conversion = await Conversion.init({
    input,
    output,
    tracks: 'primary',
    trim: { start: 0, end: plan.durationS },
    video: {
      codec: 'avc',
      width: r.width,
      height: r.height,
      fit: 'fill',
      frameRate: plan.fps,
      bitrate: r.videoBitrate,
      keyFrameInterval: plan.segmentDurationS,
      forceTranscode: true,
    },
    audio:
      audio === 'aac-copy'
        ? {}
        : audio === 'opus'
          ? // Opus runs at 48 kHz whatever the input (RFC 7845 §5.1): resampled here, so the sample
            // entry says 48000 as Opus in ISOBMFF requires (Chromium's MSE refuses anything else).
            {
              codec: 'opus',
              bitrate: plan.audio?.bitrate ?? 128_000,
              sampleRate: 48_000,
              numberOfChannels: 2,
            }
          : { discard: true },
    showWarnings: false,
  });
  if (!conversion.isValid) {
    const why = conversion.discardedTracks.map((d) => `${d.track.type}: ${d.reason}`).join('; ');
    throw new TranscodeInputError(`the source cannot be transcoded here (${why})`);
  }
  if (options.onProgress) conversion.onProgress = options.onProgress;
  const onAbort = () => void conversion.cancel();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await conversion.execute();
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  const wallS = (performance.now() - started) / 1000;

  const files: OutputFile[] = [];
  for (const [path, target] of written) {
    if (target.buffer) files.push({ path: normalize(path), bytes: new Uint8Array(target.buffer) });
  }
  const playlist = `${r.name}/index.m3u8`;
  const text = (path: string) => {
    const file = files.find((f) => f.path === path);
    if (!file) throw new Error(`mediabunny wrote no ${path}`);
    return new TextDecoder().decode(file.bytes);
  };
  // What mediabunny measured and declared (RFC 8216 §4.3.4.2): the result repeats the master's values.
  const master = text('master.m3u8');
  const attr = (name: string) => new RegExp(`[:,]${name}=("([^"]*)"|[^,\\s]*)`).exec(master);
  const number = (name: string) => Number(attr(name)?.[1] ?? 0);
  const extinf = [...text(playlist).matchAll(/^#EXTINF:([\d.]+)/gm)].map((m) => Number(m[1]));
  const durationS = extinf.reduce((n, d) => n + d, 0);
  return {
    files,
    master: 'master.m3u8',
    rendition: {
      name: r.name,
      width: r.width,
      height: r.height,
      codecs: attr('CODECS')?.[2] ?? '',
      bandwidth: number('BANDWIDTH'),
      averageBandwidth: number('AVERAGE-BANDWIDTH'),
      frameRate: plan.fps,
      durationS,
      segments: extinf.length,
      bytes: files.filter((f) => f.path.startsWith(`${r.name}/`)).reduce((n, f) => n + f.bytes.length, 0),
      playlist,
    },
    audio,
    wallS,
    speed: durationS / Math.max(wallS, 1e-3),
  };
}

/** `a/./b` → `a/b` (mediabunny joins relative paths onto the playlist's folder). */
function normalize(path: string): string {
  return path
    .split('/')
    .filter((p) => p !== '.' && p !== '')
    .join('/');
}

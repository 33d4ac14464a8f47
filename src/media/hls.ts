import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import HLS from 'hls-parser';
import { videoCodecsFromInit } from './codec-string.js';
import { EncodeError } from './errors.js';
import { runProcess, summarizeStderr } from './process.js';

/** One finished rendition as listed in the master playlist and in job results. */
export interface RenditionResult {
  name: string;
  kind: 'video' | 'audio';
  /** Pixels as displayed (after rotation); undefined for audio-only. */
  width: number | undefined;
  height: number | undefined;
  /** Peak segment bitrate, bits/s (RFC 8216 §4.3.4.2 BANDWIDTH). */
  bandwidth: number;
  /** Average bitrate over the whole rendition, bits/s (AVERAGE-BANDWIDTH). */
  averageBandwidth: number;
  /** RFC 6381 codecs of the produced streams, e.g. `avc1.64001f,mp4a.40.2`. */
  codecs: string;
  /** Frames per second of the produced video; undefined for audio-only. */
  frameRate: number | undefined;
  /** Sum of the segment durations, seconds. */
  durationS: number;
  /** Bytes of every file of the rendition (segments, init segment, playlist). */
  bytes: number;
  segments: number;
  /** Media playlist, relative to the output folder (forward slashes). */
  playlist: string;
  /** Progressive MP4 copy, relative to the output folder, when requested. */
  mp4?: string;
}

/** Segment sizes and durations of a media playlist as written on disk. */
export interface PlaylistMeasure {
  segments: Array<{ uri: string; durationS: number; bytes: number }>;
  durationS: number;
  /** Total bytes: segments + init segment + playlist. */
  bytes: number;
  /** max over segments of bytes × 8 / duration (the init segment is added to the first, as a player loads both). */
  peakBitrate: number;
  /** total bytes × 8 / total duration. */
  averageBitrate: number;
}

/**
 * A media playlist with `#EXT-X-TARGETDURATION:0` raised to 1 (pure). ffmpeg writes 0 when every
 * segment is under half a second (a 1-frame video); RFC 8216 §4.3.3.1 allows it (EXTINF rounded ≤
 * target), but hls-parser rejects it and players divide reload intervals by it. Other text unchanged.
 */
export function fixZeroTargetDuration(text: string): string {
  return text.replace(/^#EXT-X-TARGETDURATION:0(\r?)$/m, '#EXT-X-TARGETDURATION:1$1');
}

/**
 * Measures a media playlist's segments on disk (RFC 8216 §4.3.4.2: BANDWIDTH is the peak segment
 * bitrate, AVERAGE-BANDWIDTH the average over the playlist).
 * @throws EncodeError when the playlist is missing, malformed or not VOD-complete.
 */
export async function measurePlaylist(playlistPath: string): Promise<PlaylistMeasure> {
  const text = await readFile(playlistPath, 'utf8').catch((err: unknown) => {
    throw new EncodeError(`media playlist missing: ${playlistPath}`, { cause: err });
  });
  const parsed = HLS.parse(text);
  if (parsed.isMasterPlaylist) throw new EncodeError(`expected a media playlist: ${playlistPath}`);
  const media = parsed as InstanceType<typeof HLS.types.MediaPlaylist>;
  if (!media.endlist || media.segments.length === 0) {
    throw new EncodeError(`media playlist incomplete: ${playlistPath}`);
  }
  const dir = dirname(playlistPath);
  const initUri = media.segments[0]?.map?.uri;
  const initBytes = initUri ? (await stat(join(dir, initUri))).size : 0;
  const segments = [];
  for (const s of media.segments)
    segments.push({ uri: s.uri, durationS: s.duration, bytes: (await stat(join(dir, s.uri))).size });
  const durationS = segments.reduce((a, s) => a + s.durationS, 0);
  const segBytes = segments.reduce((a, s) => a + s.bytes, 0);
  let peak = 0;
  segments.forEach((s, i) => {
    const bits = (s.bytes + (i === 0 ? initBytes : 0)) * 8;
    if (s.durationS > 0) peak = Math.max(peak, bits / s.durationS);
  });
  const total = segBytes + initBytes;
  return {
    segments,
    durationS,
    bytes: total + Buffer.byteLength(text),
    peakBitrate: Math.ceil(peak),
    averageBitrate: durationS > 0 ? Math.ceil((total * 8) / durationS) : 0,
  };
}

/**
 * The RFC 6381 `avc1.PPCCLL` string of an H.264 stream from its sequence parameter set: profile_idc,
 * the constraint-flags byte and level_idc (ITU-T H.264 §7.3.2.1.1), as hex. `avc` bytes are an Annex B
 * bitstream (start codes); returns undefined when it holds no SPS.
 */
export function avcCodecFromAnnexB(avc: Buffer): string | undefined {
  for (let i = 0; i + 4 < avc.length; i++) {
    if (avc[i] === 0 && avc[i + 1] === 0 && avc[i + 2] === 1 && ((avc[i + 3] ?? 0) & 0x1f) === 7) {
      // profile, constraint and level bytes cannot need emulation prevention (profile_idc is never 0).
      const bytes = avc.subarray(i + 4, i + 7);
      if (bytes.length < 3) return undefined;
      return `avc1.${bytes.toString('hex')}`;
    }
  }
  return undefined;
}

/** What ffprobe sees in a produced rendition (read through its media playlist). */
export interface ProducedStreams {
  width: number | undefined;
  height: number | undefined;
  frameRate: number | undefined;
  videoCodecs: string | undefined;
  audioCodecs: string | undefined;
}

/**
 * Inspects the produced streams of a rendition: real size and frame rate (ffprobe), the exact
 * `avc1.PPCCLL` from the first SPS (ffmpeg copies the first video packet out as Annex B), HEVC, AV1
 * and VP9 (fMP4 only) from the init segment's decoder configuration record (`hvc1.…`, `av01.…`,
 * `vp09.…`, see codec-string.ts), and `mp4a.40.2` for AAC-LC audio (RFC 6381 §3.3; 40 = MPEG-4
 * audio, 2 = LC object type).
 */
export async function inspectRendition(playlistPath: string, signal?: AbortSignal): Promise<ProducedStreams> {
  const pr = await runProcess(
    'ffprobe',
    [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_type,codec_name,profile,width,height,avg_frame_rate',
      '-of',
      'json',
      playlistPath,
    ],
    { signal, captureStdout: true },
  );
  if (pr.code !== 0) throw new EncodeError(`cannot probe produced rendition: ${summarizeStderr(pr.stderr)}`);
  const streams =
    (JSON.parse(pr.stdout.toString('utf8')) as { streams?: Array<Record<string, string | number>> })
      .streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video');
  const a = streams.find((s) => s.codec_type === 'audio');
  let videoCodecs: string | undefined;
  if (v && v.codec_name !== 'h264') {
    const text = await readFile(playlistPath, 'utf8');
    const map = /^#EXT-X-MAP:.*URI="([^"]+)"/m.exec(text)?.[1];
    if (!map || /[/\\]|^\.\.?$/.test(map))
      throw new EncodeError(
        `${v.codec_name} rendition without an fMP4 init segment beside it: ${playlistPath}`,
      );
    const init = await readFile(join(dirname(playlistPath), map));
    try {
      videoCodecs = videoCodecsFromInit(init);
    } catch (err) {
      throw new EncodeError(`cannot read the codec of ${playlistPath}: ${(err as Error).message}`);
    }
  } else if (v) {
    const raw = await runProcess(
      'ffmpeg',
      [
        '-v',
        'error',
        '-i',
        playlistPath,
        '-map',
        '0:v:0',
        '-c',
        'copy',
        '-bsf:v',
        'h264_mp4toannexb',
        '-frames:v',
        '1',
        '-f',
        'h264',
        'pipe:1',
      ],
      { signal, captureStdout: true },
    );
    videoCodecs = avcCodecFromAnnexB(raw.stdout);
    if (!videoCodecs) throw new EncodeError(`no H.264 SPS in produced rendition ${playlistPath}`);
  }
  let audioCodecs: string | undefined;
  if (a) {
    if (a.codec_name !== 'aac')
      throw new EncodeError(`unexpected audio codec ${a.codec_name} in ${playlistPath}`);
    audioCodecs = a.profile === 'HE-AAC' ? 'mp4a.40.5' : 'mp4a.40.2';
  }
  const [fn, fd] = String(v?.avg_frame_rate ?? '0/0')
    .split('/')
    .map(Number);
  return {
    width: v ? Number(v.width) : undefined,
    height: v ? Number(v.height) : undefined,
    frameRate: fn && fd ? fn / fd : undefined,
    videoCodecs,
    audioCodecs,
  };
}

/**
 * Writes the master playlist (RFC 8216 §4.3.4.2) listing `renditions` in the given order (highest
 * first), atomically (temp file + rename) so players never read half a file. Used after an encode and
 * to rebuild the master after re-running one rendition.
 *
 * @param fileName `master.m3u8` (vidmesh layout) or `manifest.m3u8` (3speak layout)
 * @returns the absolute path written
 */
export async function writeMasterPlaylist(
  outDir: string,
  renditions: RenditionResult[],
  options: { fileName?: string; format?: 'ts' | 'fmp4' } = {},
): Promise<string> {
  const text = masterPlaylistText(renditions, options.format ?? 'ts');
  const path = join(outDir, options.fileName ?? 'master.m3u8');
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
  return path;
}

/**
 * The master playlist text (pure). With video-only renditions (no audio codec in their CODECS)
 * beside an audio rendition (the CMAF
 * layout written for DASH), the audio is an `EXT-X-MEDIA` audio group (RFC 8216 §4.3.4.1) that every
 * variant names (`AUDIO="audio"`), its codec added to each variant's CODECS and its peak and average
 * bitrates to BANDWIDTH and AVERAGE-BANDWIDTH (§4.3.4.2: every rendition that plays together).
 */
export function masterPlaylistText(renditions: RenditionResult[], format: 'ts' | 'fmp4'): string {
  const { MasterPlaylist, Variant, Rendition } = HLS.types;
  const audio = renditions.find((r) => r.kind === 'audio');
  const video = renditions.filter((r) => r.kind === 'video');
  // Video renditions without an audio track of their own (read from the streams) play with the audio one.
  const group =
    audio && video.length > 0 && video.every((r) => !r.codecs.includes('mp4a.'))
      ? new Rendition({
          type: 'AUDIO',
          uri: posix.normalize(audio.playlist),
          groupId: 'audio',
          name: 'audio',
          language: undefined,
          isDefault: true,
          autoselect: true,
          forced: false,
          channels: '2',
        })
      : undefined;
  const variants = (group ? video : renditions).map(
    (r) =>
      new Variant({
        uri: posix.normalize(r.playlist),
        bandwidth: r.bandwidth + (group ? audio!.bandwidth : 0),
        averageBandwidth: r.averageBandwidth + (group ? audio!.averageBandwidth : 0),
        codecs: group ? `${r.codecs},${audio!.codecs}` : r.codecs,
        resolution: r.width && r.height ? { width: r.width, height: r.height } : undefined,
        frameRate: r.frameRate !== undefined ? Math.round(r.frameRate * 1000) / 1000 : undefined,
        ...(group ? { audio: [group] } : {}),
      }),
  );
  // Version 7 matches the fMP4 media playlists ffmpeg writes; MPEG-TS needs nothing beyond 3.
  return HLS.stringify(
    new MasterPlaylist({ version: format === 'fmp4' ? 7 : 3, independentSegments: true, variants }),
  );
}

/**
 * Describes a finished rendition from its files: measured BANDWIDTH/AVERAGE-BANDWIDTH, bytes and
 * segments ({@link measurePlaylist}), true size, frame rate and exact CODECS ({@link inspectRendition}).
 * @throws EncodeError when the playlist is missing, incomplete, or its streams cannot be read
 */
export async function describeRendition(
  outDir: string,
  name: string,
  kind: 'video' | 'audio',
  playlist: string,
  signal?: AbortSignal,
): Promise<RenditionResult> {
  const path = join(outDir, playlist);
  const [m, s] = await Promise.all([measurePlaylist(path), inspectRendition(path, signal)]);
  const codecs = [s.videoCodecs, s.audioCodecs].filter((c): c is string => c !== undefined).join(',');
  return {
    name,
    kind,
    width: s.width,
    height: s.height,
    bandwidth: m.peakBitrate,
    averageBandwidth: m.averageBitrate,
    codecs,
    frameRate: s.frameRate,
    durationS: m.durationS,
    bytes: m.bytes,
    segments: m.segments.length,
    playlist,
  };
}

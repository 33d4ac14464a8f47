import { join } from 'node:path';
import type { VideoCodec } from './codecs.js';
import { LOCAL_ONLY, localUrl } from './input.js';
import { type LadderPlan, type PlannedVideoRendition, separateAudio } from './ladder.js';
import type { Backend } from './types.js';

/** Where one run writes (a staging folder) and which device a hardware backend uses. */
export interface FfmpegPaths {
  /** Folder receiving `<rendition>/index.m3u8` and the segments. */
  outDir: string;
  /** VAAPI render node (default /dev/dri/renderD128). */
  vaapiDevice?: string;
}

/** Where a rendition's files go inside the output folder, per layout. */
export interface RenditionLayout {
  /** Media playlist, relative to the output folder (forward slashes). */
  playlist: string;
  /** ffmpeg segment filename pattern, relative to the output folder. */
  segmentPattern: string;
  /** fMP4 init segment, relative to the rendition's folder. */
  initName: string;
}

/** Master playlist file name of a layout (`3speak` players expect `manifest.m3u8`). */
export function masterName(layout: LadderPlan['layout']): string {
  return layout === '3speak' ? 'manifest.m3u8' : 'master.m3u8';
}

/** File names of one rendition (pure). */
export function renditionLayout(plan: Pick<LadderPlan, 'layout' | 'format'>, name: string): RenditionLayout {
  const ext = plan.format === 'fmp4' ? 'm4s' : 'ts';
  const segment = plan.layout === '3speak' ? `${name}_%d.${ext}` : `seg_%05d.${ext}`;
  return { playlist: `${name}/index.m3u8`, segmentPattern: `${name}/${segment}`, initName: 'init.mp4' };
}

/**
 * How one backend decodes, scales and encodes. A small exhaustive registry (one entry per
 * {@link Backend}) in place of a class hierarchy: the compiler demands every hook for every backend.
 */
interface BackendProfile {
  /** Options before `-i` (device setup, hardware decoding). */
  inputArgs(hwDecode: boolean, paths: FfmpegPaths): string[];
  /** Filters turning decoded (software) frames into frames this backend's scaler takes. */
  upload(hwDecode: boolean): string[];
  scale(r: PlannedVideoRendition): string;
  encoder(r: PlannedVideoRendition, plan: LadderPlan): string[];
  /** Whether the source can be decoded on the device (else: software decode + upload). */
  canHwDecode(plan: LadderPlan): boolean;
}

const kbps = (bits: number): string => `${Math.round(bits / 1000)}k`;

/**
 * Rate control of one rendition. Target bitrate (cbr): `-b:v` with the VBV peak and buffer. Capped
 * CRF: constant quality under the same VBV caps, so the peak rate never exceeds the fixed ladder's:
 * libx264 `-crf`; NVENC constant quality `-cq` with `-b:v 0`. VAAPI and QSV keep the target bitrate
 * (their quality modes, QVBR/ICQ, are driver-dependent and unverified without the hardware).
 */
function rateControl(r: PlannedVideoRendition, backend: Backend): string[] {
  const caps = ['-maxrate', kbps(r.maxrate), '-bufsize', kbps(r.bufsize)];
  // libvpx-vp9's constrained quality takes the cap as -b:v (its -crf alone is unconstrained).
  if (r.crf !== undefined && backend === 'libx264' && r.codec === 'vp9')
    return ['-crf', String(r.crf), '-b:v', kbps(r.maxrate), ...caps];
  if (r.crf !== undefined && backend === 'libx264') return ['-crf', String(r.crf), ...caps];
  if (r.crf !== undefined && backend === 'nvenc')
    return ['-cq', String(Math.round(r.crf)), '-b:v', '0', ...caps];
  return ['-b:v', kbps(r.videoBitrate), ...caps];
}

/** Keyframes exactly at segment boundaries (by time, so they align across renditions). */
function keyframeArgs(plan: LadderPlan): string[] {
  const gop = String(plan.video!.gopFrames);
  return ['-g', gop, '-force_key_frames', `expr:gte(t,n_forced*${plan.segmentDuration})`];
}

// x264 speed names to NVENC p1 (fastest) … p7 (best), https://docs.nvidia.com/video-technologies/.
const NVENC_PRESET: Record<LadderPlan['speed'], string> = {
  ultrafast: 'p1',
  superfast: 'p1',
  veryfast: 'p2',
  faster: 'p3',
  fast: 'p4',
  medium: 'p5',
  slow: 'p6',
  slower: 'p7',
  veryslow: 'p7',
};

/**
 * Tone mapping and conversion need the CPU filters; only plain 8-bit 4:2:0 unrotated SDR decodes on
 * the device (NVDEC has no H.264 4:2:2/4:4:4, and its 4:4:4 HEVC output is not what scale_cuda takes).
 */
const plainSource = (plan: LadderPlan): boolean =>
  plan.video !== undefined &&
  plan.video.rotation === 0 &&
  !plan.video.tonemap &&
  !plan.video.highBitDepth &&
  plan.video.chroma === '420';

/**
 * ffmpeg encoder of each hardware backend per codec (issue #17's cascade): NVENC H.264/HEVC/AV1
 * (AV1 from Ada GPUs), VAAPI H.264/HEVC, QSV H.264/HEVC/AV1 (AV1 from Arc). VP9 is software only.
 * The software backend (`libx264`) has every codec.
 */
export const HARDWARE_ENCODERS: Record<Exclude<Backend, 'libx264'>, Partial<Record<VideoCodec, string>>> = {
  nvenc: { h264: 'h264_nvenc', hevc: 'hevc_nvenc', av1: 'av1_nvenc' },
  vaapi: { h264: 'h264_vaapi', hevc: 'hevc_vaapi' },
  qsv: { h264: 'h264_qsv', hevc: 'hevc_qsv', av1: 'av1_qsv' },
};

/** Whether `backend` can encode every codec in `codecs` (pure). The software backend can. */
export function backendSupports(backend: Backend, codecs: Iterable<VideoCodec>): boolean {
  if (backend === 'libx264') return true;
  for (const c of codecs) if (!HARDWARE_ENCODERS[backend][c]) return false;
  return true;
}

function hardwareEncoder(backend: Exclude<Backend, 'libx264'>, codec: VideoCodec): string {
  const name = HARDWARE_ENCODERS[backend][codec];
  if (!name) throw new TypeError(`backend ${backend} has no ${codec} encoder`);
  return name;
}

/**
 * Profile/level flags of NVENC and VAAPI: H.264's planned profile and level; HEVC Main tagged `hvc1`
 * (the sample entry Apple players require in fMP4); AV1 Main (the encoders' default).
 */
function profileLevel(r: PlannedVideoRendition): string[] {
  if (r.codec === 'h264') return ['-profile:v', r.profile, '-level:v', r.level!];
  if (r.codec === 'hevc') return ['-profile:v', 'main', '-tag:v', 'hvc1'];
  return [];
}

// x264 speed names to SVT-AV1 presets (13 fastest … 0) and libvpx-vp9 `-cpu-used` (5 fastest at
// `-deadline good` … 0); the pairs keep about x264's relative cost.
export const SVTAV1_PRESET: Record<LadderPlan['speed'], string> = {
  ultrafast: '12',
  superfast: '11',
  veryfast: '10',
  faster: '9',
  fast: '8',
  medium: '7',
  slow: '6',
  slower: '5',
  veryslow: '4',
};
export const VP9_CPU_USED: Record<LadderPlan['speed'], string> = {
  ultrafast: '5',
  superfast: '5',
  veryfast: '5',
  faster: '4',
  fast: '3',
  medium: '2',
  slow: '1',
  slower: '0',
  veryslow: '0',
};

/**
 * Software encoder argv per codec. Every one gets the fixed GOP and time-forced keyframes of
 * {@link keyframeArgs} and no scene-cut keyframes, so segments align across codecs in a mixed ladder:
 * libx264 (`-sc_threshold 0`); libx265 (`scenecut=0`, closed GOPs, forced keyframes as IDR, `hvc1`
 * sample entry); libsvtav1 (`scd=0`: its key frames come every `-g` frames); libvpx-vp9 (`-row-mt 1`
 * so two cores both work on one rendition).
 */
const SOFTWARE_ENCODERS: Record<VideoCodec, (r: PlannedVideoRendition, plan: LadderPlan) => string[]> = {
  h264: (r, plan) => [
    ...['-c:v', 'libx264', '-preset', plan.speed, '-profile:v', r.profile, '-level:v', r.level!],
    ...['-pix_fmt', 'yuv420p', ...rateControl(r, 'libx264'), ...keyframeArgs(plan)],
    ...['-keyint_min', String(plan.video!.gopFrames), '-sc_threshold', '0'],
  ],
  hevc: (r, plan) => [
    ...['-c:v', 'libx265', '-preset', plan.speed, '-profile:v', 'main', '-tag:v', 'hvc1'],
    ...['-pix_fmt', 'yuv420p', ...rateControl(r, 'libx264'), ...keyframeArgs(plan)],
    ...['-keyint_min', String(plan.video!.gopFrames), '-forced-idr', '1'],
    ...['-x265-params', 'scenecut=0:open-gop=0:log-level=error'],
  ],
  av1: (r, plan) => [
    ...['-c:v', 'libsvtav1', '-preset', SVTAV1_PRESET[plan.speed], '-pix_fmt', 'yuv420p'],
    ...rateControl(r, 'libx264'),
    ...keyframeArgs(plan),
    ...['-svtav1-params', 'scd=0'],
  ],
  vp9: (r, plan) => [
    ...['-c:v', 'libvpx-vp9', '-deadline', 'good', '-cpu-used', VP9_CPU_USED[plan.speed], '-row-mt', '1'],
    ...['-pix_fmt', 'yuv420p', ...rateControl(r, 'libx264'), ...keyframeArgs(plan)],
    ...['-keyint_min', String(plan.video!.gopFrames)],
  ],
};

const PROFILES: Record<Backend, BackendProfile> = {
  libx264: {
    inputArgs: () => [],
    upload: () => [],
    scale: (r) => `scale=${r.width}:${r.height}:flags=bicubic,setsar=1,format=yuv420p`,
    encoder: (r, plan) => SOFTWARE_ENCODERS[r.codec](r, plan),
    canHwDecode: () => false,
  },
  nvenc: {
    inputArgs: (hwDecode) =>
      hwDecode
        ? ['-hwaccel', 'cuda', '-hwaccel_output_format', 'cuda']
        : ['-init_hw_device', 'cuda=cu:0', '-filter_hw_device', 'cu'],
    upload: (hwDecode) => (hwDecode ? [] : ['format=nv12', 'hwupload']),
    scale: (r) => `scale_cuda=${r.width}:${r.height},setsar=1`,
    encoder: (r, plan) => [
      '-c:v',
      hardwareEncoder('nvenc', r.codec),
      '-preset',
      NVENC_PRESET[plan.speed],
      '-rc',
      'vbr',
      ...profileLevel(r),
      ...rateControl(r, 'nvenc'),
      ...keyframeArgs(plan),
      '-forced-idr',
      '1',
      '-no-scenecut',
      '1',
    ],
    canHwDecode: plainSource,
  },
  vaapi: {
    // Frames are uploaded by hwupload from software decoding: `-hwaccel vaapi` as well would make
    // the decoder output device frames that hwupload cannot take (a classic argv mistake).
    inputArgs: (_hwDecode, paths) => ['-vaapi_device', paths.vaapiDevice ?? '/dev/dri/renderD128'],
    upload: () => ['format=nv12', 'hwupload'],
    scale: (r) => `scale_vaapi=w=${r.width}:h=${r.height},setsar=1`,
    encoder: (r, plan) => [
      '-c:v',
      hardwareEncoder('vaapi', r.codec),
      '-rc_mode',
      'VBR',
      ...profileLevel(r),
      ...rateControl(r, 'vaapi'),
      ...keyframeArgs(plan),
    ],
    canHwDecode: () => false,
  },
  qsv: {
    inputArgs: () => ['-init_hw_device', 'qsv=qs:hw_any', '-filter_hw_device', 'qs'],
    upload: () => ['format=nv12', 'hwupload=extra_hw_frames=64'],
    scale: (r) => `scale_qsv=w=${r.width}:h=${r.height},setsar=1`,
    encoder: (r, plan) => [
      '-c:v',
      hardwareEncoder('qsv', r.codec),
      '-preset',
      plan.speed === 'ultrafast' || plan.speed === 'superfast' ? 'veryfast' : plan.speed,
      ...(r.codec === 'h264' ? ['-profile:v', r.profile, '-level', r.level!.replace('.', '')] : []),
      ...(r.codec === 'hevc' ? ['-profile:v', 'main', '-tag:v', 'hvc1'] : []),
      ...rateControl(r, 'qsv'),
      ...keyframeArgs(plan),
      '-idr_interval',
      '0',
      '-forced_idr',
      '1',
      '-look_ahead',
      '0',
    ],
    canHwDecode: () => false,
  },
};

/** Software filters run once on the decoded source before the split (frame rate, tone mapping). */
export function sourceFilters(plan: LadderPlan): string[] {
  const v = plan.video!;
  const f = [`fps=${v.frameRate.num}/${v.frameRate.den}`];
  if (v.tonemap) f.push(...TONEMAP_FILTERS);
  return f;
}

/**
 * HDR (PQ/HLG) to SDR: zimg linearises, Hable tone-maps, then BT.709 limited range (ffmpeg tonemap
 * docs). Shared by ladders and the outputs' shared decode.
 */
export const TONEMAP_FILTERS: readonly string[] = [
  'zscale=t=linear:npl=100',
  'format=gbrpf32le',
  'zscale=p=bt709',
  'tonemap=tonemap=hable:desat=0',
  'zscale=t=bt709:m=bt709:r=tv',
  'format=yuv420p',
];

/**
 * Builds the complete ffmpeg argv (without the `ffmpeg` binary) for one ladder encode (pure).
 *
 * One process per job: the source is decoded once, `split` feeds one scaler + encoder per rendition,
 * and each rendition has its own HLS muxer (RFC 8216 media playlist + segments under `paths.outDir`).
 * Keyframes are forced at every segment boundary by time with a fixed GOP and no scene-cut keyframes,
 * so segment N starts with an IDR frame at the same time in every rendition. Progress is written as
 * `key=value` blocks to stdout (`-progress pipe:1`).
 *
 * `backend` picks decode/scale/encode hooks: libx264 (CPU), nvenc (`-hwaccel cuda` +
 * `scale_cuda` for plain 8-bit SDR sources, software decode + hwupload otherwise), vaapi
 * (`-vaapi_device` + hwupload + scale_vaapi), qsv (hwupload + scale_qsv). Audio is AAC-LC stereo
 * 48 kHz in every rendition: the source's first audio stream, or a generated silent track.
 */
export function buildFfmpegArgs(plan: LadderPlan, backend: Backend, paths: FfmpegPaths): string[] {
  const args = ['-hide_banner', '-nostdin', '-y', '-loglevel', 'error', '-progress', 'pipe:1', '-nostats'];
  const profile = PROFILES[backend];
  const hwDecode = plan.kind === 'video' && profile.canHwDecode(plan);
  if (plan.kind === 'video') args.push(...profile.inputArgs(hwDecode, paths));
  // Chunk: an accurate input seek (decode from the previous keyframe, drop frames before the start).
  if (plan.chunk) args.push('-ss', plan.chunk.startS.toFixed(6), '-t', plan.chunk.durationS.toFixed(6));
  else if (plan.trimS !== undefined) args.push('-t', String(plan.trimS));
  args.push(...LOCAL_ONLY, '-i', localUrl(plan.input));
  const silent = plan.audio.mode === 'silent' && !plan.chunk;
  if (silent) {
    args.push(
      '-f',
      'lavfi',
      '-t',
      plan.durationS.toFixed(3),
      '-i',
      `anullsrc=channel_layout=stereo:sample_rate=${plan.audio.sampleRate}`,
    );
  }
  const audioMap = silent ? '1:a:0' : `0:${plan.audio.streamIndex}`;
  const audioArgs = audioEncoderArgs(plan);

  const selected = plan.renditions.filter((r) => plan.encode.includes(r.name));
  const videoRenditions = selected.filter((r): r is PlannedVideoRendition => r.kind === 'video');
  if (videoRenditions.length > 0) {
    const n = videoRenditions.length;
    const pre = [...sourceFilters(plan), ...profile.upload(hwDecode)];
    const splitOut = videoRenditions.map((_, i) => `[s${i}]`).join('');
    const graph = [`[0:${plan.video!.streamIndex}]${[...pre, `split=${n}`].join(',')}${splitOut}`];
    videoRenditions.forEach((r, i) => {
      graph.push(`[s${i}]${profile.scale(r)}[v${i}]`);
    });
    args.push('-filter_complex', graph.join(';'));
  }

  // CMAF/DASH: video renditions are video-only; the audio rendition is shared.
  // Chunk tasks carry no audio (one task encodes it for the whole duration); fMP4 ladders with a
  // separate audio rendition do not mux it into the video renditions.
  const muxAudio = !separateAudio(plan) && plan.chunk === undefined;
  for (const r of selected) {
    if (r.kind === 'video') {
      const i = videoRenditions.indexOf(r);
      args.push('-map', `[v${i}]`);
      if (muxAudio) args.push('-map', audioMap, ...profile.encoder(r, plan), ...audioArgs);
      else args.push(...profile.encoder(r, plan), '-an');
    } else {
      args.push('-map', audioMap, '-vn', ...audioArgs);
    }
    args.push(...hlsMuxerArgs(plan, r.name, paths.outDir));
  }
  return args;
}

/** AAC-LC encoder options of the ladder's audio track (the same in every rendition and chunk task). */
export function audioEncoderArgs(plan: LadderPlan): string[] {
  return [
    '-c:a',
    'aac',
    '-b:a',
    kbps(plan.audio.bitrate),
    '-ac',
    String(plan.audio.channels),
    '-ar',
    String(plan.audio.sampleRate),
  ];
}

/**
 * Where chunk tasks' timelines start (s): every chunk's output timestamps are offset by this plus its
 * start. ffmpeg shifts an output whose first DTS is negative (B-frame delay, AAC priming) by that
 * amount; with the origin far above any such delay no chunk (nor the audio task) is shifted, so the
 * chunks continue each other frame-exactly and the audio keeps its priming offset to the video, as in
 * the unchunked encode (which is shifted as a whole, so its relative timing is the same).
 */
export const CHUNK_TS_ORIGIN_S = 10;

/** HLS muxer options writing rendition `name` under `outDir` (RFC 8216 media playlist, VOD). */
export function hlsMuxerArgs(plan: LadderPlan, name: string, outDir: string): string[] {
  const layout = renditionLayout(plan, name);
  const args = [
    ...(plan.chunk ? ['-output_ts_offset', (CHUNK_TS_ORIGIN_S + plan.chunk.startS).toFixed(6)] : []),
    '-map_metadata',
    '-1',
    '-map_chapters',
    '-1',
    '-f',
    'hls',
    '-hls_time',
    String(plan.segmentDuration),
    '-hls_playlist_type',
    'vod',
    '-hls_list_size',
    '0',
    '-hls_flags',
    'independent_segments',
    '-hls_segment_type',
    plan.format === 'fmp4' ? 'fmp4' : 'mpegts',
  ];
  if (plan.format === 'fmp4') args.push('-hls_fmp4_init_filename', layout.initName);
  args.push('-hls_segment_filename', join(outDir, layout.segmentPattern), join(outDir, layout.playlist));
  return args;
}

/** Output sizes of the poster (largest rendition) and the thumbnail (short side 180 px). */
export function posterSizes(plan: LadderPlan): { poster: [number, number]; thumbnail: [number, number] } {
  const top = plan.renditions.find((r): r is PlannedVideoRendition => r.kind === 'video');
  if (!top) throw new TypeError('posterSizes: audio-only plan has no poster');
  const short = Math.min(top.width, top.height);
  const scale = Math.min(1, 180 / short);
  const even = (x: number): number => Math.max(2, Math.round(x / 2) * 2);
  return { poster: [top.width, top.height], thumbnail: [even(top.width * scale), even(top.height * scale)] };
}

/**
 * The time (s) the poster is taken from: a quarter into the video, at most 30 s, which skips black
 * openings and fade-ins; the `thumbnail` filter then picks the most representative frame near it.
 */
export function posterTimeS(plan: LadderPlan): number {
  return Math.min(30, plan.durationS * 0.25);
}

/**
 * Which frame the poster comes from: `representative` seeks to {@link posterTimeS} and lets the
 * `thumbnail` filter pick among ~2 s of frames; `first` takes the first decodable frame (the fallback
 * when the seek lands past the last keyframe, in a 1-frame video, or beyond a stream that ends early).
 */
export type PosterFrame = 'representative' | 'first';

/**
 * argv for one ffmpeg run writing the poster JPEG and the thumbnail JPEG of the same frame (pure).
 * `representative`: reads about 2 s of the source from {@link posterTimeS}; `first`: the first
 * decodable frame. Tone mapping and square pixels as in the ladder; rotation by ffmpeg's autorotate
 * (applied once, as for the renditions).
 */
export function buildPosterArgs(
  plan: LadderPlan,
  posterPath: string,
  thumbnailPath: string,
  frame: PosterFrame = 'representative',
): string[] {
  const v = plan.video;
  if (!v) throw new TypeError('buildPosterArgs: audio-only plan has no poster');
  const { poster, thumbnail } = posterSizes(plan);
  const frames = Math.max(1, Math.min(60, Math.round(v.fps * 2)));
  const pick = frame === 'representative' ? [`thumbnail=${frames}`] : [];
  const pre = sourceFilters(plan).slice(1);
  const graph =
    `[0:${v.streamIndex}]${[...pre, ...pick, 'split=2'].join(',')}[a][b];` +
    `[a]scale=${poster[0]}:${poster[1]}:flags=bicubic,setsar=1,format=yuvj420p[p];` +
    `[b]scale=${thumbnail[0]}:${thumbnail[1]}:flags=bicubic,setsar=1,format=yuvj420p[t]`;
  const seek = frame === 'representative' ? ['-ss', posterTimeS(plan).toFixed(3), '-t', '3'] : [];
  return [
    ...['-hide_banner', '-nostdin', '-y', '-loglevel', 'error'],
    ...[...seek, ...LOCAL_ONLY, '-i', localUrl(plan.input)],
    ...['-filter_complex', graph],
    ...['-map', '[p]', '-frames:v', '1', '-q:v', '3', '-update', '1', posterPath],
    ...['-map', '[t]', '-frames:v', '1', '-q:v', '4', '-update', '1', thumbnailPath],
  ];
}

/**
 * The media pipeline: from a file on disk to an HLS ladder on disk. Knows nothing of jobs or HTTP.
 * Pure: `planLadder`, `buildFfmpegArgs`, `masterPlaylistText`. Impure: `probe`, `detectHwaccel`,
 * `encodeLadder`, `writeMasterPlaylist`.
 */
export {
  type AnalysisWindow,
  analysisWindows,
  analyzeCrf,
  buildSampleEncodeArgs,
  buildSampleSsimArgs,
  CRF_RANGE,
  type CrfAnalysis,
  pickCrf,
  renditionSsim,
} from './analyze.js';
export {
  CHUNK_AUDIO_NAME,
  encodeAudioTrack,
  encodeVideoChunk,
  type StitchParts,
  stitchLadder,
} from './chunk-encode.js';
export {
  type ChunkingDefaults,
  type ChunkingOption,
  type ChunkPlan,
  type ChunkSpan,
  chunkingSchema,
  DEFAULT_CHUNKING,
  PREROLL_SEGMENTS,
  planChunks,
} from './chunking.js';
export {
  av1CodecString,
  hevcCodecString,
  videoCodecsFromInit,
  vp9CodecString,
} from './codec-string.js';
export {
  type CodecCandidate,
  type CodecSupport,
  detectCodecSupport,
  supportFrom,
} from './codec-support.js';
export {
  type CodecReport,
  detectCodecs,
  ENCODERS,
  parseEncoderList,
  VIDEO_CODECS,
  type VideoCodec,
} from './codecs.js';
export {
  DASH_MANIFEST,
  type DashRendition,
  isoDuration,
  mpdText,
  rewriteMpdFromMaster,
  segmentTemplate,
  writeMpd,
} from './dash.js';
export { type BackendFallback, type EncodeOptions, type EncodeResult, encodeLadder } from './encode.js';
export { type EncodeOutputsOptions, encodeFileOutputs, type FileOutputResult } from './encode-outputs.js';
export {
  CancelledError,
  EmptyFileError,
  EncodeError,
  EncodeStalledError,
  FfmpegMissingError,
  HwaccelUnavailableError,
  InputNotFoundError,
  NotMediaError,
  NoVideoError,
  ProbeError,
  TruncatedMediaError,
} from './errors.js';
export {
  backendSupports,
  buildFfmpegArgs,
  buildPosterArgs,
  type FfmpegPaths,
  HARDWARE_ENCODERS,
  masterName,
  renditionLayout,
  TONEMAP_FILTERS,
} from './ffmpeg-args.js';
export {
  avcCodecFromAnnexB,
  masterPlaylistText,
  measurePlaylist,
  type PlaylistMeasure,
  type RenditionResult,
  writeMasterPlaylist,
} from './hls.js';
export {
  type DetectHwaccelOptions,
  detectHwaccel,
  HWACCEL_MODES,
  type HwaccelCandidate,
  type HwaccelMode,
  type HwaccelReport,
} from './hwaccel.js';
export {
  CODEC_BITRATE_FACTOR,
  CRF_OFFSET,
  codecCrf,
  DEFAULT_CRF,
  LADDER_PRESETS,
  type LadderOptions,
  type LadderOptionsInput,
  type LadderPlan,
  type LadderPresetName,
  ladderCodecs,
  ladderOptionsSchema,
  ladderSpecs,
  type PlannedAudioRendition,
  type PlannedRendition,
  type PlannedVideoRendition,
  planLadder,
  type RenditionSpec,
  renditionSpecSchema,
  separateAudio,
  withCrf,
} from './ladder.js';
export {
  ASPECT_MODES,
  AUDIO_FORMATS,
  buildOutputsArgs,
  checkOutputOptions,
  IMAGE_FORMATS,
  type NamedOutput,
  OUTPUT_KINDS,
  type OutputGeometry,
  type OutputKind,
  type OutputOptions,
  type OutputOptionsInput,
  type OutputsPlan,
  outputGeometry,
  outputOptionsSchema,
  outputVideoCodecs,
  type PlannedFileOutput,
  type PlannedLadderOutput,
  planOutputs,
  posterTime,
} from './outputs.js';
export { type ProbeOptions, probe } from './probe.js';
export { type ProcessOutcome, runProcess } from './process.js';
export type { EncodeProgress } from './progress.js';
export {
  buildStoryboardArgs,
  checkStoryboardVtt,
  planStoryboard,
  STORYBOARD_VTT,
  type StoryboardOptionsInput,
  type StoryboardPlan,
  storyboardOptionsSchema,
  storyboardVtt,
  vttTime,
} from './storyboard.js';
export {
  type AudioStreamInfo,
  BACKENDS,
  type Backend,
  type HdrTransfer,
  type ProbeResult,
  type Rational,
  type VideoStreamInfo,
} from './types.js';

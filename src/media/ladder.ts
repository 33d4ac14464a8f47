import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { VIDEO_CODECS, type VideoCodec } from './codecs.js';
import { planStoryboard, type StoryboardPlan, storyboardOptionsSchema } from './storyboard.js';
import type { HdrTransfer, ProbeResult, Rational } from './types.js';

const renditionName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/i, 'letters, digits, _ and - only (max 32), used as a folder name');

/**
 * One rendition of a custom ladder. `height` is the short side (a portrait 720p is 720x1280). `codec`
 * (default `h264`): `hevc`, `av1` and `vp9` renditions are written as fMP4/CMAF segments; `profile`
 * and `level` are H.264's only (HEVC is Main, AV1 Main, VP9 profile 0, each at the level its encoder
 * signals, read back from the stream for CODECS).
 */
export const renditionSpecSchema = z
  .strictObject({
    name: renditionName,
    height: z.number().int().min(64).max(4320),
    /** Target average video bitrate, bits/s. */
    videoBitrate: z.number().int().min(50_000).max(100_000_000),
    /** VBV peak rate, bits/s (default: 1.5 × videoBitrate for cbr, videoBitrate for capped-crf). */
    maxrate: z.number().int().min(50_000).max(150_000_000).optional(),
    profile: z.enum(['baseline', 'main', 'high']).optional(),
    /** H.264 level; raised automatically when the size × frame rate needs more. */
    level: z.enum(['3.0', '3.1', '3.2', '4.0', '4.1', '4.2', '5.0', '5.1', '5.2']).optional(),
    codec: z.enum(VIDEO_CODECS).default('h264'),
  })
  .refine(
    (r) => r.codec === 'h264' || (r.profile === undefined && r.level === undefined),
    'profile and level apply to h264 renditions only',
  );
export type RenditionSpec = z.infer<typeof renditionSpecSchema>;

/** Named ladders. `default` is the SPK blueprint's 1080p/720p/480p. */
export const LADDER_PRESETS = {
  default: [
    { name: '1080p', height: 1080, videoBitrate: 4_500_000, profile: 'high', level: '4.1', codec: 'h264' },
    { name: '720p', height: 720, videoBitrate: 2_500_000, profile: 'high', level: '4.0', codec: 'h264' },
    { name: '480p', height: 480, videoBitrate: 1_000_000, profile: 'main', level: '3.1', codec: 'h264' },
  ],
} as const satisfies Record<string, readonly RenditionSpec[]>;
export type LadderPresetName = keyof typeof LADDER_PRESETS;

/** x264 speed presets (https://trac.ffmpeg.org/wiki/Encode/H.264); hardware backends map them. */
export const X264_PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
] as const;

/**
 * Options of a ladder encode, as embedded in job specs. Only typed values within bounds: nothing here
 * is passed to ffmpeg as a free-form string.
 */
const ladderOptionsObject = z.strictObject({
  /** A preset name or custom renditions (1–8, unique names). */
  ladder: z
    .union(
      [
        z.enum(Object.keys(LADDER_PRESETS) as [LadderPresetName]),
        z
          .array(renditionSpecSchema)
          .min(1)
          .max(8)
          .refine((r) => new Set(r.map((x) => x.name)).size === r.length, 'rendition names must be unique'),
      ],
      {
        // The default union message ("Invalid input") does not say what is valid; the API and the CLI
        // both show this one, so a typo in `--ladder` lists the preset names.
        error: (iss) =>
          typeof iss.input === 'string'
            ? `unknown ladder preset "${iss.input}": valid presets are ${Object.keys(LADDER_PRESETS).join(', ')}`
            : `expected a preset name (${Object.keys(LADDER_PRESETS).join(', ')}) or an array of 1-8 renditions`,
      },
    )
    .default('default'),
  /** Target segment duration, seconds; also the GOP length. */
  segmentDuration: z.number().min(1).max(12).default(4),
  /**
   * `ts`: MPEG-TS segments; `fmp4`: CMAF fragmented MP4 segments with an init segment. Default `ts`
   * for an H.264-only ladder, `fmp4` when a rendition is HEVC, AV1 or VP9 (which refuse `ts`).
   */
  format: z.enum(['ts', 'fmp4']).optional(),
  /**
   * Encode every rendition of the ladder once per codec listed (e.g. `['av1', 'h264']`: AV1 with an
   * H.264 fallback in one master). H.264 renditions keep their names, the others get `-<codec>`
   * (`720p-av1`) and {@link CODEC_BITRATE_FACTOR} × the H.264 bitrates. Not with custom renditions
   * that set a codec themselves.
   */
  codecs: z
    .array(z.enum(VIDEO_CODECS))
    .min(1)
    .max(VIDEO_CODECS.length)
    .refine((c) => new Set(c).size === c.length, 'codecs must be unique')
    .optional(),
  /** 3Speak shorts: first 60 s only, 480p only. */
  short: z.boolean().default(false),
  /** AAC bitrate, bits/s. */
  audioBitrate: z.number().int().min(32_000).max(320_000).default(128_000),
  poster: z.boolean().default(true),
  thumbnail: z.boolean().default(true),
  /** Also write `<rendition>.mp4` (faststart, remuxed from the HLS segments, no re-encode). */
  mp4: z.boolean().default(false),
  /**
   * Also write a DASH MPD (`manifest.mpd`, ISO/IEC 23009-1) over the same CMAF segments as the HLS
   * master: fMP4 only; video renditions carry no audio and one `audio` rendition (AAC) is shared, as
   * CMAF tracks and DASH players expect (an HLS audio group, EXT-X-MEDIA, in the master).
   */
  dash: z.boolean().default(false),
  /**
   * Scrubbing previews: sprite sheets of `width`-px thumbnails every `interval` s and a WebVTT
   * thumbnail track (`storyboard.vtt`, `#xywh=` cues). Off unless given.
   */
  storyboard: storyboardOptionsSchema.optional(),
  /** Encode only these renditions (a re-run of failed ones); the master lists every rendition on disk. */
  only: z.array(renditionName).min(1).optional(),
  /** `vidmesh`: master.m3u8 + <r>/index.m3u8 + <r>/seg_N; `3speak`: manifest.m3u8 + <r>/index.m3u8 + <r>/<r>_N. */
  layout: z.enum(['vidmesh', '3speak']).default('vidmesh'),
  /** Speed/quality trade-off (x264 names). `veryfast` is the production default. */
  speed: z.enum(X264_PRESETS).default('veryfast'),
  /**
   * `cbr` (default): the fixed target bitrate of each rendition (1-pass ABR with VBV caps);
   * `capped-crf` (opt-in): constant quality (x264 CRF) capped by each rendition's target bitrate, the
   * CRF chosen per title and rendition by a short analysis pass meeting `targetSsim`. Not the default
   * yet: on the test media it saves 66 % of the bytes but loses up to 0.008 SSIM on animation and costs
   * 1.4× the wall time (bench/ladder), short of the issue's targets.
   */
  rateControl: z.enum(['capped-crf', 'cbr']).default('cbr'),
  /** SSIM (0–1, against the source scaled to the rendition) the analysis pass aims for per rendition. */
  targetSsim: z.number().min(0.9).max(0.9995).default(0.99),
  /** A fixed CRF for every rendition (capped-crf only): skips the analysis pass. */
  crf: z.number().min(0).max(51).optional(),
});
export type LadderOptions = z.infer<typeof ladderOptionsObject>;
export type LadderOptionsInput = z.input<typeof ladderOptionsObject>;

/**
 * Options of a ladder encode (see the fields above), with the cross-field rules: `codecs` not with
 * renditions that set a codec; MPEG-TS (`format: 'ts'`) only for H.264-only ladders.
 */
export const ladderOptionsSchema = ladderOptionsObject.superRefine((o, ctx) => {
  let codecs: VideoCodec[];
  try {
    codecs = ladderCodecs(o);
  } catch (err) {
    ctx.addIssue({ code: 'custom', path: ['codecs'], message: (err as Error).message });
    return;
  }
  if (o.dash && o.format === 'ts')
    ctx.addIssue({
      code: 'custom',
      path: ['format'],
      message: 'dash needs "fmp4" (CMAF segments), not "ts"',
    });
  if (o.dash && Array.isArray(o.ladder) && o.ladder.some((r) => r.name === AUDIO_RENDITION))
    ctx.addIssue({
      code: 'custom',
      path: ['ladder'],
      message: `"${AUDIO_RENDITION}" names the audio rendition with dash`,
    });
  const notTs = codecs.filter((c) => c !== 'h264');
  if (o.format === 'ts' && notTs.length > 0)
    ctx.addIssue({
      code: 'custom',
      path: ['format'],
      message: `format "ts" cannot carry ${notTs.join(', ')}: use "fmp4" (CMAF segments)`,
    });
});

/** A video rendition as planned: exact even output size and rate control. */
export interface PlannedVideoRendition {
  kind: 'video';
  name: string;
  width: number;
  height: number;
  /** bits/s */
  videoBitrate: number;
  maxrate: number;
  bufsize: number;
  /** H.264 profile; `main` for the other codecs (HEVC Main, AV1 Main, VP9 profile 0). */
  profile: 'baseline' | 'main' | 'high';
  /** H.264 level (Table A-1); undefined for the other codecs (their encoders pick and signal it). */
  level: string | undefined;
  codec: VideoCodec;
  /**
   * Constant rate factor under the `maxrate`/`bufsize` caps (capped-crf), on the codec's own scale
   * (x264/x265 0–51, SVT-AV1 and libvpx-vp9 0–63); undefined: target bitrate `videoBitrate` (cbr).
   * Set by planLadder from `options.crf` or {@link DEFAULT_CRF} (x264 scale, moved to the codec's by
   * {@link CRF_OFFSET}), replaced per title by the analysis pass ({@link withCrf}).
   */
  crf: number | undefined;
}

/** The audio-only rendition of an audio-only source. */
export interface PlannedAudioRendition {
  kind: 'audio';
  name: typeof AUDIO_RENDITION;
}

export type PlannedRendition = PlannedVideoRendition | PlannedAudioRendition;

/** Everything `buildFfmpegArgs` and `encodeLadder` need; pure data (JSON-safe). */
export interface LadderPlan {
  input: string;
  kind: 'video' | 'audio';
  sourceDurationS: number;
  /** Output duration: the source's, or at most 60 s in short mode. */
  durationS: number;
  /** Set when the input is cut (short mode): read only this many seconds. */
  trimS: number | undefined;
  /**
   * Chunked encoding (src/media/chunking.ts): encode only this range of the source, seconds, video
   * without audio, timestamps offset by `startS` so the chunks' segments continue each other.
   */
  chunk?: { startS: number; durationS: number };
  segmentDuration: number;
  format: 'ts' | 'fmp4';
  layout: 'vidmesh' | '3speak';
  speed: (typeof X264_PRESETS)[number];
  /** Rate control; `analyze`: choose each rendition's CRF by an analysis pass before encoding. */
  rateControl: { mode: 'cbr' } | { mode: 'capped-crf'; targetSsim: number; analyze: boolean };
  /** Every rendition of the ladder, highest first. */
  renditions: PlannedRendition[];
  /** Names to encode in this run (all, or `options.only`). */
  encode: string[];
  video:
    | {
        streamIndex: number;
        /** Output frame rate, constant (VFR sources are normalised), at most 60. */
        frameRate: Rational;
        fps: number;
        /** Frames per GOP = ceil(segmentDuration × fps). */
        gopFrames: number;
        rotation: 0 | 90 | 180 | 270;
        /** Tone-map to SDR BT.709 (PQ/HLG sources). */
        tonemap: HdrTransfer | undefined;
        /** Source is above 8 bits per sample: convert to 8-bit yuv420p. */
        highBitDepth: boolean;
        /** Source chroma subsampling (from its pixel format); anything but 4:2:0 is converted. */
        chroma: Chroma;
        vfr: boolean;
      }
    | undefined;
  audio: {
    /** `source`: encode the source's first audio stream; `silent`: generate a silent track. */
    mode: 'source' | 'silent';
    streamIndex: number | undefined;
    bitrate: number;
    sampleRate: 48000;
    channels: 2;
  };
  poster: boolean;
  thumbnail: boolean;
  mp4: boolean;
  /**
   * Write a DASH MPD beside the HLS master. Video plans then end with the shared `audio` rendition
   * and their video renditions carry no audio ({@link separateAudio}).
   */
  dash: boolean;
  /** Sprite sheets + WebVTT thumbnail track to write (video only), when asked for. */
  storyboard: StoryboardPlan | undefined;
}

/** Name (and folder) of the audio-only rendition. */
export const AUDIO_RENDITION = 'audio';

/** A video plan whose audio is its own rendition (CMAF tracks for DASH), not muxed in each variant. */
export function separateAudio(plan: Pick<LadderPlan, 'kind' | 'renditions'>): boolean {
  return plan.kind === 'video' && plan.renditions.some((r) => r.kind === 'audio');
}

const MAX_FPS = 60;
/** CRF used before (or without) the analysis pass: x264's own default. */
export const DEFAULT_CRF = 23;
/**
 * Added to an x264 CRF to get about the same quality on another encoder's scale: x265's default 28 is
 * x264's 23 (x265 docs); SVT-AV1 35 and libvpx-vp9 33 are those encoders' usual 1080p starting points
 * (SVT-AV1 docs, Google's VP9 VOD settings).
 */
export const CRF_OFFSET: Record<VideoCodec, number> = { h264: 0, hevc: 5, av1: 12, vp9: 10 };
/**
 * Bitrate of a rendition derived for another codec by `options.codecs`, relative to H.264's: the
 * usual savings at equal quality (HEVC and VP9 ~30 %, AV1 ~40 %). A ceiling under capped CRF.
 */
export const CODEC_BITRATE_FACTOR: Record<VideoCodec, number> = { h264: 1, hevc: 0.7, av1: 0.6, vp9: 0.7 };
const CRF_MAX: Record<VideoCodec, number> = { h264: 51, hevc: 51, av1: 63, vp9: 63 };

/** A CRF on the x264 scale moved to `codec`'s scale, clamped to its range. */
export function codecCrf(codec: VideoCodec, x264Crf: number): number {
  return Math.min(CRF_MAX[codec], Math.max(0, x264Crf + CRF_OFFSET[codec]));
}

/**
 * The renditions a ladder option set asks for, before the source is known (pure): the preset or the
 * custom renditions (short mode: 480p), expanded by `codecs`, highest first. Used by the planner and
 * by job submission (requested names, required codecs).
 * @throws ValidationError when `codecs` is combined with custom renditions that set a codec
 */
export function ladderSpecs(o: LadderOptions): RenditionSpec[] {
  const base: readonly RenditionSpec[] = o.short
    ? [SHORT_RENDITION]
    : typeof o.ladder === 'string'
      ? LADDER_PRESETS[o.ladder]
      : [...o.ladder].sort((a, b) => b.height - a.height);
  if (!o.codecs) return [...base];
  if (base.some((r) => r.codec !== 'h264'))
    throw new ValidationError('ladder.codecs cannot be combined with renditions that set their own codec');
  return base.flatMap((r) =>
    o.codecs!.map((codec): RenditionSpec => {
      if (codec === 'h264') return r;
      const videoBitrate = Math.round((r.videoBitrate * CODEC_BITRATE_FACTOR[codec]) / 1000) * 1000;
      const maxrate = r.maxrate && Math.round((r.maxrate * CODEC_BITRATE_FACTOR[codec]) / 1000) * 1000;
      return { name: `${r.name}-${codec}`, height: r.height, videoBitrate, maxrate, codec };
    }),
  );
}

/** The output video codecs a ladder option set uses (pure): what an encoder must advertise to claim it. */
export function ladderCodecs(o: LadderOptions): VideoCodec[] {
  return [...new Set(ladderSpecs(o).map((r) => r.codec))];
}
const SHORT_MAX_S = 60;
const SHORT_RENDITION = LADDER_PRESETS.default[2];

/**
 * Plans the ladder of one source (pure).
 *
 * Rules: renditions taller (short side) than the source are dropped, never upscaled; a source below
 * every rendition gets one rendition at its own size; sizes follow the display orientation (rotation
 * applied once, portrait stays portrait, labelled by the short side), square pixels, even dimensions;
 * frame rate kept, capped at 60, always constant; > 8-bit or HDR sources become 8-bit yuv420p SDR
 * (tone-mapped when PQ/HLG); short mode keeps the first 60 s and the 480p rendition only. A source
 * without audio gets a silent AAC track so every variant has the same CODECS (see docs/media.md).
 *
 * @param options raw options (validated here with {@link ladderOptionsSchema})
 * @throws ValidationError for invalid options or an `only` naming a rendition not in the plan
 */
export function planLadder(probe: ProbeResult, options: LadderOptionsInput = {}): LadderPlan {
  const parsed = ladderOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new ValidationError(`invalid ladder options: ${z.prettifyError(parsed.error)}`, {
      details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  const o = parsed.data;
  const specs = ladderSpecs(o);
  const format = o.format ?? (o.dash || specs.some((r) => r.codec !== 'h264') ? 'fmp4' : 'ts');
  const trimS = o.short && probe.durationS > SHORT_MAX_S ? SHORT_MAX_S : undefined;
  const durationS = trimS ?? probe.durationS;
  const sourceAudio = probe.audio[0];
  const audio: LadderPlan['audio'] = {
    mode: sourceAudio ? 'source' : 'silent',
    streamIndex: sourceAudio?.index,
    bitrate: o.audioBitrate,
    sampleRate: 48000,
    channels: 2,
  };
  const base = {
    input: probe.path,
    sourceDurationS: probe.durationS,
    durationS,
    trimS,
    segmentDuration: o.segmentDuration,
    format,
    layout: o.layout,
    speed: o.speed,
    rateControl:
      o.rateControl === 'cbr'
        ? ({ mode: 'cbr' } as const)
        : ({ mode: 'capped-crf', targetSsim: o.targetSsim, analyze: o.crf === undefined } as const),
    audio,
    poster: o.poster,
    thumbnail: o.thumbnail,
    mp4: o.mp4,
    dash: o.dash,
    storyboard: undefined,
  };
  const v = probe.video;
  if (!v) {
    const renditions: PlannedRendition[] = [{ kind: 'audio', name: AUDIO_RENDITION }];
    return { ...base, kind: 'audio', renditions, encode: selectNames(renditions, o.only), video: undefined };
  }

  const frameRate = capFrameRate(v.frameRate);
  const fps = frameRate.num / frameRate.den;
  const srcW = v.displayWidth;
  const srcH = v.displayHeight;
  const short = Math.min(srcW, srcH);
  const long = Math.max(srcW, srcH);
  const portrait = srcH > srcW;

  const fitting = specs.filter((s) => s.height <= short);
  const sized = (spec: RenditionSpec, shortSide: number): PlannedVideoRendition => {
    const s = even(shortSide);
    const l = even((shortSide * long) / short);
    const width = portrait ? s : l;
    const height = portrait ? l : s;
    const h264 = spec.codec === 'h264';
    const profile = h264 ? (spec.profile ?? 'high') : 'main';
    const videoBitrate = spec.videoBitrate;
    // The fixed ladder peaks at 1.5 × its target; capped CRF keeps the target itself as the ceiling,
    // so a title never costs more bytes than the fixed ladder would.
    const maxrate = spec.maxrate ?? (o.rateControl === 'cbr' ? Math.round(videoBitrate * 1.5) : videoBitrate);
    return {
      kind: 'video',
      name: spec.name,
      width,
      height,
      videoBitrate,
      maxrate,
      bufsize: maxrate * 2,
      profile,
      level: h264 ? minimumLevel(width, height, fps, maxrate, profile, spec.level ?? '3.0') : undefined,
      codec: spec.codec,
      crf: o.rateControl === 'cbr' ? undefined : codecCrf(spec.codec, o.crf ?? DEFAULT_CRF),
    };
  };
  let renditions: PlannedVideoRendition[];
  if (fitting.length > 0) {
    renditions = fitting.map((s) => sized(s, s.height));
  } else {
    // Below every rendition: one rendition (per codec) at source size, bitrate scaled by pixel count.
    const minHeight = specs[specs.length - 1]!.height;
    const smallest = specs.filter((s) => s.height === minHeight);
    const seen = new Set<string>();
    renditions = [];
    for (const s of smallest) {
      const name = `${even(short)}p${s.codec === 'h264' ? '' : `-${s.codec}`}`;
      if (seen.has(name)) continue;
      seen.add(name);
      const pixelsRatio = (short * long) / ((s.height * s.height * 16) / 9);
      const videoBitrate = Math.max(150_000, Math.round((s.videoBitrate * pixelsRatio) / 1000) * 1000);
      renditions.push(sized({ ...s, name, videoBitrate, maxrate: undefined }, short));
    }
  }
  const all: PlannedRendition[] = o.dash
    ? [...renditions, { kind: 'audio', name: AUDIO_RENDITION }]
    : renditions;
  return {
    ...base,
    kind: 'video',
    renditions: all,
    encode: selectNames(all, o.only),
    storyboard: o.storyboard ? planStoryboard(o.storyboard, durationS, renditions[0]!) : undefined,
    video: {
      streamIndex: v.index,
      frameRate,
      fps,
      gopFrames: Math.ceil(o.segmentDuration * fps - 1e-9),
      rotation: v.rotation,
      tonemap: v.hdr,
      highBitDepth: v.bitDepth > 8,
      chroma: chromaOf(v.pixFmt),
      vfr: v.vfr,
    },
  };
}

/** Chroma subsampling of a source pixel format. */
export type Chroma = '420' | '422' | '444' | 'other';

/** Chroma subsampling of an ffmpeg pixel format name (yuv420p10le → 420, nv12 → 420, gbrp → 444). */
export function chromaOf(pixFmt: string): Chroma {
  if (/^(yuvj?420p|nv12|nv21|p010|p016|yuva420p)/.test(pixFmt)) return '420';
  if (/^(yuvj?422p|nv16|yuyv422|uyvy422|y210|yuva422p)/.test(pixFmt)) return '422';
  if (/^(yuvj?444p|nv24|gbrp|gbrap|rgb|bgr|yuva444p)/.test(pixFmt)) return '444';
  return 'other';
}

/**
 * The plan with each named rendition's CRF replaced (pure): the result of the analysis pass (which
 * measures H.264 renditions). A rendition of another codec not named takes the CRF chosen for the
 * H.264 rendition of the same size, moved to its scale ({@link codecCrf}); others keep theirs. The
 * plan no longer asks for an analysis.
 */
export function withCrf(plan: LadderPlan, crf: Record<string, number>): LadderPlan {
  if (plan.rateControl.mode !== 'capped-crf') return plan;
  const video = plan.renditions.filter((r): r is PlannedVideoRendition => r.kind === 'video');
  const chosen = (r: PlannedVideoRendition): number | undefined => {
    if (crf[r.name] !== undefined) return crf[r.name];
    if (r.codec === 'h264') return undefined;
    const twin = video.find((x) => x.codec === 'h264' && x.height === r.height && crf[x.name] !== undefined);
    return twin ? codecCrf(r.codec, crf[twin.name]!) : undefined;
  };
  return {
    ...plan,
    rateControl: { ...plan.rateControl, analyze: false },
    renditions: plan.renditions.map((r) => {
      if (r.kind !== 'video') return r;
      const c = chosen(r);
      return c === undefined ? r : { ...r, crf: c };
    }),
  };
}

function selectNames(renditions: PlannedRendition[], only: string[] | undefined): string[] {
  const names = renditions.map((r) => r.name);
  if (!only) return names;
  const unknown = only.filter((n) => !names.includes(n));
  if (unknown.length > 0) {
    throw new ValidationError(
      `unknown rendition(s) in only: ${unknown.join(', ')} (plan has ${names.join(', ')})`,
      {
        details: { unknown, available: names },
      },
    );
  }
  return names.filter((n) => only.includes(n));
}

/** Rounds to the nearest even integer ≥ 2 (H.264 with 4:2:0 chroma needs even sizes). */
function even(x: number): number {
  return Math.max(2, Math.round(x / 2) * 2);
}

function capFrameRate(r: Rational): Rational {
  if (r.num / r.den <= MAX_FPS) return r;
  return { num: MAX_FPS, den: 1 };
}

// H.264 Table A-1: max macroblocks/s, max frame size (macroblocks), max video bitrate (kbit/s, Baseline/Main).
const LEVELS: Array<[string, number, number, number]> = [
  ['3.0', 40_500, 1_620, 10_000],
  ['3.1', 108_000, 3_600, 14_000],
  ['3.2', 216_000, 5_120, 20_000],
  ['4.0', 245_760, 8_192, 20_000],
  ['4.1', 245_760, 8_192, 50_000],
  ['4.2', 522_240, 8_704, 50_000],
  ['5.0', 589_824, 22_080, 135_000],
  ['5.1', 983_040, 36_864, 240_000],
  ['5.2', 2_073_600, 36_864, 240_000],
];

/**
 * The lowest H.264 level ≥ `wanted` that allows this size, rate and peak bitrate (Table A-1; High
 * profile allows 1.25 × the bitrate), so a 1080p60 "4.1" rendition is honestly labelled 4.2.
 */
export function minimumLevel(
  width: number,
  height: number,
  fps: number,
  maxrate: number,
  profile: string,
  wanted: string,
): string {
  const mbs = Math.ceil(width / 16) * Math.ceil(height / 16);
  const brFactor = profile === 'high' ? 1.25 : 1;
  const start = Math.max(
    0,
    LEVELS.findIndex(([l]) => l === wanted),
  );
  for (let i = start; i < LEVELS.length; i++) {
    const [name, maxMbps, maxFs, maxBr] = LEVELS[i]!;
    // Table A-1 also bounds each frame dimension to sqrt(8 × MaxFS) macroblocks.
    const maxDim = Math.sqrt(maxFs * 8);
    if (
      mbs <= maxFs &&
      mbs * fps <= maxMbps &&
      maxrate <= maxBr * 1000 * brFactor &&
      Math.ceil(width / 16) <= maxDim &&
      Math.ceil(height / 16) <= maxDim
    ) {
      return name;
    }
  }
  return '5.2';
}

import { z } from 'zod';

/**
 * Chunked encoding plans (docs/chunking.md): one long source split into chunks of whole HLS segments,
 * each encoded by a different encoder and stitched back. Pure: numbers in, numbers out.
 */

/**
 * A job's `chunking` choice: `auto` splits sources longer than the threshold (default 300 s) into
 * chunks of the default length (60 s); `off` never splits; `{seconds}` splits into chunks of about
 * that many seconds whenever the source is longer than one chunk.
 */
export const chunkingSchema = z.union([
  z.enum(['auto', 'off']),
  z.strictObject({ seconds: z.number().min(1).max(3600) }),
]);
export type ChunkingOption = z.infer<typeof chunkingSchema>;

/** One chunk: a time range of the source that starts and (but for the last) ends on segment boundaries. */
export interface ChunkSpan {
  /** 0-based position. */
  index: number;
  /** Start in the source, seconds (a multiple of the segment duration). */
  startS: number;
  /** Length, seconds (whole segments; the last chunk ends with the source and may hold a merged tail). */
  durationS: number;
  /** Number of the chunk's first segment in the whole rendition (0-based). */
  firstSegment: number;
  /** Segments in the chunk (the last may be fewer or, with a merged tail, more than the others'). */
  segments: number;
  /**
   * Pre-roll, seconds (whole segments; 0 for the first chunk): the chunk's encode starts this long
   * before `startS` so the encoder's rate control (VBV fill, complexity history) has run in by the
   * chunk's forced IDR at `startS`; the pre-roll's segments are dropped before stitching.
   */
  prerollS: number;
}

export interface ChunkPlan {
  segmentS: number;
  /** Nominal chunk length, seconds: whole segments. */
  chunkS: number;
  chunks: ChunkSpan[];
}

export interface ChunkingDefaults {
  /** `auto` splits sources longer than this, seconds (default 300). */
  thresholdS: number;
  /** `auto` chunk length, seconds (default 60 = 15 segments of 4 s). */
  chunkS: number;
  /** Pre-roll of every chunk after the first, whole segments (default {@link PREROLL_SEGMENTS}; 0: none). */
  prerollSegments?: number;
}

export const DEFAULT_CHUNKING: ChunkingDefaults = { thresholdS: 300, chunkS: 60 };

/**
 * Default pre-roll, in segments, of every chunk after the first (docs/chunking.md, "Seams"). One
 * segment (4 s by default) is longer than any rate-control memory it has to rebuild (the VBV buffer
 * holds `bufsize / maxrate` = 2 s of video, x264's look-ahead at most 60 frames), and a whole segment
 * keeps the pre-roll on the muxer's segment grid: its frames are exactly the chunk's first HLS
 * segment(s), dropped as whole files, with the chunk's IDR forced where it always was. It costs one
 * segment of extra encoding per chunk after the first (1/15 of a 60 s chunk).
 */
export const PREROLL_SEGMENTS = 1;

/**
 * A last chunk shorter than this fraction of the nominal chunk length is merged into the previous
 * chunk (which then runs up to 1.5 chunks long). Half a chunk: the longest chunk bounds the wall time
 * of a split job, and a task of less than half a chunk saves less than its fixed cost (claim, source
 * download, seek, encoder start).
 */
export const TAIL_MERGE_RATIO = 0.5;

/** Rounding slack: durations come from ffprobe as decimals (12.000000 may read 12.0000001). */
const EPS = 1e-6;

/**
 * The split of a `durationS`-second source into chunks of whole `segmentS`-second segments, or null
 * when the job is not split (`off`, unknown duration, shorter than the threshold, one chunk only).
 * The chunk length is rounded to whole segments (at least one), so every chunk starts exactly on a
 * segment boundary where the unchunked encode would force its IDR frame. A tail shorter than half a
 * chunk (`TAIL_MERGE_RATIO`) is part of the last chunk instead of a chunk of its own; if that leaves
 * one chunk, the job is not split. Every chunk after the first gets a pre-roll of
 * `defaults.prerollSegments` (default {@link PREROLL_SEGMENTS}) whole segments, at most the segments
 * before it.
 *
 * @throws RangeError when `segmentS` is not a positive number or the pre-roll is not a whole number ≥ 0.
 */
export function planChunks(
  durationS: number | undefined,
  segmentS: number,
  option: ChunkingOption = 'auto',
  defaults: ChunkingDefaults = DEFAULT_CHUNKING,
): ChunkPlan | null {
  if (!(segmentS > 0)) throw new RangeError('segmentS must be > 0');
  const prerollSegments = defaults.prerollSegments ?? PREROLL_SEGMENTS;
  if (!Number.isInteger(prerollSegments) || prerollSegments < 0)
    throw new RangeError('prerollSegments must be a whole number >= 0');
  if (option === 'off' || durationS === undefined || !(durationS > 0)) return null;
  if (option === 'auto' && durationS <= defaults.thresholdS + EPS) return null;
  const wanted = option === 'auto' ? defaults.chunkS : option.seconds;
  const perChunk = Math.max(1, Math.round(wanted / segmentS));
  const chunkS = perChunk * segmentS;
  const totalSegments = Math.max(1, Math.ceil(durationS / segmentS - EPS));
  let count = Math.ceil(totalSegments / perChunk);
  // A tail shorter than half a chunk is folded into the previous chunk: its own task would cost a
  // claim, a source download and an ffmpeg start for a few seconds (or 0.1 s) of video.
  const tailS = durationS - (count - 1) * chunkS;
  if (count >= 2 && tailS < chunkS * TAIL_MERGE_RATIO - EPS) count -= 1;
  if (count < 2) return null;
  const chunks: ChunkSpan[] = [];
  for (let index = 0; index < count; index++) {
    const firstSegment = index * perChunk;
    const startS = firstSegment * segmentS;
    const last = index === count - 1;
    const segments = last ? totalSegments - firstSegment : perChunk;
    const durationOf = last ? durationS - startS : chunkS;
    const prerollS = round6(Math.min(prerollSegments, firstSegment) * segmentS);
    chunks.push({ index, startS, durationS: round6(durationOf), firstSegment, segments, prerollS });
  }
  return { segmentS, chunkS, chunks };
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

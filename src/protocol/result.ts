import { z } from 'zod';

/**
 * The completion result: what an encoder reports when a job is done (`POST /api/v1/agent/complete`,
 * or the db transport's `complete`), what the job store keeps in `jobs.result` and in each rendition's
 * `result`, and what job views, webhook payloads, the dashboard and the 3Speak views read.
 *
 * Terminology:
 * - **rendition**: one variant of the ladder as produced (media `RenditionResult`): measured
 *   BANDWIDTH/AVERAGE-BANDWIDTH, true size, exact CODECS, the media playlist relative to the master.
 * - **publish**: where the files went (storage `PublishResult`): one entry per file, the IPFS root CID.
 * - **encode**: which backend ran, the ones that failed before it, wall time and speed.
 *
 * The wire is checked with {@link completionResultSchema}; stored rows are read back with
 * {@link parseCompletionResult}, which never throws, because rows written by older versions (or by the
 * 3Speak gateway, which knows only a CID) lack fields or carry others.
 */

/** One produced rendition (media `RenditionResult`). Sizes in pixels, rates in bits/s, times in s. */
export const resultRenditionSchema = z.object({
  name: z.string().min(1).max(64),
  kind: z.enum(['video', 'audio']).optional(),
  width: z.number().int().min(0).optional(),
  height: z.number().int().min(0).optional(),
  /** Peak segment bitrate (BANDWIDTH). */
  bandwidth: z.number().min(0).optional(),
  /** AVERAGE-BANDWIDTH. */
  averageBandwidth: z.number().min(0).optional(),
  /** RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2`. */
  codecs: z.string().max(256).optional(),
  frameRate: z.number().min(0).optional(),
  durationS: z.number().min(0).optional(),
  bytes: z.number().min(0).optional(),
  segments: z.number().int().min(0).optional(),
  /** Media playlist relative to the master playlist, e.g. `720p/index.m3u8`. */
  playlist: z.string().max(1024).optional(),
  /** Progressive MP4 copy relative to the master playlist, when requested. */
  mp4: z.string().max(1024).optional(),
});
export type ResultRendition = z.infer<typeof resultRenditionSchema>;

/** One stored file (storage `PublishedFile`). */
export const publishedFileSchema = z.object({
  path: z.string().max(1024),
  url: z.string().max(4096),
  key: z.string().max(4096).optional(),
  bytes: z.number().min(0).optional(),
  contentType: z.string().max(256).optional(),
  /** Per-file CID, when a destination reports one. */
  cid: z.string().max(256).optional(),
});

/** Where the outputs went (storage `PublishResult`). */
export const publishSummarySchema = z.object({
  type: z.string().max(32).optional(),
  files: z.array(publishedFileSchema).optional(),
  bytes: z.number().min(0).optional(),
  masterUrl: z.string().max(4096).optional(),
  /** IPFS root CID (ipfs destinations, 3Speak results). */
  cid: z.string().max(256).optional(),
  ipfsUrl: z.string().max(4096).optional(),
});
export type PublishSummary = z.infer<typeof publishSummarySchema>;

/** Which backend encoded the ladder, after which failed ones, in how long. */
export const encodeSummarySchema = z.object({
  backend: z.string().max(32),
  fallbacks: z
    .array(z.object({ backend: z.string().max(32), code: z.string().max(64), reason: z.string().max(4096) }))
    .max(8),
  wallS: z.number().min(0),
  /** Multiples of real time. */
  speed: z.number().min(0),
  /**
   * Names encoded by this run; absent: all of `renditions`. A per-rendition retry encodes fewer than
   * the result lists (the rest are kept), and only these are announced as `rendition.completed`.
   */
  renditions: z.array(z.string().min(1).max(64)).max(16).optional(),
});
export type EncodeSummary = z.infer<typeof encodeSummarySchema>;

/**
 * One output of a job with `outputs` (docs/outputs.md), as the encoder produced and published it:
 * `completed` with its URL (the master playlist of hls/dash, the file of mp4/webm/audio/poster, the
 * folder of thumbnails), total bytes and duration (s); or `failed` with the error. Stored as the
 * output's row result; `output.completed` / `output.failed` webhooks carry it.
 */
export const outputResultSchema = z.object({
  name: z.string().min(1).max(64),
  kind: z.string().max(16),
  status: z.enum(['completed', 'failed']),
  url: z.string().max(4096).optional(),
  /** Every published file's URL (thumbnails: one per image), at most 200. */
  files: z.array(z.string().max(4096)).max(200).optional(),
  destinationType: z.string().max(32).optional(),
  bytes: z.number().min(0).optional(),
  durationS: z.number().min(0).optional(),
  width: z.number().int().min(0).optional(),
  height: z.number().int().min(0).optional(),
  /** IPFS root CID of an ipfs destination. */
  cid: z.string().max(256).optional(),
  error: z.object({ code: z.string().max(64), message: z.string().max(4096) }).optional(),
});
export type OutputResult = z.infer<typeof outputResultSchema>;

/** The completion report as encoders send it. */
/** One output file an encoder declares at completion (staged outputs): path, SHA-256 (hex), size in bytes. */
export const stagedFileSchema = z.object({
  path: z.string().min(1).max(1024),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().min(0),
});
export type StagedFile = z.infer<typeof stagedFileSchema>;

export const completionResultSchema = z.object({
  /** Every rendition the job now has (a per-rendition retry reports the kept ones too), highest first. */
  renditions: z.array(resultRenditionSchema).max(16),
  masterUrl: z.string().max(4096),
  posterUrl: z.string().max(4096).optional(),
  /** DASH MPD over the same CMAF segments (ladder option `dash`), issue #17. */
  dashUrl: z.string().max(4096).optional(),
  /** WebVTT thumbnail track of the storyboard (ladder option `storyboard`), issue #17. */
  storyboardUrl: z.string().max(4096).optional(),
  /** Older encoders sent `null` when nothing was reported: read as no details. */
  publish: z.preprocess((v) => v ?? {}, publishSummarySchema),
  encode: encodeSummarySchema,
  /** Jobs with `outputs`: each output run by this attempt (a retry of one output reports that one). */
  outputs: z.array(outputResultSchema).max(16).optional(),
  /**
   * Staged outputs only: every output file as the encoder produced it; the coordinator verifies the
   * staged files against it (docs/verification.md) and does not store it.
   */
  files: z.array(stagedFileSchema).max(20_000).optional(),
  /** Set by the coordinator when it verified the result (src/trust): the checks and spot SSIMs. */
  verification: z
    .object({
      ok: z.boolean(),
      checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })).max(16),
      spots: z.array(z.object({ rendition: z.string(), segment: z.string(), ssim: z.number() })).max(256),
      cpuS: z.number().min(0),
    })
    .optional(),
});
export type CompletionResult = z.infer<typeof completionResultSchema>;

/** A stored result as read back: `encode` is absent on results that did not come from an encoder. */
export type StoredResult = Omit<CompletionResult, 'encode'> & { encode?: EncodeSummary };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keeps the fields of `value` that pass `schema`'s field schemas one by one (old rows stay readable). */
function fieldwise<S extends z.ZodObject>(schema: S, value: Obj): Partial<z.infer<S>> {
  const out: Obj = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const r = field.safeParse(value[key]);
    if (r.success && r.data !== undefined) out[key] = r.data;
  }
  return out as Partial<z.infer<S>>;
}

/**
 * A stored `jobs.result` (or the job of a webhook payload) as a typed result, or null when it is not an
 * object. Never throws: a valid result parses as is; otherwise each field that parses on its own is
 * kept (renditions without a name and files without a path are dropped).
 */
export function parseCompletionResult(value: unknown): StoredResult | null {
  if (!isObj(value)) return null;
  const whole = completionResultSchema.safeParse(value);
  if (whole.success) return whole.data;
  const renditions = (Array.isArray(value.renditions) ? value.renditions : [])
    .filter(isObj)
    .map((r) => fieldwise(resultRenditionSchema, r))
    .filter((r): r is ResultRendition => typeof r.name === 'string');
  const publishIn = isObj(value.publish) ? value.publish : {};
  const files = (Array.isArray(publishIn.files) ? publishIn.files : [])
    .filter(isObj)
    .map((f) => fieldwise(publishedFileSchema, f))
    .filter(
      (f): f is z.infer<typeof publishedFileSchema> =>
        typeof f.path === 'string' && typeof f.url === 'string',
    );
  const { files: _ignored, ...publishRest } = fieldwise(publishSummarySchema, publishIn);
  const encode = encodeSummarySchema.safeParse(value.encode);
  const posterUrl = typeof value.posterUrl === 'string' ? value.posterUrl : undefined;
  return {
    renditions,
    masterUrl: typeof value.masterUrl === 'string' ? value.masterUrl : '',
    ...(posterUrl ? { posterUrl } : {}),
    publish: { ...publishRest, ...(files.length > 0 ? { files } : {}) },
    ...(encode.success ? { encode: encode.data } : {}),
  };
}

/**
 * The per-unit rows a completion sets (job store `complete`): one per reported output (its status,
 * result and error) for jobs with outputs, else one `completed` row per rendition.
 */
export function completionRows(
  result: CompletionResult,
): { name: string; status: 'completed' | 'failed'; result: unknown; error?: string }[] {
  if (result.outputs)
    return result.outputs.map((o) => ({
      name: o.name,
      status: o.status,
      result: o,
      ...(o.error ? { error: `${o.error.code}: ${o.error.message}` } : {}),
    }));
  return result.renditions.map((r) => ({ name: r.name, status: 'completed', result: r }));
}

/**
 * The stored results of the renditions an earlier run completed (rendition rows of the job store),
 * handed to the encoder of a per-rendition retry so its master playlist lists them beside the ones it
 * encodes. Rows whose result does not parse are left out (the encoder then encodes them again).
 */
export function keptRenditions(
  rows: ReadonlyArray<{ name: string; status: string; result: unknown }>,
): ResultRendition[] {
  return rows.flatMap((row) => {
    if (row.status !== 'completed') return [];
    const r = resultRenditionSchema.safeParse(row.result);
    return r.success && r.data.name === row.name ? [r.data] : [];
  });
}

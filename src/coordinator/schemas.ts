import { z } from 'zod';
import { JOB_STAGES, JOB_STATUSES, RENDITION_STATUSES } from '../jobs/vocabulary.js';
import { encoderLoadSchema } from '../protocol/wire.js';

/**
 * Response shapes of the REST API. They are allowlists: the zod serializer drops every field not named
 * here, so internal columns (lease tokens, tenants, secrets in specs) never leave the server by accident.
 * Times are ISO 8601 strings; progress is percent 0..100; durations and ETAs are seconds; bitrates bits/s.
 */

export const jobStatusSchema = z.enum(JOB_STATUSES);
export const jobStageSchema = z.enum(JOB_STAGES);

export const renditionStateSchema = z.object({
  name: z.string(),
  /** `skipped`: the encoder's plan leaves it out for this source (never upscaled); it will not be produced. */
  status: z.enum(RENDITION_STATUSES),
  progress: z.number(),
});

export const renditionResultSchema = z.object({
  name: z.string(),
  width: z.number().optional(),
  height: z.number().optional(),
  bandwidth: z.number().optional(),
  averageBandwidth: z.number().optional(),
  codecs: z.string().optional(),
  frameRate: z.number().optional(),
  durationS: z.number().optional(),
  bytes: z.number().optional(),
  playlist: z.string().optional(),
  url: z.string().optional(),
});

/**
 * One output of a job with outputs (docs/outputs.md): its row's status and progress, and once run its
 * URL (absolute for `local`), published bytes, duration (s), frame size, and the error when it failed.
 */
export const outputViewSchema = z.object({
  name: z.string(),
  kind: z.string(),
  status: z.enum(RENDITION_STATUSES),
  progress: z.number(),
  destinationType: z.string(),
  url: z.string().optional(),
  files: z.array(z.string()).optional(),
  bytes: z.number().optional(),
  durationS: z.number().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  cid: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type OutputView = z.infer<typeof outputViewSchema>;

export const jobResultSchema = z.object({
  masterUrl: z.string(),
  posterUrl: z.string().optional(),
  /** DASH MPD over the same CMAF segments, when the ladder asked for `dash`. */
  dashUrl: z.string().optional(),
  /** WebVTT thumbnail track (sprite sheets beside it), when the ladder asked for a `storyboard`. */
  storyboardUrl: z.string().optional(),
  renditions: z.array(renditionResultSchema),
  ipfsCid: z.string().optional(),
  encode: z
    .object({ backend: z.string(), wallS: z.number(), speed: z.number(), fallbacks: z.array(z.unknown()) })
    .partial()
    .optional(),
  /** Present when the coordinator verified an untrusted encoder's result (docs/verification.md). */
  verification: z
    .object({
      ok: z.boolean(),
      checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
      /** CPU seconds the verification cost. */
      cpuS: z.number(),
    })
    .optional(),
});

export const jobViewSchema = z.object({
  id: z.string(),
  status: jobStatusSchema,
  stage: jobStageSchema.nullable(),
  progress: z.number(),
  etaS: z.number().nullable(),
  /** Encode speed the encoder reports while it runs (× real time). */
  speed: z.number().nullable(),
  /** Frames per second the encoder reports while it runs (every rendition of one ffmpeg run). */
  fps: z.number().nullable(),
  /** Chunk tasks (docs/chunking.md): the split job this task is part of, and its place (-1: audio). */
  parentId: z.string().optional(),
  chunkIndex: z.number().int().optional(),
  queue: z.string(),
  priority: z.string(),
  network: z.enum(['private', 'community']).describe('who may encode it (docs/identity.md)'),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  encoderId: z.string().nullable(),
  metadata: z.record(z.string(), z.string()),
  source: z.object({ type: z.string() }),
  destination: z.object({ type: z.string() }),
  renditions: z.array(renditionStateSchema),
  /** Jobs with `outputs` only. */
  outputs: z.array(outputViewSchema).optional(),
  result: jobResultSchema.nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
  links: z.object({ self: z.string(), events: z.string(), logs: z.string(), master: z.string().optional() }),
});
export type JobView = z.infer<typeof jobViewSchema>;

export const jobEventSchema = z.object({
  id: z.number(),
  from: z.string().nullable(),
  to: z.string(),
  actor: z.string(),
  reason: z.string().nullable(),
  at: z.string(),
  /**
   * Routing, only on `routed`, `claimed`, `rerouted` and rerouting `retry_scheduled` events: the plan's
   * steps (`{step, encoderId, from, until}`, `{step, skipped}`, `{step: 'open', from, community}`), the
   * step a claim came in (`route`), and a step that ended early (`rerouted`: the owner's agent fell
   * silent, `why: 'silent'`, or the owner's encoder failed the job and is skipped from now on,
   * `why: 'failed'`; a pin, `step: 'pin'`, whose window ran out, `why: 'expired'`, or whose encoder failed
   * the job or its verification, `why: 'failed'`; with the times the next steps start, ISO 8601,
   * `browserFrom` null: no browser step).
   */
  routing: z
    .object({
      steps: z.array(z.record(z.string(), z.unknown())).optional(),
      route: z.string().optional(),
      rerouted: z
        .object({
          step: z.string(),
          encoderId: z.string(),
          why: z.enum(['silent', 'failed', 'expired']),
          browserFrom: z.string().nullable(),
          openFrom: z.string().nullable(),
        })
        .optional(),
    })
    .optional(),
});
export type JobEventView = z.infer<typeof jobEventSchema>;

export const logLineSchema = z.object({
  seq: z.number(),
  stream: z.string(),
  line: z.string(),
  at: z.string(),
});

export const encoderViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.string(),
  did: z.string().nullable(),
  version: z.string().nullable(),
  status: z.string(),
  approval: z.string(),
  capabilities: z.object({
    codecs: z.array(z.string()),
    hwaccel: z.array(z.string()),
    maxHeight: z.number(),
    maxDurationS: z.number().optional(),
    concurrency: z.number(),
    freeDiskBytes: z.number().optional(),
    tags: z.array(z.string()),
  }),
  registeredAt: z.string(),
  lastSeenAt: z.string(),
  jobsCompleted: z.number(),
  jobsFailed: z.number(),
  encodeSeconds: z.number(),
  activeJobs: z.number().optional(),
  /** Host name from its last heartbeat (self-reported); null until one arrives. */
  host: z.string().nullable(),
  /** Load from its last heartbeat, fractions 0..1 (`gpu` only with a readable GPU); null until one arrives. */
  load: encoderLoadSchema.nullable(),
  /** Verified results of an encoder whose results are verified (docs/verification.md). */
  reputation: z
    .object({
      /** 0..1: (passes + 1) / (passes + 3 × failures + 2). */
      score: z.number(),
      verifiedPasses: z.number().int(),
      verifiedFailures: z.number().int(),
      consecutiveFailures: z.number().int(),
      lastFailure: z.string().nullable(),
    })
    .optional(),
});
export type EncoderView = z.infer<typeof encoderViewSchema>;

/** Capabilities an encoder registers with (contract: docs/api.md). */
/** What an encoder can do (one definition: src/protocol/wire.ts). */
export { capabilitiesSchema } from '../protocol/wire.js';

/** Server-Sent Event payloads of `GET /api/v1/jobs/:id/events` (event name = `type`). */
export type JobStreamEvent =
  | { type: 'snapshot'; job: JobView }
  | { type: 'progress'; job: JobView }
  | { type: 'transition'; job: JobView; from: string | null; to: string; reason: string | null }
  | { type: 'end'; job: JobView };

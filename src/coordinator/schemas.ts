import { z } from 'zod';

/**
 * Response shapes of the REST API. They are allowlists: the zod serializer drops every field not named
 * here, so internal columns (lease tokens, tenants, secrets in specs) never leave the server by accident.
 * Times are ISO 8601 strings; progress is percent 0..100; durations and ETAs are seconds; bitrates bits/s.
 */

export const jobStatusSchema = z.enum([
  'queued',
  'leased',
  'running',
  'completed',
  'failed',
  'dead',
  'cancelled',
]);
export const jobStageSchema = z.enum(['downloading', 'encoding', 'uploading']);

export const renditionStateSchema = z.object({
  name: z.string(),
  status: z.enum(['pending', 'running', 'completed', 'failed']),
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

export const jobResultSchema = z.object({
  masterUrl: z.string(),
  posterUrl: z.string().optional(),
  renditions: z.array(renditionResultSchema),
  ipfsCid: z.string().optional(),
  encode: z
    .object({ backend: z.string(), wallS: z.number(), speed: z.number(), fallbacks: z.array(z.unknown()) })
    .partial()
    .optional(),
});

export const jobViewSchema = z.object({
  id: z.string(),
  status: jobStatusSchema,
  stage: jobStageSchema.nullable(),
  progress: z.number(),
  etaS: z.number().nullable(),
  queue: z.string(),
  priority: z.string(),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  encoderId: z.string().nullable(),
  metadata: z.record(z.string(), z.string()),
  source: z.object({ type: z.string() }),
  destination: z.object({ type: z.string() }),
  renditions: z.array(renditionStateSchema),
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
});
export type EncoderView = z.infer<typeof encoderViewSchema>;

/** Capabilities an encoder registers with (contract: docs/api.md). */
export const capabilitiesSchema = z.object({
  codecs: z.array(z.string().max(32)).max(16),
  hwaccel: z.array(z.string().max(32)).max(16),
  maxHeight: z.number().int().min(1).max(8640),
  maxDurationS: z.number().positive().optional(),
  concurrency: z.number().int().min(1).max(256),
  freeDiskBytes: z.number().int().min(0).optional(),
  tags: z.array(z.string().max(64)).max(32),
});

/** Server-Sent Event payloads of `GET /api/v1/jobs/:id/events` (event name = `type`). */
export type JobStreamEvent =
  | { type: 'snapshot'; job: JobView }
  | { type: 'progress'; job: JobView }
  | { type: 'transition'; job: JobView; from: string | null; to: string; reason: string | null }
  | { type: 'end'; job: JobView };

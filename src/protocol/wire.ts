import { z } from 'zod';
import { ENCODER_KINDS, isReservedTag, JOB_STAGES, RENDITION_STATUSES } from '../jobs/vocabulary.js';
import { completionResultSchema, resultRenditionSchema } from './result.js';

/**
 * The coordinator ↔ encoder work protocol: one definition of every message, used by the HTTP agent
 * routes (src/coordinator/routes/agent.ts), the HTTP transport (src/encoder/http-transport.ts), the
 * job-store transport of in-process and infrastructure encoders (src/encoder/db-transport.ts) and the
 * hand-out that builds a claim answer for a given encoder's trust ({@link ./handout.ts}).
 *
 * Units: times are ISO 8601 strings on the wire, durations in seconds (`…S`) or milliseconds (`…Ms`),
 * sizes in bytes, progress in percent 0..100. docs/api.md documents the HTTP form.
 */

export const encoderIdSchema = z.string().min(1).max(128);

/** What an encoder can do; the coordinator leases only jobs that fit. */
export const capabilitiesSchema = z.object({
  /** Output video codecs, e.g. `['h264']`. */
  codecs: z.array(z.string().max(32)).max(16),
  /** Hardware backends that passed a real test encode, best first (`[]`: software only). */
  hwaccel: z.array(z.string().max(32)).max(16),
  /** Largest output height in pixels. */
  maxHeight: z.number().int().min(1).max(8640),
  /** Longest source in seconds (browsers); absent: unlimited. */
  maxDurationS: z.number().positive().optional(),
  /** Jobs at once. */
  concurrency: z.number().int().min(1).max(256),
  /** Free bytes on the work disk at registration. */
  freeDiskBytes: z.number().int().min(0).optional(),
  /** Operator labels matched against a job's required tags. */
  tags: z
    .array(z.string().max(64))
    .max(32)
    .refine((tags) => !tags.some(isReservedTag), 'tags starting with vidmesh: are reserved'),
});
export type Capabilities = z.infer<typeof capabilitiesSchema>;

/** Body of `POST /api/v1/encoders/register`. */
export const registrationSchema = z.object({
  name: z.string().min(1).max(128),
  /** Self-declared; trust is not derived from it. */
  kind: z.enum(ENCODER_KINDS),
  /** vidmesh package version of the node. */
  version: z.string().max(64),
  capabilities: capabilitiesSchema,
  /** did:key identity; only a request signed by that DID may register it. */
  did: z.string().max(256).optional(),
});
export type Registration = z.infer<typeof registrationSchema>;

/**
 * Per-job source limits, checked by the encoder right after probe and before any decode (a hostile
 * header costs one ffprobe run). Set on the coordinator (`VIDMESH_MAX_SOURCE_*`), carried in each claim.
 */
export const sourceLimitsSchema = z.object({
  /** Largest width or height in pixels (coded size). */
  maxDimension: z.number().int().positive(),
  /** Largest width × height in pixels. */
  maxPixels: z.number().int().positive(),
  /** Longest duration in seconds. */
  maxDurationS: z.number().positive(),
  /** Most video frames (duration × average fps). */
  maxFrames: z.number().int().positive(),
});
export type SourceLimits = z.infer<typeof sourceLimitsSchema>;

/**
 * How the encoder moves bytes for one job, decided by the coordinator from the encoder's trust:
 * - `source: 'direct'`: read `spec.source` itself (its credentials are in the spec);
 *   `'coordinator'`: GET the lease-bound relay `/api/v1/agent/jobs/:jobId/source` (the spec holds no
 *   credential; the coordinator fetches the real source).
 * - `output: 'direct'`: publish to `spec.destination` itself; `'coordinator'`: PUT every output file to
 *   `/api/v1/agent/outputs/:jobId/<path>`, where it is staged and published by the coordinator after
 *   completion (the spec's destination holds no credential).
 */
export const transferPlanSchema = z.object({
  source: z.enum(['direct', 'coordinator']),
  output: z.enum(['direct', 'coordinator']),
});
export type TransferPlan = z.infer<typeof transferPlanSchema>;

/** Trust levels (docs/identity.md): decided once per encoder from who registered it. */
export const TRUST_LEVELS = ['operator', 'tenant', 'community'] as const;
export type TrustLevel = (typeof TRUST_LEVELS)[number];

/**
 * The coordinator's plan of a job, handed to encoders that cannot probe and plan the source themselves
 * (a browser tab, docs/encoders.md): src/media's `planLadder` for the source, reduced to what an encoder
 * must match for the result to verify (src/trust). Seconds, bits/s, pixels.
 */
export const encodePlanSchema = z.object({
  /** Output duration, s (the source's, or the short-mode cut). */
  durationS: z.number().positive(),
  /** Target HLS segment duration, s; a keyframe starts every segment. */
  segmentDurationS: z.number().positive(),
  /** Constant output frame rate, frames/s. */
  fps: z.number().positive(),
  /** Frames per GOP (= ceil(segment duration × fps)). */
  gopFrames: z.number().int().positive(),
  format: z.enum(['ts', 'fmp4']),
  renditions: z
    .array(
      z.object({
        name: z.string().max(32),
        codec: z.string().max(16),
        width: z.number().int().positive(),
        height: z.number().int().positive(),
        /** Target bitrate, bits/s. */
        videoBitrate: z.number().int().positive(),
        /** Peak bitrate, bits/s. */
        maxrate: z.number().int().positive(),
        profile: z.string().max(16),
        level: z.string().max(8).optional(),
      }),
    )
    .max(16),
  /** Audio of the output: encode/copy the source's first audio stream, or none. */
  audio: z.object({ bitrate: z.number().int().positive() }).optional(),
});
export type EncodePlan = z.infer<typeof encodePlanSchema>;

/** Answer of a successful `POST /api/v1/agent/claim`: the job as this encoder may see it. */
export const claimHandoutSchema = z.object({
  job: z.object({
    id: z.string().min(1),
    /** The job spec, secrets opened for trusted encoders and removed for the others. */
    spec: z.unknown(),
    /** Exactly the renditions to encode now (a per-rendition retry names only those). */
    renditions: z.array(z.string().max(32)).max(16),
    /** 1 for the first attempt. */
    attempt: z.number().int().min(0),
    /**
     * With a per-rendition retry: the stored results of the renditions already done, which the
     * encoder's master playlist lists beside the ones it encodes now.
     */
    keep: z.array(resultRenditionSchema).max(16).optional(),
    /**
     * Only for an encoder working for the job's own user (desktop agent, browser encoder): what the
     * job is, as the blueprint's local-agent claim answers it (owner, Hive permlink from the job's
     * metadata, rendition names, source seconds when known).
     */
    about: z
      .object({
        owner: z.string().nullable(),
        permlink: z.string().nullable(),
        qualities: z.array(z.string()),
        durationS: z.number().nullable(),
      })
      .optional(),
  }),
  leaseToken: z.string().min(1),
  /** ISO 8601 end of the lease unless renewed. */
  leaseExpiresAt: z.string(),
  /** W3C trace context of the job (when traced). */
  traceparent: z.string().optional(),
  limits: sourceLimitsSchema.optional(),
  transfer: transferPlanSchema.default({ source: 'direct', output: 'direct' }),
  /** The trust level the coordinator gave this encoder for this job. */
  trust: z.enum(TRUST_LEVELS).optional(),
  /** For encoders of a limited kind (`browser`): the coordinator's plan of the job, to be matched. */
  plan: encodePlanSchema.optional(),
});
export type ClaimHandout = z.infer<typeof claimHandoutSchema>;

/** Body of `POST /api/v1/agent/claim`. */
export const claimRequestSchema = z.object({
  encoderId: encoderIdSchema,
  /** Long-poll time in ms (the coordinator caps it). */
  waitMs: z.number().int().min(0).max(30_000).default(0),
});

/** `{encoderId, jobId, leaseToken}`: every call after a claim names its lease. */
export const leaseFields = {
  encoderId: encoderIdSchema,
  jobId: z.string().min(1).max(64),
  leaseToken: z.string().min(1).max(256),
};

const logsSchema = z.array(z.string().max(4096)).max(500).optional();

/** One rendition's state inside a progress report. */
export const renditionProgressSchema = z.object({
  name: z.string().max(32),
  status: z.enum(RENDITION_STATUSES),
  /** 0..100 */
  progress: z.number().min(0).max(100),
});
export type RenditionProgressReport = z.infer<typeof renditionProgressSchema>;

/** Body of `POST /api/v1/agent/progress` (renews the lease). */
export const progressRequestSchema = z.object({
  ...leaseFields,
  stage: z.enum(JOB_STAGES),
  /** Percent of the current stage. */
  progress: z.number().min(0).max(100),
  /** Seconds until the stage ends. */
  etaS: z.number().min(0).optional(),
  /** Encode speed as a multiple of real time. */
  speed: z.number().min(0).optional(),
  /** Frames encoded per second. */
  fps: z.number().min(0).max(100_000).optional(),
  renditions: z.array(renditionProgressSchema).max(16).optional(),
  logs: logsSchema,
});

/** Answer of a progress call. */
export const progressAnswerSchema = z.object({
  /** True after a user cancelled the job: stop at once. */
  cancelled: z.boolean(),
  leaseExpiresAt: z.string(),
});

/** Body of `POST /api/v1/agent/complete`: the result is src/protocol/result.ts's one schema. */
export const completeRequestSchema = z.object({
  ...leaseFields,
  result: completionResultSchema,
  logs: logsSchema,
});

/** Body of `POST /api/v1/agent/fail`. */
export const failRequestSchema = z.object({
  ...leaseFields,
  error: z.object({ code: z.string().max(64), message: z.string().max(4096) }),
  /** False for bad input (the job would fail again anywhere). */
  retryable: z.boolean(),
  logs: logsSchema,
});

/** Body of `POST /api/v1/agent/release` (graceful shutdown; no attempt counted). */
export const releaseRequestSchema = z.object({
  ...leaseFields,
  reason: z.string().max(512).default('released'),
});

const fraction = z.number().min(0).max(1);

/** An encoder's load (src/jobs/types.ts `EncoderLoad`): fractions 0..1; loads above 1 are sent as 1. */
export const encoderLoadSchema = z.object({
  cpu: fraction,
  memory: fraction,
  gpu: fraction.optional(),
  at: z.string().datetime(),
});

/** Body of `POST /api/v1/encoders/heartbeat`; `host` and `load` are self-reported, shown to operators. */
export const heartbeatRequestSchema = z.object({
  encoderId: encoderIdSchema,
  activeJobs: z.array(z.string().max(64)).max(256).default([]),
  /** Host name (RFC 1123 characters). */
  host: z
    .string()
    .max(253)
    .regex(/^[A-Za-z0-9.-]+$/, 'a host name: letters, digits, dots and hyphens')
    .optional(),
  load: encoderLoadSchema.optional(),
});

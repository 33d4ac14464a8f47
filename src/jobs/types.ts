/**
 * Public types of the job store. Times are `Date`s; durations are named with their unit
 * (`leaseMs` milliseconds, `durationS` seconds); progress is a percentage 0..100.
 */

/**
 * - `queued`: waiting for a claim (from `runAfter` on).
 * - `leased`: claimed, the encoder has not reported a stage yet.
 * - `running`: the encoder reported progress (stage downloading | encoding | uploading).
 * - `failed`: a retryable failure; claimable again from `runAfter` (the backoff delay).
 * - `completed`, `dead` (attempts exhausted or non-retryable), `cancelled`: final until a manual retry.
 */
export type JobStatus = 'queued' | 'leased' | 'running' | 'completed' | 'failed' | 'dead' | 'cancelled';
export type JobStage = 'downloading' | 'encoding' | 'uploading';
export type QueueName = 'live' | 'default' | 'batch';
export type Priority = 'high' | 'medium' | 'low';
export type EncoderKind = 'infrastructure' | 'community' | 'desktop' | 'browser';
export type ProtocolFamily = 'vidmesh' | '3speak';
export type RenditionStatus = 'pending' | 'running' | 'completed' | 'failed';

/** Claim order weight = queue weight x priority weight (as in the FFmpeg-RTMP farm). */
export const QUEUE_WEIGHTS: Readonly<Record<QueueName, number>> = { live: 10, default: 5, batch: 1 };
export const PRIORITY_WEIGHTS: Readonly<Record<Priority, number>> = { high: 3, medium: 2, low: 1 };

export const JOB_STATUSES: readonly JobStatus[] = [
  'queued',
  'leased',
  'running',
  'completed',
  'failed',
  'dead',
  'cancelled',
];
export const FINAL_STATUSES: readonly JobStatus[] = ['completed', 'dead', 'cancelled'];

/** What an encoder must offer to be given the job (all optional: absent means "any"). */
export interface JobRequirements {
  /** Codecs the encoder must support, e.g. `['h264', 'aac']`. */
  codecs?: string[];
  /** A required hardware accelerator (e.g. `nvenc`); absent: software is fine. */
  hwaccel?: string;
  /** Source (maximum) height in pixels the encoder must handle. */
  sourceHeight?: number;
  /** Source duration, seconds (matched against an encoder's `maxDurationS`). */
  durationS?: number;
  /** Tags the encoder must carry (e.g. `['gpu', 'eu']`). */
  tags?: string[];
  /** Encoder kinds in order of preference (blueprint: infrastructure, browser, community). */
  preferredKinds?: EncoderKind[];
}

export interface SubmitInput {
  /** The validated job spec (the coordinator validates it); stored as opaque JSON. */
  spec: unknown;
  /** Rendition names (e.g. `['1080p', '720p']`); each gets its own status row. */
  renditions: string[];
  tenant?: string;
  owner?: string;
  queue?: QueueName;
  priority?: Priority;
  /** Attempts before a job is dead (default the store's `maxAttempts`, 5). */
  maxAttempts?: number;
  protocol?: ProtocolFamily;
  metadata?: Record<string, unknown>;
  requirements?: JobRequirements;
  /** Not claimable before this time (default now). */
  runAfter?: Date;
  /** W3C traceparent the job's trace continues from (claims return it to the encoder). */
  traceparent?: string;
}

export interface Rendition {
  name: string;
  status: RenditionStatus;
  progress: number;
  result: unknown;
  error: string | null;
}

export interface JobError {
  message: string;
  code?: string;
  details?: Record<string, unknown>;
}

/** A job as read from the store. The lease token is never part of it (only `claim` returns it). */
export interface Job {
  id: string;
  shortId: string;
  tenant: string;
  owner: string | null;
  protocol: ProtocolFamily;
  spec: unknown;
  metadata: Record<string, unknown>;
  status: JobStatus;
  stage: JobStage | null;
  progress: number;
  etaS: number | null;
  queue: QueueName;
  priority: Priority;
  requirements: Required<Pick<JobRequirements, 'codecs' | 'tags' | 'preferredKinds'>> &
    Pick<JobRequirements, 'hwaccel' | 'sourceHeight' | 'durationS'>;
  attempts: number;
  maxAttempts: number;
  runAfter: Date;
  /** Current lease holder and expiry; null when no lease is live. */
  lease: { encoderId: string; expiresAt: Date } | null;
  /** The encoder that last held a lease. */
  encoderId: string | null;
  result: unknown;
  lastError: JobError | null;
  renditions: Rendition[];
  createdAt: Date;
  updatedAt: Date;
  claimedAt: Date | null;
  finishedAt: Date | null;
  /** W3C traceparent of the span that submitted the job (src/tracing.ts); absent when not traced. */
  traceparent?: string;
}

/** What an encoder can do, reported at registration and with each claim. */
export interface EncoderCapabilities {
  codecs: string[];
  /** Available hardware accelerators (`[]` for software only). */
  hwaccel: string[];
  /** Largest source height, pixels. */
  maxHeight: number;
  /** Longest source, seconds (browsers); absent: unlimited. */
  maxDurationS?: number;
  /** Jobs it runs at once. */
  concurrency: number;
  freeDiskBytes?: number;
  tags: string[];
  /** Only claim from these queues; absent: all. */
  queues?: QueueName[];
}

export interface EncoderRef {
  id: string;
  kind: EncoderKind;
}

export interface Claim {
  job: Job;
  /** Secret fencing token: pass with the encoder id to renew/complete/fail/release/appendLogs. */
  leaseToken: string;
  leaseExpiresAt: Date;
  /** 1-based attempt number of this lease. */
  attempt: number;
}

export interface ProgressUpdate {
  stage?: JobStage;
  /** 0..100 */
  progress?: number;
  etaS?: number;
  renditions?: Array<{ name: string; status: RenditionStatus; progress: number }>;
}

export interface RenewResult {
  /** The job was cancelled: stop working and discard the output. */
  cancelled: boolean;
  leaseExpiresAt: Date;
}

export interface CompleteInput {
  result: unknown;
  /** Per-rendition outcome; renditions not listed are marked completed (earlier results kept). */
  renditions?: Array<{ name: string; status?: 'completed' | 'failed'; result?: unknown; error?: string }>;
  /** Encoder busy time for this job, seconds (added to the encoder's counters). */
  encodeSeconds?: number;
}

export interface JobEvent {
  id: number;
  jobId: string;
  from: JobStatus | null;
  to: JobStatus;
  actor: string;
  reason: string | null;
  details: Record<string, unknown> | null;
  at: Date;
}

/** Delivered to `onJobChange` listeners; `resync`: notifications may have been missed, re-read. */
export type JobChange =
  | {
      type: 'transition';
      eventId: number;
      jobId: string;
      from: JobStatus | null;
      to: JobStatus;
      actor: string;
      at: Date;
    }
  | { type: 'resync' };

export interface ListFilter {
  status?: JobStatus[];
  tenant?: string;
  owner?: string;
  queue?: QueueName;
  /** Jobs whose last lease holder is this encoder. */
  encoderId?: string;
  /** Case-insensitive text search over short id, id, owner and metadata (never the spec: secrets). */
  search?: string;
  /** Page size, 1..200 (default 50). */
  limit?: number;
  /** Opaque cursor from the previous page's `nextCursor`. */
  cursor?: string;
}

export interface JobPage {
  jobs: Job[];
  nextCursor: string | null;
}

export interface QueueStats {
  /** Claimable or waiting (queued + failed) per queue and priority. */
  depth: Array<{ queue: QueueName; priority: Priority; count: number; oldestAgeS: number }>;
  byStatus: Record<JobStatus, number>;
  running: number;
  perEncoder: Array<{ encoderId: string; running: number }>;
}

export interface ClaimAvailability {
  available: boolean;
  reason: 'claimable' | 'not_found' | 'leased' | 'waiting_for_backoff' | 'finished';
  currentOwner: string | null;
  status: JobStatus | null;
}

export interface OwnershipCheck {
  isOwned: boolean;
  jobExists: boolean;
  actualOwner: string | null;
  status: JobStatus | null;
  /** Owned by this encoder, lease live and the job not cancelled/finished. */
  isSafeToProcess: boolean;
}

export interface LogLine {
  seq: number;
  stream: string;
  line: string;
  at: Date;
}

export type EncoderApproval = 'approved' | 'pending' | 'banned';

export interface RegisterEncoderInput {
  /** Stable id; default derived from `did`, else from kind and name, so re-registering never duplicates. */
  id?: string;
  did?: string;
  publicKey?: string;
  name: string;
  kind: EncoderKind;
  capabilities: EncoderCapabilities;
  version?: string;
  tenant?: string;
  /** Approval for a new encoder (default approved); re-registering keeps the operator's decision. */
  approval?: EncoderApproval;
}

export interface Encoder {
  id: string;
  did: string | null;
  publicKey: string | null;
  name: string;
  kind: EncoderKind;
  capabilities: EncoderCapabilities;
  tags: string[];
  version: string | null;
  tenant: string | null;
  status: 'online' | 'offline';
  approval: EncoderApproval;
  registeredAt: Date;
  lastSeenAt: Date;
  jobsCompleted: number;
  jobsFailed: number;
  encodeSeconds: number;
  /** Jobs it holds a live lease on now. */
  activeJobs: number;
}

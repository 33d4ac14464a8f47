/**
 * Public types of the job store. Times are `Date`s; durations are named with their unit
 * (`leaseMs` milliseconds, `durationS` seconds); progress is a percentage 0..100.
 */

// The job vocabulary (statuses, stages, kinds, queues, priorities, transitions) lives in one file.
export * from './vocabulary.js';

import type {
  EncoderApproval,
  EncoderKind,
  EncoderStatus,
  JobNetwork,
  JobStage,
  JobStatus,
  Priority,
  ProtocolFamily,
  QueueName,
  RenditionStatus,
} from './vocabulary.js';

/** What an encoder must offer to be given the job (all optional: absent means "any"). */
export interface JobRequirements {
  /** Codecs the encoder must support, e.g. `['h264', 'aac']`. */
  codecs?: string[];
  /** A required hardware accelerator (e.g. `nvenc`); absent: software is fine. */
  hwaccel?: string;
  /**
   * Tallest output height in pixels the job needs (its planned ladder's top video rendition for the
   * probed source, set at submit for upload sources), matched against the encoder's `maxHeight`.
   */
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
  /** `community`: encoders of other tenants and community encoders may claim it (default `private`). */
  network?: JobNetwork;
  /**
   * Who may claim it (src/market): absent/null every encoder the usual rules allow, `''` nobody yet
   * (a market order waiting for an accepted bid), an encoder id only that encoder.
   */
  reservedFor?: string | null;
  /**
   * "Encode here" (`pinEncoder`): held for encoder `encoderId` alone for the store's pin window
   * (`VIDMESH_PIN_GRACE_S`), or until that encoder fails the job or its result fails verification.
   * Then `fallback` `'route'`: the owner's routing plan (planned to start at the pin's end) takes over;
   * `'fail'`: the job is dead-lettered with error code `pin_ended`. Overrides `reservedFor`.
   */
  pin?: { encoderId: string; fallback: 'route' | 'fail' };
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
  /** Encode speed the encoder last reported (× real time), while it runs; null otherwise. */
  speed: number | null;
  /** Frames per second the encoder last reported (all renditions of one ffmpeg run), while it runs. */
  fps: number | null;
  /** Chunked encoding (docs/chunking.md): the job this chunk task is part of; absent for other jobs. */
  parentId?: string;
  /** Place of this chunk task in its parent (0-based; -1 is the audio task); absent for other jobs. */
  chunkIndex?: number;
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
  /** Who may claim it beyond its tenant's and the operator's encoders (see {@link JobNetwork}). */
  network: JobNetwork;
}

/** What an encoder can do, reported at registration and with each claim. */
export interface EncoderCapabilities {
  codecs: string[];
  /** Available hardware accelerators (`[]` for software only). */
  hwaccel: string[];
  /** Largest output height, pixels (a job's `sourceHeight` requirement above it is never claimed). */
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

/**
 * Which jobs a claim may lease (the trust boundary, src/protocol/handout.ts `claimScopeOf`): `all`
 * (operator encoders), a tenant's jobs plus open-network ones (`tenant`), or open-network jobs only
 * (`community`), or one user's jobs only (`user`: their desktop agent or browser encoder, paired by
 * their tenant; routing, src/jobs/routing.ts). Open-network jobs are those submitted with `network: 'community'`.
 */
export type ClaimScope =
  | { kind: 'all' }
  | { kind: 'tenant'; tenant: string }
  | { kind: 'community' }
  | { kind: 'user'; tenant: string; user: string };

export interface EncoderRef {
  id: string;
  kind: EncoderKind;
  /** Default `{kind: 'all'}`: the caller is the operator's encoder. */
  scope?: ClaimScope;
  /** Reputation score 0..1 matched against a job's `minScore` (default 1: a trusted encoder). */
  score?: number;
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
  /** Encode speed, multiples of real time. */
  speed?: number;
  /** Frames encoded per second. */
  fps?: number;
  renditions?: Array<{ name: string; status: RenditionStatus; progress: number }>;
}

export interface RenewResult {
  /** The job was cancelled: stop working and discard the output. */
  cancelled: boolean;
  leaseExpiresAt: Date;
}

export interface CompleteInput {
  result: unknown;
  /**
   * Per-rendition outcome. A rendition not listed keeps `completed`/`skipped` (and its earlier result);
   * otherwise it becomes `skipped` when others are listed (not produced for this source), `completed`
   * when none are.
   */
  renditions?: Array<{
    name: string;
    status?: Extract<RenditionStatus, 'completed' | 'failed' | 'skipped'>;
    result?: unknown;
    error?: string;
  }>;
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
  /** The user this encoder works for (a paired desktop agent or browser encoder); null/absent: nobody's. */
  user?: EncoderUser | null;
}

/** The user a paired encoder works for: a user name (Hive account or vidmesh user) within a tenant. */
export interface EncoderUser {
  tenant: string;
  name: string;
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
  status: EncoderStatus;
  approval: EncoderApproval;
  registeredAt: Date;
  lastSeenAt: Date;
  jobsCompleted: number;
  jobsFailed: number;
  encodeSeconds: number;
  /** Jobs it holds a live lease on now. */
  activeJobs: number;
  /** Host name from its last heartbeat (self-reported: shown, never trusted); null until one arrives. */
  host: string | null;
  /** Load from its last heartbeat; null until one arrives. */
  load: EncoderLoad | null;
  /** The user it works for (paired desktop agent or browser encoder); null: nobody's. */
  user: EncoderUser | null;
}

/**
 * The load an encoder reports with each heartbeat, as fractions 0..1 (1 = saturated): CPU is the
 * 1-minute load average over the cores it may use, memory the share of RAM in use, GPU the busiest
 * GPU's utilisation (absent without a GPU the encoder can read). `at`: when it was sampled.
 */
export interface EncoderLoad {
  cpu: number;
  memory: number;
  gpu?: number;
  at: string;
}

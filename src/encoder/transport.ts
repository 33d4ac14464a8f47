import type { EncoderKind, JobStage, RenditionStatus } from '../jobs/vocabulary.js';
import type { CompletionResult as ProtocolCompletionResult, ResultRendition } from '../protocol/result.js';
import type { Capabilities, ClaimHandout, SourceLimits, TransferPlan, TrustLevel } from '../protocol/wire.js';
import type { HostReport } from './load.js';

/**
 * The encoder node's view of a coordinator: one interface, two implementations.
 *
 * Terminology:
 * - **encoder**: one registered node (a process, or one in-process worker of `vidmesh serve`), with an
 *   `encoderId` the coordinator assigned at registration.
 * - **lease**: the right to work on one job, proven by `{jobId, leaseToken}`; it expires at
 *   `leaseExpiresAt` unless renewed by a progress call. Every call after claim names the lease and the
 *   encoder that holds it; a stale lease is answered with {@link LeaseLostError} (409 `lease_lost`).
 * - **transport**: how the calls travel: `createHttpTransport` (the agent API over HTTP, remote nodes)
 *   or `createDbTransport` (the job store directly, in-process encoders and infrastructure nodes).
 *
 * Wire shapes follow the coordinator/encoder contract (docs/encoder.md, docs/api.md).
 */

/** Kinds of encoder the coordinator knows; infrastructure nodes talk to the database directly. */
export type { EncoderKind, JobStage } from '../jobs/vocabulary.js';

/** What an encoder can do; the coordinator only leases jobs that fit (wire schema: src/protocol/wire.ts). */
export type EncoderCapabilities = Capabilities;

/** Body of `POST /api/v1/encoders/register`. */
export interface EncoderRegistration {
  name: string;
  kind: EncoderKind;
  /** vidmesh package version of the node. */
  version: string;
  capabilities: EncoderCapabilities;
  /** did:key identity, when the node has one (identity issue). */
  did?: string;
}

/** A job leased to this encoder by a claim. */
export interface ClaimedJob {
  id: string;
  /** The job spec as the coordinator stored it (parsed by the pipeline with the jobs spec schema). */
  spec: unknown;
  /** Names of the renditions to encode; empty means the whole ladder. */
  renditions: string[];
  /**
   * Results of the renditions an earlier run completed, when only some are to be encoded (a
   * per-rendition retry): the new master playlist lists them beside the ones encoded now.
   */
  keep?: ResultRendition[];
  /** 1 for the first attempt. */
  attempt: number;
  leaseToken: string;
  /** ISO 8601 time the lease ends unless renewed. */
  leaseExpiresAt: string;
  /** W3C trace context of the job, when the coordinator traces. */
  traceparent?: string;
  /** The coordinator's per-job source limits (checked after probe); absent: the encoder's defaults. */
  limits?: SourceLimits;
  /**
   * How bytes move (src/protocol/wire.ts): `source: 'coordinator'` reads the source through
   * {@link EncoderTransport.remoteSource}, `output: 'coordinator'` stages every output through
   * {@link EncoderTransport.remoteOutputs} (no destination prefix). Absent: both direct.
   */
  transfer?: TransferPlan;
  /** The trust the coordinator gave this encoder for the job. */
  trust?: TrustLevel;
  /** What the job is, for an encoder working for its own user (desktop agent, browser encoder). */
  about?: ClaimHandout['job']['about'];
}

/** A claim hand-out (wire form) as the pipeline's {@link ClaimedJob}. */
export function fromHandout(h: ClaimHandout): ClaimedJob {
  return {
    ...h.job,
    leaseToken: h.leaseToken,
    leaseExpiresAt: h.leaseExpiresAt,
    ...(h.traceparent ? { traceparent: h.traceparent } : {}),
    ...(h.limits ? { limits: h.limits } : {}),
    transfer: h.transfer,
    ...(h.trust ? { trust: h.trust } : {}),
  };
}

/** Names one lease: the job and the token the claim returned. */
/** What a completion may tell the encoder back: the published master playlist URL, when known. */
export type CompleteAck = { publishedMasterUrl?: string } | undefined;

export interface LeaseRef {
  jobId: string;
  leaseToken: string;
}

/** One rendition's state inside a progress report. */
export interface RenditionProgress {
  name: string;
  /** `skipped`: the plan leaves it out for this source (never upscaled). */
  status: RenditionStatus;
  /** 0..100 */
  progress: number;
}

/** Body of a progress call (minus the ids). */
export interface ProgressUpdate {
  stage: JobStage;
  /** Percent of the current stage, 0..100. */
  progress: number;
  /** Estimated seconds until the stage ends. */
  etaS?: number;
  /** Encode speed as a multiple of real time. */
  speed?: number;
  /** Frames encoded per second. */
  fps?: number;
  renditions?: RenditionProgress[];
  /** New log lines since the last call (pipeline steps, ffmpeg stderr tail); bounded by the sender. */
  logs?: string[];
}

/** Answer to a progress call. */
export interface ProgressAck {
  /** True when a user cancelled the job: stop at once. */
  cancelled: boolean;
  /** ISO 8601 time the renewed lease ends. */
  leaseExpiresAt: string;
}

/** The completion report (`result` of `POST /api/v1/agent/complete`): src/protocol/result.ts. */
export type CompletionResult = ProtocolCompletionResult;

/** Body of a fail call (minus the ids). */
export interface FailureReport {
  error: { code: string; message: string };
  /** False for bad input (the job would fail again anywhere). */
  retryable: boolean;
  logs?: string[];
}

/**
 * Where a remote encoder publishes a job whose destination is `local` (coordinator storage): an http
 * destination (storage module) that PUTs every file to `{coordinator}/api/v1/agent/outputs/:jobId/`,
 * with the auth and `X-Lease-Token` headers.
 */
export interface RemoteOutputTarget {
  baseUrl: string;
  headers: Record<string, string>;
}

/** Where a remote encoder downloads `upload` sources: `GET {baseUrl}/api/v1/uploads/:id/content` with these headers. */
export interface RemoteUploads {
  baseUrl: string;
  headers: Record<string, string>;
}

/**
 * The calls an encoder node makes to its coordinator. Every method throws {@link LeaseLostError} when the
 * lease is gone (calls naming a lease), {@link CoordinatorUnavailableError} when the coordinator could not
 * be reached (retryable), {@link CoordinatorRejectedError} for other refusals.
 */
export interface EncoderTransport {
  /** `'http'` (remote, agent API) or `'db'` (job store in the same process). */
  readonly kind: 'http' | 'db';
  /** Registers (or re-registers: same identity, same id) and returns the encoder id. */
  register(registration: EncoderRegistration): Promise<{ encoderId: string }>;
  /** Marks the encoder alive; `activeJobs` are the job ids it works on; `report`: host name and load. */
  heartbeat(encoderId: string, activeJobs: string[], report?: HostReport): Promise<void>;
  /**
   * Long-poll claim: resolves with a leased job, or `null` when none came within `waitMs` (ms, ≤ 30000)
   * or `signal` was aborted.
   */
  claim(encoderId: string, waitMs: number, signal?: AbortSignal): Promise<ClaimedJob | null>;
  /** Reports progress and renews the lease. */
  progress(encoderId: string, lease: LeaseRef, update: ProgressUpdate): Promise<ProgressAck>;
  /**
   * Reports the finished job; idempotent for the same lease. Resolves the master playlist URL the
   * coordinator published when it says (staged outputs are published by the coordinator, so only it
   * knows the final URL).
   */
  complete(encoderId: string, lease: LeaseRef, result: CompletionResult): Promise<CompleteAck>;
  /** Reports a failed attempt. */
  fail(encoderId: string, lease: LeaseRef, report: FailureReport): Promise<void>;
  /** Gives a job back without counting an attempt (graceful shutdown). */
  release(encoderId: string, lease: LeaseRef, reason: string): Promise<void>;
  /**
   * Remote encoders only: the http target replacing a `local` destination. Absent on the db transport,
   * whose encoders write into the coordinator's storage directly.
   */
  remoteOutputs?(lease: LeaseRef): RemoteOutputTarget;
  /** Remote encoders only: where `upload` sources are downloaded from. */
  remoteUploads?(lease?: LeaseRef): RemoteUploads;
  /**
   * The lease-bound source relay `GET {url}` (with `headers`) of a job whose hand-out says
   * `transfer.source: 'coordinator'`. Absent on transports that never get such hand-outs.
   */
  remoteSource?(lease: LeaseRef): { url: string; headers: Record<string, string> };
  /**
   * Live jobs (issue 23, docs/live.md): the lease-bound live routes of the coordinator, `{base}/source.flv`
   * (the ingest as FLV), `{base}/segments/<rendition>` (POST one segment), `{base}/finish`, with these
   * headers. Absent on transports whose encoders take no live jobs.
   */
  liveEndpoints?(lease: LeaseRef): { base: string; headers: Record<string, string> };
  /** Frees transport resources (HTTP keep-alive sockets); does not touch the coordinator. */
  close?(): Promise<void>;
}

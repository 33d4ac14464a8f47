import type { Logger } from '../log.js';
import { assertBackoffPolicy, type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.js';
import { ChangeFeed } from './changes.js';
import { createStoreContext } from './context.js';
import type { Database } from './db.js';
import { createLifecycle } from './lifecycle.js';
import { createLogs } from './logs.js';
import { createReads } from './reads.js';
import { createRegistry } from './registry.js';
import type { RoutingWindows, UserSettings } from './routing.js';
import type {
  Claim,
  ClaimAvailability,
  CompleteInput,
  Encoder,
  EncoderApproval,
  EncoderCapabilities,
  EncoderLoad,
  EncoderRef,
  EncoderStatus,
  Job,
  JobChange,
  JobError,
  JobEvent,
  JobPage,
  JobStatus,
  ListFilter,
  LogLine,
  OwnershipCheck,
  ProgressUpdate,
  ProtocolFamily,
  QueueStats,
  RegisterEncoderInput,
  RenewResult,
  SubmitInput,
} from './types.js';
import { type AgentBinding, createUserDirectory } from './users.js';

export { MAX_LOG_LINE_CHARS } from './logs.js';

/** A finished job whose retention ended (store `expiredJobs`): what its outputs' cleanup needs. */
export interface ExpiredJob {
  id: string;
  spec: unknown;
  result: unknown;
  /**
   * Set when the job is kept past its retention: `order_unsettled` (its market order's escrow still has
   * to be released or refunded). Retention lists it as kept and removes nothing of it.
   */
  keptBecause?: 'order_unsettled';
}

export interface JobStoreOptions {
  /** Current time; every timestamp the store writes comes from it (default wall clock). */
  clock?: () => Date;
  log?: Logger;
  /** Lease length granted by claim and each renew, milliseconds (default 60 000). */
  leaseMs?: number;
  /** Retry delays for retryable failures (default {@link DEFAULT_BACKOFF}). */
  backoff?: BackoffPolicy;
  /** Default attempts before dead (default 5). */
  maxAttempts?: number;
  /** Long-poll claimers re-check at least this often even without a notification, ms (default 1000). */
  pollIntervalMs?: number;
  /** Log lines kept per job (default 2000) and bytes kept per job (default 512 KiB). */
  logLimits?: { lines: number; bytes: number };
  /** `onJobChange` reads new job events at least this often, ms (default 250). */
  changePollMs?: number;
  /** Source of randomness for jitter, [0, 1) (default Math.random). */
  random?: () => number;
  /** Hybrid routing windows (src/jobs/routing.ts), ms; default 30 000 each. */
  routing?: Partial<RoutingWindows>;
}

/**
 * The job store: every job state change, lease check and read vidmesh makes. Lease-checked calls take
 * the job id, the lease token from `claim` and the id of the encoder holding the lease; a token alone
 * never authorises. Errors: {@link LeaseLostError} (409) when the caller does not hold the lease,
 * {@link JobNotFoundError} (404), {@link InvalidTransitionError} (409), ValidationError (400).
 */
export interface JobStore {
  /**
   * Adds a job (status queued) with one rendition row per name. The same `idempotencyKey` within a
   * tenant returns the job created first, unchanged.
   */
  submit(input: SubmitInput, options?: { idempotencyKey?: string; actor?: string }): Promise<Job>;
  /**
   * Leases the best job this encoder can do, or null. With `waitMs` > 0 it long-polls: sleeps until a
   * job is submitted/re-queued (notification) or the poll interval passes, until `waitMs` or `signal`.
   */
  claim(
    encoder: EncoderRef,
    capabilities: EncoderCapabilities,
    options?: { waitMs?: number; signal?: AbortSignal },
  ): Promise<Claim | null>;
  /**
   * Leases a job of a protocol family to that family's gateway (src/compat/threespeak): job `jobId`
   * when given and claimable, else the family's best claimable job; null when none, or when the encoder
   * already holds `capacity` live leases of the family. `leaseMs` overrides the store's lease length
   * (the family's own lease semantics). `passOver`: skip jobs whose last event is this encoder's
   * hand-out expiring unacknowledged (`not_acknowledged`), so another node gets them first. Same
   * lease, attempt and audit rules as `claim`; an expired hand-out never acknowledged (still `leased`)
   * is re-queued by `rescueExpired` without counting the attempt.
   */
  claimForProtocol(
    encoderId: string,
    options: {
      protocol: ProtocolFamily;
      jobId?: string;
      capacity: number;
      leaseMs?: number;
      passOver?: string;
      /** Only jobs whose source is a bare `ipfs://CID` (clients that take a CID, not a path). */
      ipfsOnly?: boolean;
    },
  ): Promise<Claim | null>;
  /**
   * The live lease `encoderId` holds on `jobId` (token, status, expiry, ms), or null: for protocols
   * whose nodes name a job but carry no lease token, so the gateway acts with the holder's lease.
   */
  leaseOf(
    jobId: string,
    encoderId: string,
  ): Promise<{ token: string; status: JobStatus; expiresAt: Date } | null>;
  /**
   * Extends the lease by the store's `leaseMs` (or `options.leaseMs`: a protocol family's own lease
   * semantics, e.g. 3Speak's 5 min since the last ping) and records progress; `cancelled: true` means
   * stop now.
   */
  renew(
    jobId: string,
    token: string,
    encoderId: string,
    progress?: ProgressUpdate,
    options?: { leaseMs?: number },
  ): Promise<RenewResult>;
  /** Marks the job completed. Repeating it with the same token and result returns the same job. */
  complete(jobId: string, token: string, encoderId: string, input: CompleteInput): Promise<Job>;
  /**
   * Records a failure. Retryable and attempts left: status failed, claimable again after the backoff
   * delay. Otherwise: dead, with the error kept in `lastError`.
   */
  fail(
    jobId: string,
    token: string,
    encoderId: string,
    error: JobError,
    options?: { retryable?: boolean },
  ): Promise<Job>;
  /**
   * The lease holder reported a result the coordinator verifies before completing (status
   * `verifying`, the lease kept: renewals keep the status, complete/fail/release end it, an expired
   * lease is rescued). Throws LeaseLostError (409) when the caller does not hold the lease.
   */
  beginVerification(jobId: string, token: string, encoderId: string): Promise<Job>;
  /**
   * Hands the job back (graceful shutdown): queued again at once, the attempt is not counted. With
   * `excludeEncoder` this encoder never leases the job again (its result failed verification).
   */
  release(
    jobId: string,
    token: string,
    encoderId: string,
    reason?: string,
    options?: { excludeEncoder?: boolean },
  ): Promise<Job>;
  /**
   * Reserves an unfinished job for one encoder (`null`: open again, `''`: held for nobody): only that
   * encoder's claim leases it (the marketplace's accepted bid, src/market). The status is unchanged.
   * @throws InvalidTransitionError (409) when the job is finished or unknown
   */
  reserve(jobId: string, encoderId: string | null): Promise<void>;
  /** Cancels a job that is not finished; an encoder holding it learns it from its next renew. */
  cancel(jobId: string, options?: { actor?: string; reason?: string }): Promise<Job>;
  /**
   * Re-queues a dead, failed or cancelled job (or a completed one when `renditions` are named) with a
   * fresh attempt budget; only the named renditions (default: all not completed) are re-run.
   */
  retry(jobId: string, options?: { renditions?: string[]; actor?: string }): Promise<Job>;
  /** By id or short id. @throws JobNotFoundError */
  get(jobId: string): Promise<Job>;
  /** Newest first, cursor-paginated. */
  list(filter?: ListFilter): Promise<JobPage>;
  listEvents(jobId: string): Promise<JobEvent[]>;
  queueStats(): Promise<QueueStats>;
  /** The Gateway Monitor's pre-claim check. */
  isAvailableToClaim(jobId: string): Promise<ClaimAvailability>;
  /** The Gateway Monitor's ownership check. */
  verifyOwnership(jobId: string, encoderId: string): Promise<OwnershipCheck>;
  /** Appends log lines (pipeline or ffmpeg stderr) while holding the lease; oldest lines beyond the
   * per-job limits are dropped. Returns the last sequence number. */
  appendLogs(
    jobId: string,
    token: string,
    encoderId: string,
    lines: Array<string | { line: string; stream?: string }>,
  ): Promise<number>;
  getLogs(jobId: string, options?: { afterSeq?: number; limit?: number }): Promise<LogLine[]>;
  /**
   * Subscribes to job transitions committed from now on by every process sharing the database
   * (read from job_events; this process's own changes within milliseconds, others' within
   * `changePollMs`). `{type: 'resync'}` means some may have been missed: re-read. Returns unsubscribe.
   */
  onJobChange(listener: (change: JobChange) => void): Promise<() => void>;

  registerEncoder(input: RegisterEncoderInput): Promise<Encoder>;
  /** Marks the encoder online now; optional fresh capabilities. @throws EncoderNotFoundError */
  heartbeatEncoder(
    encoderId: string,
    update?: { capabilities?: EncoderCapabilities; host?: string; load?: EncoderLoad },
  ): Promise<Encoder>;
  getEncoder(encoderId: string): Promise<Encoder>;
  listEncoders(filter?: { status?: EncoderStatus; kind?: Encoder['kind'] }): Promise<Encoder[]>;
  setEncoderApproval(encoderId: string, approval: EncoderApproval): Promise<Encoder>;

  /** Maintenance: re-queues (or dead-letters) jobs whose lease expired. Returns the job ids touched. */
  rescueExpired(options?: { batch?: number }): Promise<Array<{ id: string; status: JobStatus }>>;
  /**
   * Maintenance (routing, src/jobs/routing.ts): ends the agent step of waiting jobs whose routed desktop
   * agent has been silent for longer than `silenceMs` (or is offline), so the browser and open steps
   * start now; each gets a `rerouted` event. Returns the job ids.
   */
  endSilentAgentSteps(silenceMs: number): Promise<string[]>;
  /**
   * Maintenance (pins, `pinEncoder`): ends the pins of waiting jobs whose pin window is over or whose
   * pinned encoder may no longer lease them; with fallback the job follows its planned steps (a
   * `rerouted` event, step `pin`), without it is dead-lettered (error code `pin_ended`). Returns the
   * job ids, `dead` true for those dead-lettered.
   */
  endPins(): Promise<Array<{ id: string; dead: boolean }>>;
  /** Maintenance: encoders silent for longer than `silenceMs` go offline. Returns their ids. */
  markSilentEncodersOffline(silenceMs: number): Promise<string[]>;
  /** Maintenance: deletes finished jobs (and their events, logs, renditions) older than `olderThanMs`. */
  purgeFinished(olderThanMs: number, options?: { batch?: number }): Promise<number>;
  /**
   * Whether encoder `encoderId`, with its last reported capabilities capped by its kind's limits, could
   * ever claim job `jobId` (the claim's own capability match: codecs, hwaccel, height, duration, tags,
   * queues, protocol). False for an unknown encoder or job.
   */
  canEncode(jobId: string, encoderId: string): Promise<boolean>;
  /**
   * Deletes one finished job (and its events, logs, rendition/output rows). Returns false when the job
   * is unknown or not finished (cancel it first). The market ledger (transactions, entries) is kept.
   * @throws OrderUnsettledError (409) when its market order is not settled yet (docs/marketplace.md)
   */
  remove(jobId: string): Promise<boolean>;
  /**
   * Retention: up to `batch` (default 100) finished jobs whose retention ended at `now` (the spec's
   * `retainHours`, else `defaultHours`; undefined: kept), oldest first, with spec and result.
   */
  expiredJobs(now: Date, defaultHours: number | undefined, batch?: number): Promise<ExpiredJob[]>;
  /** IPFS root CIDs that results of jobs other than `excluding` still reference (the pin set). */
  referencedCids(excluding: readonly string[]): Promise<string[]>;

  /** A user's routing settings (defaults when never set). @throws ValidationError on a bad user name */
  getUserSettings(tenant: string, user: string): Promise<UserSettings>;
  /** Changes the given fields (`maxPrice: null` clears the limit); returns the settings now. */
  updateUserSettings(tenant: string, user: string, patch: Partial<UserSettings>): Promise<UserSettings>;
  /**
   * Pairs a did:key identity with a user of a tenant (re-pairing within the tenant moves it).
   * @throws AgentPairedElsewhereError when the did is paired with another tenant
   */
  bindAgent(did: string, tenant: string, user: string): Promise<AgentBinding>;
  getAgentBinding(did: string): Promise<AgentBinding | null>;

  /** Stops listening for notifications (the database stays open). */
  close(): Promise<void>;
}

/**
 * Creates the job store on an open, migrated database. Pure construction: nothing is queried until a
 * method is called (the notification listener starts on the first long-poll or `onJobChange`). The
 * store is four parts over one context: lifecycle (src/jobs/lifecycle.ts), reads (reads.ts), logs
 * (logs.ts) and the encoder registry (registry.ts); their SQL is in sql.ts.
 */
export function createJobStore(db: Database, options: JobStoreOptions = {}): JobStore {
  const leaseMs = options.leaseMs ?? 60_000;
  if (!(leaseMs > 0)) throw new RangeError('leaseMs must be > 0');
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  assertBackoffPolicy(backoff);
  const feed = new ChangeFeed(db, { log: options.log, tailIntervalMs: options.changePollMs });
  const ctx = createStoreContext({
    db,
    clock: options.clock ?? (() => new Date()),
    log: options.log,
    feed,
    leaseMs,
    backoff,
    defaultMaxAttempts: options.maxAttempts ?? 5,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    logLimits: options.logLimits ?? { lines: 2000, bytes: 512 * 1024 },
    random: options.random ?? Math.random,
    routing: {
      agentWindowMs: options.routing?.agentWindowMs ?? 30_000,
      browserWindowMs: options.routing?.browserWindowMs ?? 30_000,
      pinWindowMs: options.routing?.pinWindowMs ?? 300_000,
    },
  });
  return {
    ...createLifecycle(ctx),
    ...createReads(ctx),
    ...createLogs(ctx),
    ...createRegistry(ctx),
    ...createUserDirectory(ctx),
    onJobChange: (listener) => feed.subscribe(listener),
    close: () => feed.stop(),
  };
}

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ValidationError } from '../errors.js';
import type { Logger } from '../log.js';
import { assertBackoffPolicy, type BackoffPolicy, backoffSchedule, DEFAULT_BACKOFF } from './backoff.js';
import { ChangeFeed } from './changes.js';
import { sweepChunkedJobs } from './chunks.js';
import type { Database } from './db.js';
import { EncoderNotFoundError, InvalidTransitionError, JobNotFoundError, LeaseLostError } from './errors.js';
import { type JobRow, toEncoder, toEvent, toJob } from './rows.js';
import * as Q from './sql.js';
import {
  type Claim,
  type ClaimAvailability,
  type CompleteInput,
  type Encoder,
  type EncoderApproval,
  type EncoderCapabilities,
  type EncoderRef,
  type Job,
  type JobChange,
  type JobError,
  type JobEvent,
  type JobPage,
  type JobStatus,
  type ListFilter,
  type LogLine,
  type OwnershipCheck,
  PRIORITY_WEIGHTS,
  type Priority,
  type ProgressUpdate,
  QUEUE_WEIGHTS,
  type QueueName,
  type QueueStats,
  type RegisterEncoderInput,
  type RenewResult,
  type SubmitInput,
} from './types.js';
import {
  ENCODER_KINDS,
  FINAL_STATUSES,
  isOneOf,
  JOB_STATUSES,
  LEASED_STATUSES,
  sqlList,
  TRANSITIONS,
  WAITING_STATUSES,
} from './vocabulary.js';

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
}

/** Longest log line stored, characters; longer lines are cut (ffmpeg progress lines are short). */
export const MAX_LOG_LINE_CHARS = 4096;

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
  /** Extends the lease by `leaseMs` and records progress; `cancelled: true` means stop now. */
  renew(jobId: string, token: string, encoderId: string, progress?: ProgressUpdate): Promise<RenewResult>;
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
  /** Hands the job back (graceful shutdown): queued again at once, the attempt is not counted. */
  release(jobId: string, token: string, encoderId: string, reason?: string): Promise<Job>;
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
  heartbeatEncoder(encoderId: string, update?: { capabilities?: EncoderCapabilities }): Promise<Encoder>;
  getEncoder(encoderId: string): Promise<Encoder>;
  listEncoders(filter?: { status?: 'online' | 'offline'; kind?: Encoder['kind'] }): Promise<Encoder[]>;
  setEncoderApproval(encoderId: string, approval: EncoderApproval): Promise<Encoder>;

  /** Maintenance: re-queues (or dead-letters) jobs whose lease expired. Returns the job ids touched. */
  rescueExpired(options?: { batch?: number }): Promise<Array<{ id: string; status: JobStatus }>>;
  /** Maintenance: encoders silent for longer than `silenceMs` go offline. Returns their ids. */
  markSilentEncodersOffline(silenceMs: number): Promise<string[]>;
  /** Maintenance: deletes finished jobs (and their events, logs, renditions) older than `olderThanMs`. */
  purgeFinished(olderThanMs: number, options?: { batch?: number }): Promise<number>;

  /** Stops listening for notifications (the database stays open). */
  close(): Promise<void>;
}

const SHORT_ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export function shortId(): string {
  const bytes = randomBytes(10);
  let out = 'j';
  for (const b of bytes) out += SHORT_ID_ALPHABET[b & 31];
  return out;
}

function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const d = new Date(at);
    if (Number.isNaN(d.getTime()) || typeof id !== 'string') throw new Error('bad cursor');
    return [d, id];
  } catch (err) {
    throw new ValidationError('invalid cursor', { cause: err });
  }
}

function requireNames(names: readonly string[], what: string): void {
  if (names.length === 0) throw new ValidationError(`${what}: at least one rendition name is required`);
  if (new Set(names).size !== names.length) throw new ValidationError(`${what}: rendition names repeat`);
  for (const n of names) {
    if (typeof n !== 'string' || n.length === 0 || n.length > 64) {
      throw new ValidationError(`${what}: rendition names must be 1..64 characters`);
    }
  }
}

/**
 * Creates the job store on an open, migrated database. Pure construction: nothing is queried until a
 * method is called (the notification listener starts on the first long-poll or `onJobChange`).
 */
export function createJobStore(db: Database, options: JobStoreOptions = {}): JobStore {
  const clock = options.clock ?? (() => new Date());
  const leaseMs = options.leaseMs ?? 60_000;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  assertBackoffPolicy(backoff);
  const defaultMaxAttempts = options.maxAttempts ?? 5;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const logLimits = options.logLimits ?? { lines: 2000, bytes: 512 * 1024 };
  const random = options.random ?? Math.random;
  const log = options.log;
  const feed = new ChangeFeed(db, { log, tailIntervalMs: options.changePollMs });
  if (!(leaseMs > 0)) throw new RangeError('leaseMs must be > 0');

  const get = async (jobId: string): Promise<Job> => {
    const { rows } = await db.query<JobRow>(Q.GET, [jobId]);
    if (!rows[0]) throw new JobNotFoundError(`job ${jobId} not found`, { details: { jobId } });
    return toJob(rows[0]);
  };

  /** Explains why a lease-checked statement matched no row, as the right typed error. */
  const leaseError = async (
    jobId: string,
    token: string,
    encoderId: string,
  ): Promise<JobNotFoundError | LeaseLostError> => {
    const { rows } = await db.query<{ status: JobStatus; holds: boolean | null }>(Q.DIAGNOSE_LEASE, [
      jobId,
      token,
      encoderId,
      null,
    ]);
    const row = rows[0];
    if (!row) return new JobNotFoundError(`job ${jobId} not found`, { details: { jobId } });
    const reason = row.holds && row.status === 'cancelled' ? 'cancelled' : 'lease_not_held';
    return new LeaseLostError(`encoder ${encoderId} does not hold the lease of job ${jobId} (${reason})`, {
      details: { jobId, reason, status: row.status },
    });
  };

  const claimOnce = async (encoder: EncoderRef, caps: EncoderCapabilities): Promise<Claim | null> => {
    if (!ENCODER_KINDS.includes(encoder.kind))
      throw new ValidationError(`unknown encoder kind ${encoder.kind}`);
    const now = clock();
    const token = randomBytes(24).toString('base64url');
    const expires = new Date(now.getTime() + leaseMs);
    const { rows } = await db.query<JobRow>(
      Q.claimSql(encoder.kind),
      [
        now,
        caps.codecs,
        caps.hwaccel,
        caps.maxHeight,
        caps.maxDurationS ?? null,
        caps.tags,
        caps.queues ?? null,
        encoder.id,
        token,
        expires,
        encoder.scope?.kind ?? 'all',
        encoder.scope?.kind === 'tenant' ? encoder.scope.tenant : null,
        encoder.score ?? 1,
      ],
      { name: `vidmesh_claim_${encoder.kind}` },
    );
    const row = rows[0];
    if (!row) return null;
    feed.kick();
    const job = toJob(row);
    return { job, leaseToken: token, leaseExpiresAt: expires, attempt: job.attempts };
  };

  const store: JobStore = {
    async submit(input, opts = {}) {
      requireNames(input.renditions, 'submit');
      const queue: QueueName = input.queue ?? 'default';
      const priority: Priority = input.priority ?? 'medium';
      if (!(queue in QUEUE_WEIGHTS)) throw new ValidationError(`unknown queue ${queue}`);
      if (!(priority in PRIORITY_WEIGHTS)) throw new ValidationError(`unknown priority ${priority}`);
      const maxAttempts = input.maxAttempts ?? defaultMaxAttempts;
      if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) {
        throw new ValidationError('maxAttempts must be an integer in 1..100');
      }
      const tenant = input.tenant ?? 'default';
      const req = input.requirements ?? {};
      const now = clock();
      const { rows } = await db.query<JobRow>(
        Q.SUBMIT,
        [
          randomUUID(),
          shortId(),
          tenant,
          input.owner ?? null,
          opts.idempotencyKey ?? null,
          input.protocol ?? 'vidmesh',
          JSON.stringify(input.spec ?? null),
          JSON.stringify(input.metadata ?? {}),
          queue,
          priority,
          QUEUE_WEIGHTS[queue] * PRIORITY_WEIGHTS[priority],
          req.codecs ?? [],
          req.hwaccel ?? null,
          req.sourceHeight ?? null,
          req.durationS ?? null,
          req.tags ?? [],
          req.preferredKinds ?? [],
          maxAttempts,
          input.runAfter ?? now,
          now,
          input.renditions,
          opts.actor ?? 'api',
          input.traceparent ?? null,
          input.network ?? 'private',
        ],
        { name: 'vidmesh_submit' },
      );
      if (rows[0]) {
        // In-process claimers wake at once; other processes through the NOTIFY of the event row.
        feed.wake();
        return toJob(rows[0]);
      }
      const existing = await db.query<JobRow>(Q.GET_BY_IDEMPOTENCY_KEY, [tenant, opts.idempotencyKey]);
      if (!existing.rows[0]) throw new Error('submit: idempotency conflict but no job found');
      return toJob(existing.rows[0]);
    },

    async claim(encoder, caps, opts = {}) {
      const waitMs = opts.waitMs ?? 0;
      if (waitMs <= 0) return claimOnce(encoder, caps);
      await feed.start();
      const deadline = Date.now() + waitMs;
      for (;;) {
        // Arm before querying: a submit landing between the query and the sleep still wakes us.
        const sleep = feed.arm(Math.min(pollIntervalMs, deadline - Date.now()), opts.signal);
        const claim = await claimOnce(encoder, caps);
        if (claim) {
          feed.wake(); // let a sibling claimer look for the next job too
          return claim;
        }
        if (opts.signal?.aborted || Date.now() >= deadline) return null;
        await sleep;
        if (opts.signal?.aborted) return null;
      }
    },

    async renew(jobId, token, encoderId, progress = {}) {
      const now = clock();
      if (progress.progress !== undefined && !(progress.progress >= 0 && progress.progress <= 100)) {
        throw new ValidationError('progress must be within 0..100');
      }
      const { rows } = await db.query<{ status: JobStatus; lease_expires_at: Date }>(
        Q.RENEW,
        [
          jobId,
          token,
          encoderId,
          now,
          new Date(now.getTime() + leaseMs),
          progress.stage ?? null,
          progress.progress ?? null,
          progress.etaS ?? null,
          JSON.stringify(progress.renditions ?? []),
          progress.speed ?? null,
        ],
        { name: 'vidmesh_renew' },
      );
      const row = rows[0];
      if (!row) throw await leaseError(jobId, token, encoderId);
      feed.kick();
      return { cancelled: row.status === 'cancelled', leaseExpiresAt: new Date(row.lease_expires_at) };
    },

    async complete(jobId, token, encoderId, input) {
      const now = clock();
      const resultJson = JSON.stringify(input.result ?? null);
      const byName: Record<string, unknown> = {};
      for (const r of input.renditions ?? []) {
        byName[r.name] = {
          status: r.status ?? 'completed',
          result: r.result ?? null,
          error: r.error ?? null,
        };
      }
      const { rows } = await db.query<JobRow>(
        Q.COMPLETE,
        [jobId, token, encoderId, now, resultJson, JSON.stringify(byName), input.encodeSeconds ?? 0],
        { name: 'vidmesh_complete' },
      );
      if (rows[0]) {
        feed.kick();
        return toJob(rows[0]);
      }
      const diag = await db.query<{ status: JobStatus; holds: boolean | null; same_result: boolean }>(
        Q.DIAGNOSE_LEASE,
        [jobId, token, encoderId, resultJson],
      );
      const d = diag.rows[0];
      if (d?.status === 'completed' && d.holds) {
        if (d.same_result) return get(jobId);
        throw new LeaseLostError(`job ${jobId} was already completed with a different result`, {
          details: { jobId, reason: 'completed_with_different_result' },
        });
      }
      throw await leaseError(jobId, token, encoderId);
    },

    async fail(jobId, token, encoderId, error, opts = {}) {
      const now = clock();
      const err: JobError = { message: String(error.message).slice(0, 4000) };
      if (error.code) err.code = error.code;
      if (error.details) err.details = error.details;
      const { rows } = await db.query(
        Q.FAIL,
        [
          jobId,
          token,
          encoderId,
          now,
          opts.retryable ?? true,
          backoffSchedule(100, backoff, random),
          JSON.stringify(err),
        ],
        { name: 'vidmesh_fail' },
      );
      if (!rows[0]) throw await leaseError(jobId, token, encoderId);
      feed.kick();
      return get(jobId);
    },

    async beginVerification(jobId, token, encoderId) {
      const { rows } = await db.query(Q.BEGIN_VERIFICATION, [jobId, token, encoderId, clock()]);
      if (!rows[0]) throw await leaseError(jobId, token, encoderId);
      return get(jobId);
    },

    async release(jobId, token, encoderId, reason = 'released') {
      const { rows } = await db.query(Q.RELEASE, [jobId, token, encoderId, clock(), reason]);
      if (!rows[0]) throw await leaseError(jobId, token, encoderId);
      feed.wake();
      return get(jobId);
    },

    async cancel(jobId, opts = {}) {
      const { rows } = await db.query(Q.CANCEL, [
        jobId,
        clock(),
        opts.actor ?? 'api',
        opts.reason ?? 'cancelled',
      ]);
      if (rows[0]) feed.kick();
      const job = await get(jobId);
      // A split job's chunk tasks stop with it (docs/chunking.md).
      if (job.status === 'cancelled')
        await sweepChunkedJobs(db, { now: clock(), actor: opts.actor ?? 'api', parentId: job.id });
      if (rows[0] || job.status === 'cancelled') return job;
      throw new InvalidTransitionError(`job ${jobId} is ${job.status} and cannot be cancelled`, {
        details: { jobId, status: job.status },
      });
    },

    async retry(jobId, opts = {}) {
      const current = await get(jobId);
      if (opts.renditions) {
        requireNames(opts.renditions, 'retry');
        const known = new Set(current.renditions.map((r) => r.name));
        const unknown = opts.renditions.filter((n) => !known.has(n));
        if (unknown.length > 0) throw new ValidationError(`unknown renditions: ${unknown.join(', ')}`);
      }
      const from = TRANSITIONS.retry.from;
      const allowed: JobStatus[] = opts.renditions ? [...from, 'completed'] : [...from];
      const { rows } = await db.query(Q.RETRY, [
        current.id,
        clock(),
        opts.actor ?? 'api',
        opts.renditions ?? null,
        allowed,
      ]);
      if (!rows[0]) {
        const job = await get(jobId);
        throw new InvalidTransitionError(`job ${jobId} is ${job.status} and cannot be retried`, {
          details: { jobId, status: job.status },
        });
      }
      feed.wake();
      return get(jobId);
    },

    get,

    async list(filter = {}) {
      const limit = Math.min(Math.max(Math.floor(filter.limit ?? 50), 1), 200);
      const where: string[] = [];
      const params: unknown[] = [];
      const p = (v: unknown) => {
        params.push(v);
        return `$${params.length}`;
      };
      if (filter.status?.length) where.push(`j.status = ANY(${p(filter.status)}::text[])`);
      if (filter.tenant) where.push(`j.tenant = ${p(filter.tenant)}`);
      if (filter.owner) where.push(`j.owner = ${p(filter.owner)}`);
      if (filter.queue) where.push(`j.queue = ${p(filter.queue)}`);
      if (filter.encoderId) where.push(`j.encoder_id = ${p(filter.encoderId)}`);
      if (filter.search) {
        const like = p(`%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
        where.push(
          // Not the spec: it may carry destination credentials, and a search is an oracle for them.
          `(j.short_id ILIKE ${like} OR j.id ILIKE ${like} OR j.owner ILIKE ${like} OR j.metadata::text ILIKE ${like})`,
        );
      }
      if (filter.cursor) {
        const [at, id] = decodeCursor(filter.cursor);
        where.push(`(j.created_at, j.id) < (${p(at)}, ${p(id)})`);
      }
      const sql = `SELECT j.*, (SELECT coalesce(json_agg(json_build_object('name', r.name, 'status', r.status,
          'progress', r.progress, 'result', r.result, 'error', r.error) ORDER BY r.position), '[]'::json)
          FROM renditions r WHERE r.job_id = j.id) AS renditions
        FROM jobs j ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY j.created_at DESC, j.id DESC LIMIT ${p(limit + 1)}`;
      const { rows } = await db.query<JobRow>(sql, params);
      const jobs = rows.slice(0, limit).map(toJob);
      const last = jobs[jobs.length - 1];
      return { jobs, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
    },

    async listEvents(jobId) {
      const job = await get(jobId);
      const { rows } = await db.query('SELECT * FROM job_events WHERE job_id = $1 ORDER BY id', [job.id]);
      return rows.map(toEvent);
    },

    async queueStats() {
      const now = clock();
      const [depth, byStatus, perEncoder] = await Promise.all([
        db.query<{ queue: QueueName; priority: Priority; count: number; oldest: Date }>(
          `SELECT queue, priority, count(*)::int AS count, min(created_at) AS oldest FROM jobs
           WHERE status IN ${sqlList(WAITING_STATUSES)} GROUP BY queue, priority ORDER BY queue, priority`,
        ),
        db.query<{ status: JobStatus; count: number }>(
          'SELECT status, count(*)::int AS count FROM jobs GROUP BY status',
        ),
        db.query<{ encoder_id: string; running: number }>(
          `SELECT lease_owner AS encoder_id, count(*)::int AS running FROM jobs
           WHERE status IN ${sqlList(LEASED_STATUSES)} GROUP BY lease_owner ORDER BY lease_owner`,
        ),
      ]);
      const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
      for (const r of byStatus.rows) counts[r.status] = Number(r.count);
      return {
        depth: depth.rows.map((r) => ({
          queue: r.queue,
          priority: r.priority,
          count: Number(r.count),
          oldestAgeS: Math.max(0, (now.getTime() - new Date(r.oldest).getTime()) / 1000),
        })),
        byStatus: counts,
        running: counts.leased + counts.running,
        perEncoder: perEncoder.rows.map((r) => ({ encoderId: r.encoder_id, running: Number(r.running) })),
      };
    },

    async isAvailableToClaim(jobId) {
      const { rows } = await db.query<JobRow>('SELECT * FROM jobs WHERE id = $1 OR short_id = $1', [jobId]);
      const row = rows[0];
      if (!row) return { available: false, reason: 'not_found', currentOwner: null, status: null };
      const job = toJob(row);
      const owner = job.lease?.encoderId ?? null;
      switch (job.status) {
        case 'queued':
        case 'failed':
          return job.runAfter.getTime() <= clock().getTime()
            ? { available: true, reason: 'claimable', currentOwner: null, status: job.status }
            : { available: false, reason: 'waiting_for_backoff', currentOwner: null, status: job.status };
        case 'leased':
        case 'running':
          return { available: false, reason: 'leased', currentOwner: owner, status: job.status };
        default:
          return { available: false, reason: 'finished', currentOwner: null, status: job.status };
      }
    },

    async verifyOwnership(jobId, encoderId) {
      const { rows } = await db.query<JobRow>('SELECT * FROM jobs WHERE id = $1 OR short_id = $1', [jobId]);
      const row = rows[0];
      if (!row)
        return { isOwned: false, jobExists: false, actualOwner: null, status: null, isSafeToProcess: false };
      const owner = (row.lease_owner as string | null) ?? null;
      const live = isOneOf(LEASED_STATUSES, row.status);
      const expires = row.lease_expires_at ? new Date(row.lease_expires_at as Date).getTime() : 0;
      const isOwned = owner === encoderId && (live || row.status === 'cancelled');
      return {
        isOwned,
        jobExists: true,
        actualOwner: live ? owner : null,
        status: row.status,
        isSafeToProcess: isOwned && live && expires > clock().getTime(),
      };
    },

    async appendLogs(jobId, token, encoderId, lines) {
      const items = lines.map((l) =>
        typeof l === 'string'
          ? { stream: 'pipeline', line: l.slice(0, MAX_LOG_LINE_CHARS) }
          : { stream: (l.stream ?? 'pipeline').slice(0, 32), line: l.line.slice(0, MAX_LOG_LINE_CHARS) },
      );
      if (items.length === 0) {
        const { rows } = await db.query<{ log_seq: number }>('SELECT log_seq FROM jobs WHERE id = $1', [
          jobId,
        ]);
        if (!rows[0]) throw new JobNotFoundError(`job ${jobId} not found`, { details: { jobId } });
        return Number(rows[0].log_seq);
      }
      const seq = await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ log_seq: number }>(Q.APPEND_LOGS, [
          jobId,
          token,
          encoderId,
          clock(),
          JSON.stringify(items),
        ]);
        if (!rows[0]) return null;
        await tx.query(Q.TRIM_LOGS, [jobId, logLimits.lines, logLimits.bytes]);
        return Number(rows[0].log_seq);
      });
      if (seq === null) throw await leaseError(jobId, token, encoderId);
      return seq;
    },

    async getLogs(jobId, opts = {}) {
      const limit = Math.min(Math.max(Math.floor(opts.limit ?? 500), 1), 5000);
      const { rows } = await db.query<{ seq: number; stream: string; line: string; at: Date }>(
        'SELECT seq, stream, line, at FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [jobId, opts.afterSeq ?? 0, limit],
      );
      return rows.map((r) => ({ seq: Number(r.seq), stream: r.stream, line: r.line, at: new Date(r.at) }));
    },

    onJobChange: (listener) => feed.subscribe(listener),

    async registerEncoder(input) {
      if (!input.name || input.name.length > 200)
        throw new ValidationError('encoder name must be 1..200 characters');
      const id =
        input.id ??
        `enc-${createHash('sha256')
          // The tenant is part of a keyed encoder's identity: no tenant re-registers over another's
          // (or the operator's) encoder row by reusing its name.
          .update(
            input.did
              ? `did:${input.did}`
              : input.tenant
                ? `tenant:${input.tenant}:name:${input.kind}:${input.name}`
                : `name:${input.kind}:${input.name}`,
          )
          .digest('hex')
          .slice(0, 24)}`;
      const now = clock();
      const { rows } = await db.query(
        `INSERT INTO encoders (id, did, public_key, name, kind, capabilities, tags, version, tenant, status,
           approval, registered_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::text[], $8, $9, 'online', $10, $11, $11)
         ON CONFLICT (id) DO UPDATE SET did = EXCLUDED.did, public_key = EXCLUDED.public_key,
           name = EXCLUDED.name, kind = EXCLUDED.kind, capabilities = EXCLUDED.capabilities,
           tags = EXCLUDED.tags, version = EXCLUDED.version, tenant = EXCLUDED.tenant, status = 'online',
           last_seen_at = EXCLUDED.last_seen_at
         RETURNING *`,
        [
          id,
          input.did ?? null,
          input.publicKey ?? null,
          input.name,
          input.kind,
          JSON.stringify(input.capabilities),
          input.capabilities.tags ?? [],
          input.version ?? null,
          input.tenant ?? null,
          input.approval ?? 'approved',
          now,
        ],
      );
      return store.getEncoder(String(rows[0]?.id ?? id));
    },

    async heartbeatEncoder(encoderId, update = {}) {
      const { rowCount } = await db.query(
        `UPDATE encoders SET last_seen_at = $2, status = 'online',
           capabilities = coalesce($3::jsonb, capabilities),
           tags = coalesce((SELECT array_agg(t) FROM jsonb_array_elements_text($3::jsonb -> 'tags') t), tags)
         WHERE id = $1`,
        [encoderId, clock(), update.capabilities ? JSON.stringify(update.capabilities) : null],
      );
      if (rowCount === 0)
        throw new EncoderNotFoundError(`encoder ${encoderId} not found`, { details: { encoderId } });
      return store.getEncoder(encoderId);
    },

    async getEncoder(encoderId) {
      const { rows } = await db.query(
        `SELECT e.*, (SELECT count(*)::int FROM jobs j WHERE j.lease_owner = e.id
           AND j.status IN ${sqlList(LEASED_STATUSES)}) AS active_jobs
         FROM encoders e WHERE e.id = $1 OR e.did = $1`,
        [encoderId],
      );
      if (!rows[0])
        throw new EncoderNotFoundError(`encoder ${encoderId} not found`, { details: { encoderId } });
      return toEncoder(rows[0]);
    },

    async listEncoders(filter = {}) {
      const { rows } = await db.query(
        `SELECT e.*, coalesce(a.n, 0) AS active_jobs FROM encoders e
         LEFT JOIN (SELECT lease_owner, count(*)::int AS n FROM jobs WHERE status IN ${sqlList(LEASED_STATUSES)}
           GROUP BY lease_owner) a ON a.lease_owner = e.id
         WHERE ($1::text IS NULL OR e.status = $1) AND ($2::text IS NULL OR e.kind = $2)
         ORDER BY e.registered_at, e.id`,
        [filter.status ?? null, filter.kind ?? null],
      );
      return rows.map(toEncoder);
    },

    async setEncoderApproval(encoderId, approval) {
      const { rowCount } = await db.query('UPDATE encoders SET approval = $2 WHERE id = $1', [
        encoderId,
        approval,
      ]);
      if (rowCount === 0)
        throw new EncoderNotFoundError(`encoder ${encoderId} not found`, { details: { encoderId } });
      return store.getEncoder(encoderId);
    },

    async rescueExpired(opts = {}) {
      const { rows } = await db.query<{ id: string; status: JobStatus; prev_owner: string }>(Q.RESCUE, [
        clock(),
        opts.batch ?? 500,
      ]);
      for (const r of rows) {
        log?.warn(
          { jobId: r.id, encoderId: r.prev_owner, status: r.status },
          'jobs: lease expired, job rescued',
        );
      }
      if (rows.some((r) => r.status === 'queued')) feed.wake();
      return rows.map((r) => ({ id: r.id, status: r.status }));
    },

    async markSilentEncodersOffline(silenceMs) {
      const { rows } = await db.query<{ id: string }>(
        `UPDATE encoders SET status = 'offline' WHERE status = 'online' AND last_seen_at < $1 RETURNING id`,
        [new Date(clock().getTime() - silenceMs)],
      );
      return rows.map((r) => r.id);
    },

    async purgeFinished(olderThanMs, opts = {}) {
      const { rowCount } = await db.query(
        `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN ${sqlList(FINAL_STATUSES)}
           AND finished_at < $1 ORDER BY finished_at LIMIT $2)`,
        [new Date(clock().getTime() - olderThanMs), opts.batch ?? 1000],
      );
      return rowCount;
    },

    close: () => feed.stop(),
  };
  return store;
}

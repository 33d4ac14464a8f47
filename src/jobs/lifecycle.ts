import { randomBytes, randomUUID } from 'node:crypto';
import { ValidationError } from '../errors.js';
import { backoffSchedule } from './backoff.js';
import { sweepChunkedJobs } from './chunks.js';
import type { StoreContext } from './context.js';
import { InvalidTransitionError, LeaseLostError, OrderUnsettledError } from './errors.js';
import { shortId } from './ids.js';
import {
  DEFAULT_USER_SETTINGS,
  planRoute,
  type RouteCandidates,
  type RoutePlan,
  type UserSettings,
} from './routing.js';
import { type JobRow, toJob } from './rows.js';
import * as Q from './sql.js';
import type { JobStore } from './store.js';
import {
  type Claim,
  type EncoderCapabilities,
  type EncoderKind,
  type EncoderRef,
  type JobError,
  type JobStatus,
  PRIORITY_WEIGHTS,
  type Priority,
  QUEUE_WEIGHTS,
  type QueueName,
  type SubmitInput,
} from './types.js';
import { ENCODER_KIND_LIMITS, ENCODER_KINDS, TRANSITIONS, UNSETTLED_ORDER_STATES } from './vocabulary.js';

/** The state changes of a job: every compare-and-set transition of docs/jobs.md ("Transitions"). */
export type JobLifecycle = Pick<
  JobStore,
  | 'submit'
  | 'canEncode'
  | 'claim'
  | 'claimForProtocol'
  | 'renew'
  | 'complete'
  | 'fail'
  | 'beginVerification'
  | 'release'
  | 'reserve'
  | 'cancel'
  | 'retry'
  | 'rescueExpired'
  | 'purgeFinished'
  | 'remove'
  | 'expiredJobs'
  | 'referencedCids'
>;

function requireNames(names: readonly string[], what: string): void {
  if (names.length === 0) throw new ValidationError(`${what}: at least one rendition name is required`);
  if (new Set(names).size !== names.length) throw new ValidationError(`${what}: rendition names repeat`);
  for (const n of names) {
    if (typeof n !== 'string' || n.length === 0 || n.length > 64) {
      throw new ValidationError(`${what}: rendition names must be 1..64 characters`);
    }
  }
}

/** The claim's capability parameters: the encoder's, capped by the limits of its kind. */
function capabilityParams(kind: EncoderKind, caps: EncoderCapabilities) {
  const limit = ENCODER_KIND_LIMITS[kind];
  return {
    codecs: caps.codecs,
    hwaccel: caps.hwaccel,
    maxHeight: Math.min(caps.maxHeight, limit?.maxHeight ?? Number.POSITIVE_INFINITY),
    maxDurationS: limit
      ? Math.min(caps.maxDurationS ?? limit.maxDurationS, limit.maxDurationS)
      : (caps.maxDurationS ?? null),
    tags: caps.tags,
    queues: caps.queues ?? null,
  };
}

export function createLifecycle(ctx: StoreContext): JobLifecycle {
  const { db, clock, feed, log, leaseMs, get, leaseError } = ctx;

  const claimOnce = async (encoder: EncoderRef, caps: EncoderCapabilities): Promise<Claim | null> => {
    if (!ENCODER_KINDS.includes(encoder.kind))
      throw new ValidationError(`unknown encoder kind ${encoder.kind}`);
    const now = clock();
    const token = randomBytes(24).toString('base64url');
    const expires = new Date(now.getTime() + leaseMs);
    const { rows } = await db.query<JobRow>(
      Q.claimSql(encoder.kind),
      Q.CLAIM_PARAMS.values({
        now,
        ...capabilityParams(encoder.kind, caps),
        encoderId: encoder.id,
        token,
        leaseExpiresAt: expires,
        scope: encoder.scope?.kind ?? 'all',
        tenant:
          encoder.scope?.kind === 'tenant' || encoder.scope?.kind === 'user' ? encoder.scope.tenant : null,
        user: encoder.scope?.kind === 'user' ? encoder.scope.user : null,
        score: encoder.score ?? 1,
      }),
      { name: `vidmesh_claim_${encoder.kind}` },
    );
    const row = rows[0];
    if (!row) return null;
    feed.kick();
    const job = toJob(row);
    return { job, leaseToken: token, leaseExpiresAt: expires, attempt: job.attempts };
  };

  // The routing plan of a user's job (src/jobs/routing.ts); jobs without an owner, and other protocol
  // families' jobs (leased by their gateway), are not routed.
  const routeOf = async (tenant: string, input: SubmitInput, now: Date): Promise<RoutePlan | null> => {
    if (!input.owner || (input.protocol ?? 'vidmesh') !== 'vidmesh') return null;
    const { rows } = await db.query<{
      settings: UserSettings | null;
      agent: RouteCandidates['agent'];
      browser: RouteCandidates['browser'];
    }>(Q.ROUTE_CANDIDATES, [tenant, input.owner]);
    const r = rows[0];
    return planRoute({
      now,
      durationS: input.requirements?.durationS ?? null,
      settings: r?.settings ?? DEFAULT_USER_SETTINGS,
      candidates: { agent: r?.agent ?? null, browser: r?.browser ?? null },
      windows: ctx.routing,
    });
  };

  /** The plan of a pinned job: the pin step first, then the owner's plan (or the open fleet) from its end. */
  const pinned = (
    pin: SubmitInput['pin'],
    now: Date,
    until: Date | null,
    plan: RoutePlan | null,
  ): RoutePlan | null => {
    if (!pin || !until) return plan;
    const from = until.toISOString();
    const rest = plan ?? {
      browserAt: null,
      openAt: null,
      allowBrowser: true,
      allowCommunity: true,
      agentId: null,
      steps: [{ step: 'open' as const, from, community: true }],
    };
    return {
      ...rest,
      openAt: rest.openAt ?? until,
      steps: [
        {
          step: 'pin',
          encoderId: pin.encoderId,
          from: now.toISOString(),
          until: from,
          fallback: pin.fallback,
        },
        ...(pin.fallback === 'fail' ? [] : rest.steps),
      ],
    };
  };

  return {
    async submit(input, opts = {}) {
      requireNames(input.renditions, 'submit');
      const queue: QueueName = input.queue ?? 'default';
      const priority: Priority = input.priority ?? 'medium';
      if (!(queue in QUEUE_WEIGHTS)) throw new ValidationError(`unknown queue ${queue}`);
      if (!(priority in PRIORITY_WEIGHTS)) throw new ValidationError(`unknown priority ${priority}`);
      const maxAttempts = input.maxAttempts ?? ctx.defaultMaxAttempts;
      if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) {
        throw new ValidationError('maxAttempts must be an integer in 1..100');
      }
      const tenant = input.tenant ?? 'default';
      const req = input.requirements ?? {};
      const now = clock();
      // A pinned job is held for its encoder first; the owner's plan (or, for a job of nobody, the open
      // fleet) starts when the pin ends (the claim compares pin_until with its clock).
      const pinUntil = input.pin ? new Date(now.getTime() + (ctx.routing.pinWindowMs ?? 300_000)) : null;
      const plan = pinned(input.pin, now, pinUntil, await routeOf(tenant, input, pinUntil ?? now));
      const { rows } = await db.query<JobRow>(
        Q.SUBMIT,
        Q.SUBMIT_PARAMS.values({
          id: randomUUID(),
          shortId: shortId(),
          tenant,
          owner: input.owner ?? null,
          idempotencyKey: opts.idempotencyKey ?? null,
          protocol: input.protocol ?? 'vidmesh',
          spec: JSON.stringify(input.spec ?? null),
          metadata: JSON.stringify(input.metadata ?? {}),
          queue,
          priority,
          weight: QUEUE_WEIGHTS[queue] * PRIORITY_WEIGHTS[priority],
          codecs: req.codecs ?? [],
          hwaccel: req.hwaccel ?? null,
          sourceHeight: req.sourceHeight ?? null,
          durationS: req.durationS ?? null,
          tags: req.tags ?? [],
          preferredKinds: req.preferredKinds ?? [],
          maxAttempts,
          runAfter: input.runAfter ?? now,
          now,
          renditions: input.renditions,
          actor: opts.actor ?? 'api',
          traceparent: input.traceparent ?? null,
          network: input.network ?? 'private',
          routeBrowserAt: plan?.browserAt ?? null,
          routeOpenAt: plan?.openAt ?? null,
          allowBrowser: plan?.allowBrowser ?? true,
          allowCommunity: plan?.allowCommunity ?? true,
          // Written when one of the user's own encoders was offered the job (else it is open at once).
          route: plan?.openAt ? JSON.stringify({ steps: plan.steps }) : null,
          reservedFor: input.pin?.encoderId ?? input.reservedFor ?? null,
          pinUntil,
          pinFallback: input.pin?.fallback !== 'fail',
          // The agent offered the agent step: its silence ends the window early (END_SILENT_AGENT_STEPS).
          routeAgent: plan?.agentId ?? null,
        }),
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
        const sleep = feed.arm(Math.min(ctx.pollIntervalMs, deadline - Date.now()), opts.signal);
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

    async claimForProtocol(encoderId, opts) {
      const now = clock();
      const token = randomBytes(24).toString('base64url');
      const expires = new Date(now.getTime() + (opts.leaseMs ?? leaseMs));
      const { rows } = await db.query<JobRow>(
        Q.CLAIM_BY_PROTOCOL,
        Q.PROTOCOL_CLAIM_PARAMS.values({
          now,
          protocol: opts.protocol,
          encoderId,
          token,
          leaseExpiresAt: expires,
          jobId: opts.jobId ?? null,
          capacity: opts.capacity,
          passOver: opts.passOver ?? null,
          ipfsOnly: opts.ipfsOnly ?? false,
        }),
      );
      const row = rows[0];
      if (!row) return null;
      feed.kick();
      const job = toJob(row);
      return { job, leaseToken: token, leaseExpiresAt: expires, attempt: job.attempts };
    },

    async renew(jobId, token, encoderId, progress = {}, opts = {}) {
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
          new Date(now.getTime() + (opts.leaseMs ?? leaseMs)),
          progress.stage ?? null,
          progress.progress ?? null,
          progress.etaS ?? null,
          JSON.stringify(progress.renditions ?? []),
          progress.speed ?? null,
          progress.fps ?? null,
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
          backoffSchedule(100, ctx.backoff, ctx.random),
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

    async release(jobId, token, encoderId, reason = 'released', opts = {}) {
      const { rows } = await db.query(Q.RELEASE, [
        jobId,
        token,
        encoderId,
        clock(),
        reason,
        opts.excludeEncoder ?? false,
      ]);
      if (!rows[0]) throw await leaseError(jobId, token, encoderId);
      feed.wake();
      return get(jobId);
    },

    async reserve(jobId, encoderId) {
      const { rows } = await db.query(Q.RESERVE, [jobId, encoderId, clock()]);
      if (!rows[0]) throw new InvalidTransitionError(`job ${jobId} is finished or unknown: not reserved`);
      // The reserved encoder may be long-polling right now.
      if (encoderId) feed.wake();
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

    async canEncode(jobId, encoderId) {
      const { rows: enc } = await db.query<{ kind: EncoderKind; capabilities: EncoderCapabilities }>(
        Q.ENCODER_CAPABILITIES,
        [encoderId],
      );
      if (!enc[0]) return false;
      const c = enc[0].capabilities;
      const { rows } = await db.query<{ ok: boolean }>(
        Q.CAN_ENCODE,
        Q.CAN_ENCODE_PARAMS.values({
          jobId,
          ...capabilityParams(enc[0].kind, { ...c, codecs: c.codecs ?? [], hwaccel: c.hwaccel ?? [] }),
        }),
      );
      return rows[0]?.ok === true;
    },

    async remove(jobId) {
      const { rows } = await db.query(Q.REMOVE_FINISHED, [jobId]);
      if (rows[0]) {
        feed.kick();
        return true;
      }
      const why = (
        await db.query<{ status: JobStatus; order_state: string | null }>(Q.REMOVAL_BLOCKER, [jobId])
      ).rows[0];
      if (why && (UNSETTLED_ORDER_STATES as readonly (string | null)[]).includes(why.order_state)) {
        throw new OrderUnsettledError(
          `job ${jobId} has a market order not settled yet (${why.order_state}): it is kept until its escrow is released or refunded`,
          { details: { jobId, orderState: why.order_state } },
        );
      }
      return false;
    },

    async expiredJobs(now, defaultHours, batch = 100) {
      const { rows } = await db.query<{
        id: string;
        spec: unknown;
        result: unknown;
        order_state: string | null;
      }>(Q.EXPIRED_JOBS, [now, defaultHours ?? null, batch]);
      return rows.map((r) => ({
        id: r.id,
        spec: r.spec,
        result: r.result,
        ...(r.order_state ? { keptBecause: 'order_unsettled' as const } : {}),
      }));
    },

    async referencedCids(excluding) {
      const { rows } = await db.query<{ cid: string }>(Q.REFERENCED_CIDS, [[...excluding]]);
      return rows.map((r) => r.cid);
    },

    async purgeFinished(olderThanMs, opts = {}) {
      const { rowCount } = await db.query(Q.PURGE_FINISHED, [
        new Date(clock().getTime() - olderThanMs),
        opts.batch ?? 1000,
      ]);
      return rowCount;
    },
  };
}

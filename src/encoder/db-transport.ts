import { isVidmeshError } from '../errors.js';
import type { Encoder, JobStore } from '../jobs/index.js';
import { claimScopeOf, completionRows, type HandOutOptions, handOut } from '../protocol/index.js';
import { LeaseLostError } from './errors.js';
import type { HostReport } from './load.js';
import {
  type ClaimedJob,
  type CompletionResult,
  type EncoderRegistration,
  type EncoderTransport,
  type FailureReport,
  fromHandout,
  type LeaseRef,
  type ProgressAck,
  type ProgressUpdate,
} from './transport.js';

/** The job store operations an encoder needs (a narrow view of the jobs module's JobStore). */
export type DbTransportStore = Pick<
  JobStore,
  'registerEncoder' | 'heartbeatEncoder' | 'claim' | 'renew' | 'complete' | 'fail' | 'release' | 'appendLogs'
>;

/**
 * The encoder transport on the job store itself: for the in-process encoders of `vidmesh serve` and
 * for infrastructure nodes (`vidmesh encoder --database-url`). The same lease checks as the HTTP agent
 * API apply (the store fences every call with job id, token and encoder id); the store's 409 errors
 * (`lease_lost`, `invalid_transition`) become {@link LeaseLostError}. Other store errors pass through.
 *
 * Log lines of a progress report are appended to the job log (`appendLogs`) after the lease is
 * renewed (dropped when the job was cancelled).
 *
 * Claims go through the protocol's one hand-out (src/protocol/handout.ts), as over HTTP: `options`
 * opens the spec's sealed secrets (the server's secret box: `vidmesh serve`, or an infrastructure node
 * holding the same `VIDMESH_SECRET_KEY`) and carries the source limits. Without `openSpec`, a job with
 * sealed secrets fails its attempt with the storage error it causes.
 */
export function createDbTransport(store: DbTransportStore, options: HandOutOptions = {}): EncoderTransport {
  // The store's claim matches on capabilities each time; keep the row each encoder registered as.
  const registered = new Map<string, Encoder>();

  const fenced = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (isVidmeshError(err) && (err.code === 'lease_lost' || err.status === 409)) {
        // The store's reason (`cancelled`, `lease_not_held`) travels on: a cancel is not a lost lease.
        throw new LeaseLostError(err.message, { cause: err, details: { ...err.details, code: err.code } });
      }
      throw err;
    }
  };

  return {
    kind: 'db',
    async register(registration: EncoderRegistration) {
      const encoder = await store.registerEncoder({
        name: registration.name,
        kind: registration.kind,
        version: registration.version,
        capabilities: registration.capabilities,
        ...(registration.did ? { did: registration.did } : {}),
      });
      registered.set(encoder.id, encoder);
      return { encoderId: encoder.id };
    },
    async heartbeat(encoderId: string, _activeJobs: string[], report?: HostReport) {
      await store.heartbeatEncoder(encoderId, report ?? {});
    },
    async claim(encoderId: string, waitMs: number, signal?: AbortSignal): Promise<ClaimedJob | null> {
      const me = registered.get(encoderId);
      if (!me) throw new Error(`db transport: encoder ${encoderId} claimed before registering`);
      if (signal?.aborted) return null;
      const claim = await store.claim(
        { id: encoderId, kind: me.kind, scope: claimScopeOf(me) },
        me.capabilities,
        { waitMs, signal },
      );
      if (!claim) return null;
      try {
        return fromHandout(handOut(claim, me, options));
      } catch (err) {
        // A job this node cannot hand itself (no server key for its secrets) goes back with backoff
        // for a node that can, and the reason lands in the job's history instead of a stuck lease.
        const e = isVidmeshError(err) ? err : undefined;
        await store.fail(
          claim.job.id,
          claim.leaseToken,
          encoderId,
          { code: e?.code ?? 'handout_failed', message: e?.message ?? String(err) },
          { retryable: e?.retryable ?? true },
        );
        return null;
      }
    },
    progress(encoderId: string, lease: LeaseRef, update: ProgressUpdate): Promise<ProgressAck> {
      return fenced(async () => {
        // Renew first: on a cancelled job the store answers `cancelled` but refuses new log lines.
        const renewed = await store.renew(lease.jobId, lease.leaseToken, encoderId, {
          stage: update.stage,
          progress: update.progress,
          ...(update.etaS === undefined ? {} : { etaS: update.etaS }),
          ...(update.speed === undefined ? {} : { speed: update.speed }),
          ...(update.fps === undefined ? {} : { fps: update.fps }),
          ...(update.renditions ? { renditions: update.renditions } : {}),
        });
        if (!renewed.cancelled && update.logs && update.logs.length > 0) {
          await store.appendLogs(lease.jobId, lease.leaseToken, encoderId, update.logs);
        }
        return { cancelled: renewed.cancelled, leaseExpiresAt: renewed.leaseExpiresAt.toISOString() };
      });
    },
    complete(encoderId: string, lease: LeaseRef, result: CompletionResult) {
      return fenced(async () => {
        await store.complete(lease.jobId, lease.leaseToken, encoderId, {
          result,
          renditions: completionRows(result),
          encodeSeconds: result.encode.wallS,
        });
        // A node on the job store publishes itself: its result's URL is already the published one.
        return undefined;
      });
    },
    fail(encoderId: string, lease: LeaseRef, report: FailureReport) {
      return fenced(async () => {
        if (report.logs && report.logs.length > 0) {
          await store
            .appendLogs(lease.jobId, lease.leaseToken, encoderId, report.logs)
            .catch(() => undefined);
        }
        await store.fail(
          lease.jobId,
          lease.leaseToken,
          encoderId,
          { code: report.error.code, message: report.error.message },
          { retryable: report.retryable },
        );
      });
    },
    release(encoderId: string, lease: LeaseRef, reason: string) {
      return fenced(async () => {
        await store.release(lease.jobId, lease.leaseToken, encoderId, reason);
      });
    },
  };
}

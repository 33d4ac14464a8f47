import { isVidmeshError } from '../errors.js';
import type { JobStore, EncoderCapabilities as StoreCapabilities } from '../jobs/index.js';
import { LeaseLostError } from './errors.js';
import type {
  ClaimedJob,
  CompletionResult,
  EncoderKind,
  EncoderRegistration,
  EncoderTransport,
  FailureReport,
  LeaseRef,
  ProgressAck,
  ProgressUpdate,
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
 * renewed (dropped when the job was cancelled); `speed` is not stored by the job store.
 */
export function createDbTransport(store: DbTransportStore): EncoderTransport {
  // The store's claim matches on capabilities each time; keep what each encoder registered with.
  const registered = new Map<string, { kind: EncoderKind; capabilities: StoreCapabilities }>();

  const fenced = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (isVidmeshError(err) && (err.code === 'lease_lost' || err.status === 409)) {
        throw new LeaseLostError(err.message, { cause: err, details: { code: err.code } });
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
      registered.set(encoder.id, { kind: registration.kind, capabilities: registration.capabilities });
      return { encoderId: encoder.id };
    },
    async heartbeat(encoderId: string) {
      await store.heartbeatEncoder(encoderId);
    },
    async claim(encoderId: string, waitMs: number, signal?: AbortSignal): Promise<ClaimedJob | null> {
      const me = registered.get(encoderId);
      if (!me) throw new Error(`db transport: encoder ${encoderId} claimed before registering`);
      if (signal?.aborted) return null;
      const claim = await store.claim({ id: encoderId, kind: me.kind }, me.capabilities, { waitMs, signal });
      if (!claim) return null;
      return {
        id: claim.job.id,
        spec: claim.job.spec,
        renditions: claim.job.renditions.filter((r) => r.status !== 'completed').map((r) => r.name),
        attempt: claim.attempt,
        leaseToken: claim.leaseToken,
        leaseExpiresAt: claim.leaseExpiresAt.toISOString(),
        ...(claim.job.traceparent ? { traceparent: claim.job.traceparent } : {}),
      };
    },
    progress(encoderId: string, lease: LeaseRef, update: ProgressUpdate): Promise<ProgressAck> {
      return fenced(async () => {
        // Renew first: on a cancelled job the store answers `cancelled` but refuses new log lines.
        const renewed = await store.renew(lease.jobId, lease.leaseToken, encoderId, {
          stage: update.stage,
          progress: update.progress,
          ...(update.etaS === undefined ? {} : { etaS: update.etaS }),
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
        const names = result.renditions
          .map((r) => (r && typeof r === 'object' ? (r as { name?: unknown }).name : undefined))
          .filter((n): n is string => typeof n === 'string');
        await store.complete(lease.jobId, lease.leaseToken, encoderId, {
          result,
          renditions: names.map((name, i) => ({ name, status: 'completed', result: result.renditions[i] })),
          encodeSeconds: result.encode.wallS,
        });
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

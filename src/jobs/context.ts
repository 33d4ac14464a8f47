import type { Logger } from '../log.js';
import type { BackoffPolicy } from './backoff.js';
import type { ChangeFeed } from './changes.js';
import type { Database } from './db.js';
import { JobNotFoundError, LeaseLostError } from './errors.js';
import type { RoutingWindows } from './routing.js';
import { type JobRow, toJob } from './rows.js';
import * as Q from './sql.js';
import type { Job, JobStatus } from './types.js';

/**
 * What the parts of the job store (lifecycle, reads, logs, encoder registry) share: the database, the
 * clock, the change feed and the resolved options. Built once by `createJobStore`.
 */
export interface StoreContext {
  db: Database;
  clock: () => Date;
  log?: Logger;
  feed: ChangeFeed;
  /** Lease length granted by claim and each renew, milliseconds. */
  leaseMs: number;
  backoff: BackoffPolicy;
  defaultMaxAttempts: number;
  /** Long-poll claimers re-check at least this often, milliseconds. */
  pollIntervalMs: number;
  logLimits: { lines: number; bytes: number };
  random: () => number;
  /** Hybrid routing windows of a user's job (src/jobs/routing.ts). */
  routing: RoutingWindows;
  /** By id or short id. @throws JobNotFoundError */
  get(jobId: string): Promise<Job>;
  /** Explains why a lease-checked statement matched no row, as the right typed error. */
  leaseError(jobId: string, token: string, encoderId: string): Promise<JobNotFoundError | LeaseLostError>;
}

export function jobNotFound(jobId: string): JobNotFoundError {
  return new JobNotFoundError(`job ${jobId} not found`, { details: { jobId } });
}

export function createStoreContext(fields: Omit<StoreContext, 'get' | 'leaseError'>): StoreContext {
  const { db } = fields;
  return {
    ...fields,
    async get(jobId) {
      const { rows } = await db.query<JobRow>(Q.GET, [jobId]);
      if (!rows[0]) throw jobNotFound(jobId);
      return toJob(rows[0]);
    },
    async leaseError(jobId, token, encoderId) {
      const { rows } = await db.query<{ status: JobStatus; holds: boolean | null }>(Q.DIAGNOSE_LEASE, [
        jobId,
        token,
        encoderId,
        null,
      ]);
      const row = rows[0];
      if (!row) return jobNotFound(jobId);
      const reason = row.holds && row.status === 'cancelled' ? 'cancelled' : 'lease_not_held';
      return new LeaseLostError(`encoder ${encoderId} does not hold the lease of job ${jobId} (${reason})`, {
        details: { jobId, reason, status: row.status },
      });
    },
  };
}

import { ValidationError } from '../errors.js';
import type { StoreContext } from './context.js';
import { type JobEventRow, type JobRow, toEvent, toJob } from './rows.js';
import * as Q from './sql.js';
import type { JobStore } from './store.js';
import type { JobStatus, Priority, QueueName } from './types.js';
import { isOneOf, JOB_STATUSES, LEASED_STATUSES } from './vocabulary.js';

/** Read-only queries over jobs: lookups, listing, audit trail, queue statistics, Gateway Monitor checks. */
export type JobReads = Pick<
  JobStore,
  'get' | 'list' | 'listEvents' | 'queueStats' | 'isAvailableToClaim' | 'verifyOwnership' | 'leaseOf'
>;

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

export function createReads(ctx: StoreContext): JobReads {
  const { db, clock, get } = ctx;

  const getRow = async (jobId: string): Promise<JobRow | undefined> =>
    (await db.query<JobRow>(Q.GET_ROW, [jobId])).rows[0];

  return {
    get,

    async list(filter = {}) {
      const limit = Math.min(Math.max(Math.floor(filter.limit ?? 50), 1), 200);
      const { text, params } = Q.listJobsSql(
        { ...filter, cursor: filter.cursor ? decodeCursor(filter.cursor) : undefined },
        limit + 1,
      );
      const { rows } = await db.query<JobRow>(text, params);
      const jobs = rows.slice(0, limit).map(toJob);
      const last = jobs[jobs.length - 1];
      return { jobs, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
    },

    async listEvents(jobId) {
      const job = await get(jobId);
      const { rows } = await db.query<JobEventRow>(Q.LIST_EVENTS, [job.id]);
      return rows.map(toEvent);
    },

    async queueStats() {
      const now = clock();
      const [depth, byStatus, perEncoder] = await Promise.all([
        db.query<{ queue: QueueName; priority: Priority; count: number; oldest: Date }>(Q.QUEUE_DEPTH),
        db.query<{ status: JobStatus; count: number }>(Q.COUNT_BY_STATUS),
        db.query<{ encoder_id: string; running: number }>(Q.RUNNING_PER_ENCODER),
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
      const row = await getRow(jobId);
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

    async leaseOf(jobId, encoderId) {
      const { rows } = await db.query<{ lease_token: string; status: JobStatus; lease_expires_at: Date }>(
        Q.LEASE_OF,
        [jobId, encoderId],
      );
      const row = rows[0];
      return row
        ? { token: row.lease_token, status: row.status, expiresAt: new Date(row.lease_expires_at) }
        : null;
    },

    async verifyOwnership(jobId, encoderId) {
      const row = await getRow(jobId);
      if (!row)
        return { isOwned: false, jobExists: false, actualOwner: null, status: null, isSafeToProcess: false };
      const owner = row.lease_owner ?? null;
      const live = isOneOf(LEASED_STATUSES, row.status);
      const expires = row.lease_expires_at ? new Date(row.lease_expires_at).getTime() : 0;
      const isOwned = owner === encoderId && (live || row.status === 'cancelled');
      return {
        isOwned,
        jobExists: true,
        actualOwner: live ? owner : null,
        status: row.status,
        isSafeToProcess: isOwned && live && expires > clock().getTime(),
      };
    },
  };
}

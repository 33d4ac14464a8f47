import { randomBytes, randomUUID } from 'node:crypto';
import { ValidationError } from '../errors.js';
import * as C from './chunks-sql.js';
import type { Queryable } from './db.js';
import { shortId } from './ids.js';
import { type JobRow, toJob } from './rows.js';
import type { Claim, Job } from './types.js';

/**
 * Chunked encoding in the job store (docs/chunking.md). A split job (the parent) carries the reserved
 * required tag {@link C.STITCH_TAG}, so no encoder claims it; its chunk tasks are ordinary jobs with
 * `parent_id` set, leased, renewed, rescued, retried and audited by the store like any other. When
 * every chunk task completed, the coordinator's stitcher leases the parent ({@link claimStitch}),
 * joins the outputs and completes it with the store's `complete`.
 */

export { STITCH_TAG } from './chunks-sql.js';

/** One chunk task to create: its place (-1: audio), the spec its encoder gets, its length and renditions. */
export interface ChunkTaskInput {
  chunkIndex: number;
  spec: unknown;
  /** Source seconds the task encodes (stored as the job's duration: encoders' duration limits apply). */
  durationS: number;
  renditions: string[];
}

/**
 * Creates the chunk tasks of `parentId` (queued jobs, one `submitted` event each, one `split` event on
 * the parent), all or none. A repeated call creates nothing. Returns how many were created.
 * @throws ValidationError (400) when `tasks` is empty or repeats a chunk index.
 */
export async function createChunkTasks(
  db: Queryable,
  parentId: string,
  tasks: ChunkTaskInput[],
  options: { now?: Date; actor?: string } = {},
): Promise<number> {
  if (tasks.length === 0) throw new ValidationError('createChunkTasks: no tasks');
  if (new Set(tasks.map((t) => t.chunkIndex)).size !== tasks.length)
    throw new ValidationError('createChunkTasks: chunk indexes repeat');
  const rows = tasks.map((t) => ({
    id: randomUUID(),
    short_id: shortId(),
    chunk_index: t.chunkIndex,
    spec: t.spec,
    duration_s: t.durationS,
    renditions: t.renditions,
  }));
  const { rows: out } = await db.query<{ created: number }>(C.CREATE_CHUNKS, [
    parentId,
    JSON.stringify(rows),
    options.now ?? new Date(),
    options.actor ?? 'coordinator',
  ]);
  return Number(out[0]?.created ?? 0);
}

/** A parent's chunk tasks in chunk order (the audio task, index -1, first); [] for other jobs. */
export async function listChildren(db: Queryable, parentId: string): Promise<Job[]> {
  const { rows } = await db.query<JobRow>(C.LIST_CHILDREN, [parentId]);
  return rows.map(toJob);
}

/**
 * Leases the next split parent whose chunk tasks all completed to `stitcherId` for `leaseMs`, or null.
 * The lease is the store's: renew, complete, fail and the rescue sweep treat it as any other.
 */
export async function claimStitch(
  db: Queryable,
  stitcherId: string,
  leaseMs: number,
  now: Date = new Date(),
): Promise<Claim | null> {
  const token = randomBytes(24).toString('base64url');
  const expires = new Date(now.getTime() + leaseMs);
  const { rows } = await db.query<JobRow>(C.CLAIM_STITCH, [now, stitcherId, token, expires]);
  if (!rows[0]) return null;
  const job = toJob(rows[0]);
  return { job, leaseToken: token, leaseExpiresAt: expires, attempt: job.attempts };
}

/**
 * Maintenance of split jobs: a waiting parent with a dead or cancelled chunk task goes `dead`
 * (`chunk_failed`), and the unfinished chunk tasks of finished parents (cancelled, dead) are cancelled.
 * With `parentId`, only that parent's chunk tasks are cancelled. Returns the job ids changed.
 */
export async function sweepChunkedJobs(
  db: Queryable,
  options: { now?: Date; actor?: string; parentId?: string } = {},
): Promise<{ deadParents: string[]; cancelledChunks: string[] }> {
  const now = options.now ?? new Date();
  const actor = options.actor ?? 'maintenance';
  const dead = options.parentId
    ? { rows: [] as Array<{ id: string }> }
    : await db.query<{ id: string }>(C.FAIL_BROKEN_PARENTS, [now, actor]);
  const cancelled = await db.query<{ id: string }>(C.CANCEL_CHILDREN, [now, actor, options.parentId ?? null]);
  return { deadParents: dead.rows.map((r) => r.id), cancelledChunks: cancelled.rows.map((r) => r.id) };
}

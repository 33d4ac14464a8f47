import type { Queryable } from '../jobs/db.js';

/**
 * Keeps an encoder away from one job for good (its result for the job failed verification): the job
 * store's claim skips jobs whose `excluded_encoders` (drizzle/0009) name the claimant. Idempotent.
 */
export async function excludeEncoderFromJob(db: Queryable, jobId: string, encoderId: string): Promise<void> {
  await db.query(
    `UPDATE jobs SET excluded_encoders = array_append(excluded_encoders, $2)
     WHERE id = $1 AND NOT ($2 = ANY(excluded_encoders))`,
    [jobId, encoderId],
  );
}

import type { Queryable } from '../jobs/db.js';
import type { SqlRow } from '../jobs/rows.js';
import type { encoderReputation } from '../jobs/schema.js';

/**
 * Reputation of encoders whose results are verified (community encoders; docs/verification.md): a
 * record per encoder of verified passes and failures, a score from it, the sampling rule that decides
 * which results are verified, and the suspension rule. Pure functions plus one small SQL store.
 */

/** One encoder's record. Counts are of verified results only (unverified completions are not counted). */
export interface Reputation {
  encoderId: string;
  verifiedPasses: number;
  verifiedFailures: number;
  /** Failures since the last pass or reinstatement; drives suspension. */
  consecutiveFailures: number;
  lastFailure: string | null;
  lastFailureAt: Date | null;
}

export const EMPTY_REPUTATION = (encoderId: string): Reputation => ({
  encoderId,
  verifiedPasses: 0,
  verifiedFailures: 0,
  consecutiveFailures: 0,
  lastFailure: null,
  lastFailureAt: null,
});

/**
 * Score in [0, 1]: `(passes + 1) / (passes + 3 × failures + 2)`, Laplace-smoothed so a new encoder
 * starts at 0.5, each pass moves it up a little and each failure weighs three passes. Pure.
 */
export function reputationScore(r: Pick<Reputation, 'verifiedPasses' | 'verifiedFailures'>): number {
  return (r.verifiedPasses + 1) / (r.verifiedPasses + 3 * r.verifiedFailures + 2);
}

/** The verification policy (config: `VIDMESH_VERIFY_*`). */
export interface VerificationPolicy {
  /** Verified passes after which only a sample of results is verified (default 10). */
  trustedAfter: number;
  /** Fraction of results verified once trusted (default 0.2). */
  sampleRate: number;
  /** Consecutive failed verifications that suspend an encoder (default 2). */
  suspendAfter: number;
  /** Suspend below this score, once it has at least `suspendAfter` verified results (default 0.3). */
  minScore: number;
}

export const DEFAULT_VERIFICATION_POLICY: VerificationPolicy = {
  trustedAfter: 10,
  sampleRate: 0.2,
  suspendAfter: 2,
  minScore: 0.3,
};

/**
 * Whether to verify this result: always when the job asks (`verify: 'always'`) or while the encoder has
 * fewer than `trustedAfter` passes, a failure since its last pass, or a failure on record; then a
 * `sampleRate` sample. Pure given `random`.
 */
export function shouldVerify(
  r: Reputation,
  policy: VerificationPolicy,
  job: { verify?: 'always' | 'sample' },
  random: () => number = Math.random,
): boolean {
  if (job.verify === 'always') return true;
  if (r.verifiedPasses < policy.trustedAfter || r.consecutiveFailures > 0) return true;
  return random() < policy.sampleRate;
}

/** True when the record calls for suspension (consecutive failures, or a low score over enough results). */
export function shouldSuspend(r: Reputation, policy: VerificationPolicy): boolean {
  if (r.consecutiveFailures >= policy.suspendAfter) return true;
  const total = r.verifiedPasses + r.verifiedFailures;
  return total >= policy.suspendAfter && reputationScore(r) < policy.minScore;
}

type Row = SqlRow<typeof encoderReputation>;

const toReputation = (row: Row): Reputation => ({
  encoderId: row.encoder_id,
  verifiedPasses: Number(row.verified_passes),
  verifiedFailures: Number(row.verified_failures),
  consecutiveFailures: Number(row.consecutive_failures),
  lastFailure: row.last_failure,
  lastFailureAt: row.last_failure_at === null ? null : new Date(row.last_failure_at),
});

/** The `encoder_reputation` table (drizzle/0009). */
export interface ReputationStore {
  get(encoderId: string): Promise<Reputation>;
  /** Every encoder with a record, keyed by id. */
  all(): Promise<Map<string, Reputation>>;
  /** Records one verified result; returns the updated record. `reason` is kept for a failure. */
  record(encoderId: string, outcome: { ok: true } | { ok: false; reason: string }): Promise<Reputation>;
  /** Clears the consecutive failures (an operator reinstated the encoder); history is kept. */
  reinstate(encoderId: string): Promise<Reputation>;
}

export function createReputationStore(db: Queryable, clock: () => Date = () => new Date()): ReputationStore {
  const select = 'SELECT * FROM encoder_reputation WHERE encoder_id = $1';
  const store: ReputationStore = {
    async get(encoderId) {
      const { rows } = await db.query<Row>(select, [encoderId]);
      return rows[0] ? toReputation(rows[0]) : EMPTY_REPUTATION(encoderId);
    },
    async all() {
      const { rows } = await db.query<Row>('SELECT * FROM encoder_reputation');
      return new Map(rows.map((r) => [r.encoder_id, toReputation(r)]));
    },
    async record(encoderId, outcome) {
      const failed = outcome.ok ? 0 : 1;
      const { rows } = await db.query<Row>(
        `INSERT INTO encoder_reputation (encoder_id, verified_passes, verified_failures, consecutive_failures,
           last_failure, last_failure_at, updated_at)
         VALUES ($1, $2, $3, $3, $4, $5, $6)
         ON CONFLICT (encoder_id) DO UPDATE SET
           verified_passes = encoder_reputation.verified_passes + EXCLUDED.verified_passes,
           verified_failures = encoder_reputation.verified_failures + EXCLUDED.verified_failures,
           consecutive_failures = CASE WHEN EXCLUDED.verified_failures = 0 THEN 0
             ELSE encoder_reputation.consecutive_failures + 1 END,
           last_failure = coalesce(EXCLUDED.last_failure, encoder_reputation.last_failure),
           last_failure_at = coalesce(EXCLUDED.last_failure_at, encoder_reputation.last_failure_at),
           updated_at = EXCLUDED.updated_at
         RETURNING *`,
        [
          encoderId,
          1 - failed,
          failed,
          outcome.ok ? null : outcome.reason.slice(0, 1000),
          outcome.ok ? null : clock(),
          clock(),
        ],
      );
      return toReputation(rows[0]!);
    },
    async reinstate(encoderId) {
      await db.query(
        'UPDATE encoder_reputation SET consecutive_failures = 0, updated_at = $2 WHERE encoder_id = $1',
        [encoderId, clock()],
      );
      return store.get(encoderId);
    },
  };
  return store;
}

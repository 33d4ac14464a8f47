/**
 * Retry delay policy for retryable job failures:
 * `delay(n) = min(capMs, baseMs * factor^(n - 1)) * (1 + jitter * (2r - 1))`, r uniform in [0, 1),
 * where n is the attempt that just failed (1-based). Defaults: base 5 s, factor 2, cap 10 min,
 * jitter 0.2 (±20 %), so attempts 1..5 wait about 5 s, 10 s, 20 s, 40 s, 80 s.
 */
export interface BackoffPolicy {
  /** Delay after the first failed attempt, milliseconds. */
  baseMs: number;
  /** Growth per further attempt (>= 1). */
  factor: number;
  /** Upper bound before jitter, milliseconds. */
  capMs: number;
  /** Relative jitter amplitude in [0, 1): 0.2 spreads each delay over ±20 %. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 5_000, factor: 2, capMs: 600_000, jitter: 0.2 };

/** Delay in milliseconds after failed attempt `attempt` (1-based). `random` returns [0, 1). */
export function backoffDelayMs(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(attempt));
  const raw = Math.min(policy.capMs, policy.baseMs * policy.factor ** (n - 1));
  return Math.max(0, Math.round(raw * (1 + policy.jitter * (2 * random() - 1))));
}

/**
 * Delays for attempts 1..count, drawn once, so one SQL statement can pick the entry for the job's
 * current attempt count without a read first (`(delays)[least(attempts, cardinality(delays))]`).
 */
export function backoffSchedule(
  count: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number[] {
  return Array.from({ length: Math.max(1, count) }, (_, i) => backoffDelayMs(i + 1, policy, random));
}

/** Throws a RangeError naming the bad field when a policy is unusable. */
export function assertBackoffPolicy(policy: BackoffPolicy): void {
  if (!(policy.baseMs >= 0)) throw new RangeError('backoff.baseMs must be >= 0');
  if (!(policy.factor >= 1)) throw new RangeError('backoff.factor must be >= 1');
  if (!(policy.capMs >= policy.baseMs)) throw new RangeError('backoff.capMs must be >= baseMs');
  if (!(policy.jitter >= 0 && policy.jitter < 1)) throw new RangeError('backoff.jitter must be in [0, 1)');
}

/**
 * Read queries of the 3Speak gateway's views (fairness, unacknowledged hand-outs, stats, the legacy
 * `getJob`). Claims and lease look-ups go through the job store (`claimForProtocol`, `leaseOf`).
 * Values are always bound parameters.
 */

import { LEASED_STATUSES, sqlList, WAITING_STATUSES } from '../../jobs/vocabulary.js';

const WAITING = sqlList(WAITING_STATUSES);
const LEASED = sqlList(LEASED_STATUSES);

/** Active 3Speak-family leases per encoder: `encoder_id`, `n`. */
export const ACTIVE_BY_ENCODER = `
SELECT lease_owner AS encoder_id, count(*)::int AS n FROM jobs
WHERE protocol = '3speak' AND status IN ${LEASED} AND lease_owner IS NOT NULL
GROUP BY lease_owner`;

/** Ids of 3Speak-family jobs leased by $1 and not yet acknowledged (status leased), oldest first. */
export const UNACKED_BY_ENCODER = `
SELECT id FROM jobs WHERE protocol = '3speak' AND lease_owner = $1 AND status = 'leased' ORDER BY claimed_at, id`;

/** Oldest claimable 3Speak-family job id (the legacy unauthenticated `getJob`). $1 now. */
export const OLDEST_QUEUED = `
SELECT id FROM jobs WHERE protocol = '3speak' AND status IN ${WAITING} AND run_after <= $1
ORDER BY created_at, id LIMIT 1`;

/** 3Speak-family job counts: completed and dead, all time and since $1. */
export const STATS = `
SELECT count(*) FILTER (WHERE status = 'completed')::int AS total_encoded,
  count(*) FILTER (WHERE status = 'dead')::int AS total_failed,
  count(*) FILTER (WHERE status = 'completed' AND finished_at >= $1)::int AS encoded_last_day,
  count(*) FILTER (WHERE status = 'dead' AND finished_at >= $1)::int AS failed_last_day,
  count(*) FILTER (WHERE status IN ${WAITING})::int AS queued
FROM jobs WHERE protocol = '3speak'`;

/** Claimable 3Speak-family job ids, oldest first. $1 now, $2 limit. */
export const LIST_QUEUED = `
SELECT id FROM jobs WHERE protocol = '3speak' AND status IN ${WAITING} AND run_after <= $1
ORDER BY created_at, id LIMIT $2`;

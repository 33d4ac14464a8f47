/**
 * SQL the 3Speak gateway adds to the job store's: the store's generic claim matches capabilities but
 * not the protocol family, and legacy nodes carry no lease token, so the gateway claims 3Speak-family
 * jobs itself (same compare-and-set shape and audit row as the store's claim) and looks the token up
 * by holder when a legacy node acts on a job. Values are always bound parameters.
 */

import { LEASED_STATUSES, sqlList, TRANSITIONS, WAITING_STATUSES } from '../../jobs/vocabulary.js';

const WAITING = sqlList(WAITING_STATUSES);
const LEASED = sqlList(LEASED_STATUSES);

/**
 * Leases the oldest claimable 3Speak-family job (or job `$5` when not NULL) to encoder `$2`.
 * Nothing when the encoder already holds `$6` live 3Speak leases.
 * $1 now, $2 encoder id, $3 token, $4 lease expiry, $5 job id or NULL, $6 capacity.
 */
export const CLAIM_3SPEAK = `
WITH next AS (
  SELECT id, status FROM jobs
  WHERE protocol = '3speak' AND status IN ${WAITING} AND run_after <= $1
    AND ($5::text IS NULL OR id = $5::text)
    AND (SELECT count(*) FROM jobs h WHERE h.protocol = '3speak' AND h.lease_owner = $2
      AND h.status IN ${LEASED}) < $6::int
  ORDER BY weight DESC NULLS LAST, created_at, id
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), upd AS (
  UPDATE jobs j SET status = 'leased', stage = NULL, progress = 0, eta_s = NULL, attempts = j.attempts + 1,
    lease_owner = $2, lease_token = $3, lease_expires_at = $4, encoder_id = $2, claimed_at = $1,
    updated_at = $1
  FROM next WHERE j.id = next.id
  RETURNING j.id, j.attempts, next.status AS prev_status
), ev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT id, prev_status, 'leased', $2, 'claimed', jsonb_build_object('attempt', attempts, 'via', '3speak'), $1
  FROM upd
)
SELECT id FROM upd`;

/** The live lease of job $1 when encoder $2 holds it: token and status. */
export const HOLDER_LEASE = `
SELECT lease_token, status FROM jobs
WHERE id = $1 AND lease_owner = $2 AND lease_token IS NOT NULL AND status IN ${sqlList(TRANSITIONS.renew.from)}`;

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

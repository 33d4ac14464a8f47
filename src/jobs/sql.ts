/**
 * The job store's SQL, one statement per operation, pure text (values are always bound parameters).
 * Every state change is one statement: a compare-and-set UPDATE (status, and lease owner + token where
 * a lease is involved) chained by CTEs to its audit row in job_events, so the change and its event
 * commit together. `cur` sub-selects lock the row first and expose the previous status, because
 * `UPDATE … RETURNING` only sees new values (PostgreSQL < 18).
 */

import {
  type EncoderKind,
  LEASED_STATUSES,
  OPEN_RENDITION_STATUSES,
  SETTLED_RENDITION_STATUSES,
  sqlList,
  TRANSITIONS,
} from './vocabulary.js';

/** Renditions of the job row `alias` as a JSON array, in submit order. */
const renditionsOf = (alias: string) =>
  `(SELECT coalesce(json_agg(json_build_object('name', r.name, 'status', r.status, 'progress', r.progress,
     'result', r.result, 'error', r.error) ORDER BY r.position), '[]'::json)
     FROM renditions r WHERE r.job_id = ${alias}.id) AS renditions`;

const event = (from: string, to: string, actor: string, reason: string, details: string, at: string) =>
  `INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
   SELECT id, ${from}, ${to}, ${actor}, ${reason}, ${details}, ${at} FROM upd`;

/** $1 id, $2 short_id, $3 tenant, $4 owner, $5 idempotency_key, $6 protocol, $7 spec, $8 metadata,
 * $9 queue, $10 priority, $11 weight, $12 codecs, $13 hwaccel, $14 source_height, $15 duration_s,
 * $16 tags, $17 preferred_kinds, $18 max_attempts, $19 run_after, $20 now, $21 renditions text[], $22 actor,
 * $23 traceparent, $24 network */
export const SUBMIT = `
WITH upd AS (
  INSERT INTO jobs (id, short_id, tenant, owner, idempotency_key, protocol, spec, metadata, queue, priority,
    weight, required_codecs, required_hwaccel, source_height, duration_s, required_tags, preferred_kinds,
    max_attempts, run_after, created_at, updated_at, status, traceparent, network)
  VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12::text[], $13, $14, $15,
    $16::text[], $17::text[], $18, $19, $20, $20, 'queued', $23, $24)
  ON CONFLICT (tenant, idempotency_key) DO NOTHING
  RETURNING *
), rend AS (
  INSERT INTO renditions (job_id, name, position, updated_at)
  SELECT upd.id, n.name, n.pos, $20 FROM upd, unnest($21::text[]) WITH ORDINALITY AS n(name, pos)
), ev AS (
  ${event('NULL', "'queued'", '$22', "'submitted'", 'NULL', '$20')}
)
SELECT upd.*, (SELECT coalesce(json_agg(json_build_object('name', n.name, 'status', 'pending',
  'progress', 0, 'result', NULL, 'error', NULL) ORDER BY n.pos), '[]'::json)
  FROM unnest($21::text[]) WITH ORDINALITY AS n(name, pos)) AS renditions
FROM upd`;

export const GET_BY_IDEMPOTENCY_KEY = `
SELECT j.*, ${renditionsOf('j')} FROM jobs j WHERE tenant = $1 AND idempotency_key = $2`;

export const GET = `SELECT j.*, ${renditionsOf('j')} FROM jobs j WHERE j.id = $1 OR j.short_id = $1`;

const KIND_RANK_COLUMNS = {
  infrastructure: 'rank_infrastructure',
  community: 'rank_community',
  desktop: 'rank_desktop',
  browser: 'rank_browser',
} as const satisfies Record<EncoderKind, string>;

const claimCache = new Map<string, string>();

/**
 * Claim: the best claimable job the encoder can do, locked with SKIP LOCKED so concurrent claimers
 * never wait on or share a row. Order: weight (queue x priority), the job's preference for this
 * encoder kind (a stored rank column per kind, so the walk follows the `jobs_claim_<kind>_idx`
 * index), then age. The kind picks an identifier, so it is checked against the fixed list.
 * $1 now, $2 codecs, $3 hwaccel, $4 max_height, $5 max_duration_s, $6 tags, $7 queues (NULL: all),
 * $8 encoder id, $9 token, $10 lease expiry, $11 claim scope ('all' | 'tenant' | 'community'),
 * $12 the encoder's tenant (scope 'tenant'), $13 the encoder's reputation score (0..1; 1 for trusted
 * encoders), matched against the spec's `minScore`
 */
export function claimSql(kind: keyof typeof KIND_RANK_COLUMNS): string {
  const rank = KIND_RANK_COLUMNS[kind];
  if (!rank) throw new RangeError(`unknown encoder kind ${String(kind)}`);
  let text = claimCache.get(kind);
  if (!text) {
    text = `
WITH next AS (
  SELECT id, status FROM jobs
  WHERE status IN ${sqlList(TRANSITIONS.claim.from)} AND run_after <= $1
    -- One opaque boolean on purpose: the planner guesses 0.5 % per array <@ clause, multiplies the
    -- guesses, expects ~no matching row, and then sorts the whole queue instead of walking the index.
    AND coalesce(required_codecs <@ $2::text[]
      AND (required_hwaccel IS NULL OR required_hwaccel = ANY($3::text[]))
      AND (source_height IS NULL OR source_height <= $4)
      AND ($5::float8 IS NULL OR (duration_s IS NOT NULL AND duration_s <= $5::float8))
      AND required_tags <@ $6::text[]
      AND ($7::text[] IS NULL OR queue = ANY($7::text[]))
      -- 3Speak-family jobs are leased only by the 3Speak gateway's own claim (compat/threespeak).
      AND protocol = 'vidmesh'
      -- An encoder whose result for this job failed verification never leases it again.
      AND NOT ($8::text = ANY(excluded_encoders))
      AND (spec ->> 'minScore' IS NULL OR $13::float8 >= (spec ->> 'minScore')::float8)
      -- Trust boundary: tenant encoders take their tenant's jobs, community ones only open-network jobs.
      AND CASE $11::text WHEN 'all' THEN true
        WHEN 'tenant' THEN tenant = $12::text OR network = 'community'
        ELSE network = 'community' END, false)
  ORDER BY weight DESC NULLS LAST, ${rank}, created_at, id
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), upd AS (
  UPDATE jobs j SET status = 'leased', stage = NULL, progress = 0, eta_s = NULL, speed = NULL, attempts = j.attempts + 1,
    lease_owner = $8, lease_token = $9, lease_expires_at = $10, encoder_id = $8, claimed_at = $1,
    updated_at = $1
  FROM next WHERE j.id = next.id
  RETURNING j.*, next.status AS prev_status
), ev AS (
  ${event('prev_status', "'leased'", '$8', "'claimed'", "jsonb_build_object('attempt', attempts)", '$1')}
)
SELECT upd.*, ${renditionsOf('upd')} FROM upd`;
    claimCache.set(kind, text);
  }
  return text;
}

/** $1 id, $2 token, $3 encoder, $4 now, $5 new expiry, $6 stage, $7 progress, $8 eta_s, $9 renditions jsonb,
 * $10 speed (× real time) */
export const RENEW = `
WITH cur AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
upd AS (
  UPDATE jobs j SET
    status = CASE WHEN j.status IN ('cancelled', 'verifying') THEN j.status ELSE 'running' END,
    stage = CASE WHEN j.status = 'cancelled' THEN j.stage ELSE coalesce($6, j.stage) END,
    progress = CASE WHEN j.status = 'cancelled' THEN j.progress ELSE coalesce($7, j.progress) END,
    eta_s = CASE WHEN j.status = 'cancelled' THEN j.eta_s ELSE $8 END,
    speed = CASE WHEN j.status = 'cancelled' THEN j.speed ELSE $10 END,
    lease_expires_at = CASE WHEN j.status = 'cancelled' THEN j.lease_expires_at ELSE $5 END,
    updated_at = $4
  FROM cur
  WHERE j.id = cur.id AND j.lease_token = $2 AND j.lease_owner = $3
    AND j.status IN ${sqlList(TRANSITIONS.renew.from)}
  RETURNING j.id, j.status, j.lease_expires_at, cur.status AS prev_status
), rend AS (
  UPDATE renditions r SET status = x.status, progress = x.progress, updated_at = $4
  FROM upd, jsonb_to_recordset($9::jsonb) AS x(name text, status text, progress real)
  WHERE r.job_id = upd.id AND r.name = x.name AND upd.status <> 'cancelled'
), ev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT id, prev_status, status, $3, 'started', jsonb_build_object('stage', $6::text), $4
  FROM upd WHERE prev_status <> status
)
SELECT id, status, lease_expires_at FROM upd`;

/**
 * A rendition's status after `complete`: the one reported for it; else, when it was not reported,
 * `completed` or `skipped` as before (kept from an earlier run or from the plan), `skipped` when the
 * encoder reported other renditions (it did not produce this one: above the source's height), and
 * `completed` when it reported none at all (callers that only say "done").
 */
const COMPLETED_RENDITION_STATUS = `coalesce($6::jsonb -> r.name ->> 'status',
      CASE WHEN r.status IN ${sqlList(SETTLED_RENDITION_STATUSES)} THEN r.status
        WHEN $6::jsonb = '{}'::jsonb THEN 'completed' ELSE 'skipped' END)`;

/** $1 id, $2 token, $3 encoder, $4 now, $5 result jsonb, $6 renditions jsonb object by name, $7 encode seconds */
export const COMPLETE = `
WITH cur AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
upd AS (
  UPDATE jobs j SET status = 'completed', stage = NULL, progress = 100, eta_s = NULL, speed = NULL, result = $5::jsonb,
    lease_expires_at = NULL, finished_at = $4, updated_at = $4, last_error = NULL
  FROM cur
  WHERE j.id = cur.id AND j.lease_token = $2 AND j.lease_owner = $3
    AND j.status IN ${sqlList(TRANSITIONS.complete.from)}
  RETURNING j.*, cur.status AS prev_status
), rend AS (
  UPDATE renditions r SET
    status = ${COMPLETED_RENDITION_STATUS},
    progress = CASE WHEN ${COMPLETED_RENDITION_STATUS} = 'completed' THEN 100 ELSE r.progress END,
    result = coalesce($6::jsonb -> r.name -> 'result', r.result),
    error = $6::jsonb -> r.name ->> 'error',
    updated_at = $4
  FROM upd WHERE r.job_id = upd.id
  RETURNING r.*
), enc AS (
  UPDATE encoders e SET jobs_completed = e.jobs_completed + 1, encode_seconds = e.encode_seconds + $7,
    last_seen_at = $4, status = 'online'
  FROM upd WHERE e.id = $3
), ev AS (
  ${event('prev_status', "'completed'", '$3', "'completed'", 'NULL', '$4')}
)
SELECT upd.*, (SELECT coalesce(json_agg(json_build_object('name', r.name, 'status', r.status,
  'progress', r.progress, 'result', r.result, 'error', r.error) ORDER BY r.position), '[]'::json)
  FROM rend r) AS renditions
FROM upd`;

/** Why a lease-checked statement matched nothing. $1 id, $2 token, $3 encoder, $4 result jsonb or NULL */
export const DIAGNOSE_LEASE = `
SELECT status, lease_owner, (lease_token = $2 AND lease_owner = $3) AS holds,
  (result IS NOT DISTINCT FROM $4::jsonb) AS same_result
FROM jobs WHERE id = $1`;

/** $1 id, $2 token, $3 encoder, $4 now, $5 retryable, $6 delays ms int[], $7 error jsonb */
export const FAIL = `
WITH cur AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
upd AS (
  UPDATE jobs j SET
    status = CASE WHEN NOT $5::boolean OR j.attempts >= j.max_attempts THEN 'dead' ELSE 'failed' END,
    run_after = $4::timestamptz
      + ($6::int[])[least(greatest(j.attempts, 1), cardinality($6::int[]))] * interval '1 millisecond',
    finished_at = CASE WHEN NOT $5::boolean OR j.attempts >= j.max_attempts THEN $4 ELSE NULL END,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, stage = NULL, eta_s = NULL, speed = NULL,
    last_error = $7::jsonb, updated_at = $4
  FROM cur
  WHERE j.id = cur.id AND j.lease_token = $2 AND j.lease_owner = $3
    AND j.status IN ${sqlList(TRANSITIONS.fail.from)}
  RETURNING j.id, j.status, j.attempts, j.max_attempts, j.run_after, cur.status AS prev_status
), rend AS (
  -- Completed and skipped renditions stay so: the next attempt plans the same source.
  UPDATE renditions r SET status = CASE WHEN r.status IN ${sqlList(SETTLED_RENDITION_STATUSES)} THEN r.status
      WHEN upd.status = 'dead' THEN 'failed' ELSE 'pending' END, updated_at = $4
  FROM upd WHERE r.job_id = upd.id
), enc AS (
  UPDATE encoders e SET jobs_failed = e.jobs_failed + 1, last_seen_at = $4 FROM upd WHERE e.id = $3
), ev AS (
  ${event(
    'prev_status',
    'status',
    '$3',
    "CASE WHEN status = 'dead' THEN 'dead_letter' ELSE 'retry_scheduled' END",
    "jsonb_build_object('error', $7::jsonb, 'attempt', attempts, 'maxAttempts', max_attempts, 'runAfter', run_after)",
    '$4',
  )}
)
SELECT id, status, attempts, run_after FROM upd`;

/** Graceful hand-back: the attempt is not counted. $1 id, $2 token, $3 encoder, $4 now, $5 reason */
export const RELEASE = `
WITH cur AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
upd AS (
  UPDATE jobs j SET status = 'queued', attempts = greatest(j.attempts - 1, 0), run_after = $4,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, stage = NULL, eta_s = NULL, speed = NULL,
    progress = 0, updated_at = $4
  FROM cur
  WHERE j.id = cur.id AND j.lease_token = $2 AND j.lease_owner = $3
    AND j.status IN ${sqlList(TRANSITIONS.release.from)}
  RETURNING j.id, cur.status AS prev_status
), rend AS (
  UPDATE renditions r SET status = 'pending', progress = 0, updated_at = $4
  FROM upd WHERE r.job_id = upd.id AND r.status = 'running'
), ev AS (
  ${event('prev_status', "'queued'", '$3', "'released'", "jsonb_build_object('reason', $5::text)", '$4')}
)
SELECT id FROM upd`;

/** $1 id, $2 token, $3 encoder, $4 now */
export const BEGIN_VERIFICATION = `
WITH cur AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
upd AS (
  UPDATE jobs j SET status = 'verifying', stage = NULL, eta_s = NULL, speed = NULL, updated_at = $4
  FROM cur
  WHERE j.id = cur.id AND j.lease_token = $2 AND j.lease_owner = $3
    AND j.status IN ${sqlList(TRANSITIONS.verify.from)}
  RETURNING j.id, cur.status AS prev_status
), ev AS (
  ${event('prev_status', "'verifying'", "'coordinator'", "'verifying'", 'NULL', '$4')}
)
SELECT id FROM upd`;

/** $1 id, $2 now, $3 actor, $4 reason */
export const CANCEL = `
WITH cur AS (SELECT id, status FROM jobs WHERE (id = $1 OR short_id = $1) FOR UPDATE),
upd AS (
  UPDATE jobs j SET status = 'cancelled', finished_at = $2, updated_at = $2, eta_s = NULL, speed = NULL
  FROM cur WHERE j.id = cur.id AND j.status IN ${sqlList(TRANSITIONS.cancel.from)}
  RETURNING j.id, cur.status AS prev_status
), ev AS (
  ${event('prev_status', "'cancelled'", '$3', '$4', 'NULL', '$2')}
)
SELECT id FROM upd`;

/**
 * Manual retry: back to queued with a fresh attempt budget. $1 id, $2 now, $3 actor, $4 renditions
 * to re-run (text[], NULL: every rendition neither completed nor skipped), $5 allowed source statuses text[]
 */
export const RETRY = `
WITH cur AS (SELECT id, status FROM jobs WHERE (id = $1 OR short_id = $1) FOR UPDATE),
upd AS (
  UPDATE jobs j SET status = 'queued', attempts = 0, run_after = $2, finished_at = NULL, updated_at = $2,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, stage = NULL, progress = 0, eta_s = NULL, speed = NULL
  FROM cur WHERE j.id = cur.id AND j.status = ANY($5::text[])
  RETURNING j.id, cur.status AS prev_status
), rend AS (
  UPDATE renditions r SET status = 'pending', progress = 0, result = NULL, error = NULL, updated_at = $2
  FROM upd WHERE r.job_id = upd.id
    AND (($4::text[] IS NULL AND r.status NOT IN ${sqlList(SETTLED_RENDITION_STATUSES)})
      OR r.name = ANY($4::text[]))
), ev AS (
  ${event('prev_status', "'queued'", '$3', "'manual_retry'", "jsonb_build_object('renditions', $4::text[])", '$2')}
)
SELECT id FROM upd`;

/** Rescue expired leases. $1 now, $2 batch size */
export const RESCUE = `
WITH expired AS (
  SELECT id, status, lease_owner FROM jobs
  WHERE status IN ${sqlList(TRANSITIONS.rescue.from)} AND lease_expires_at < $1
  ORDER BY lease_expires_at LIMIT $2
  FOR UPDATE SKIP LOCKED
), upd AS (
  UPDATE jobs j SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,
    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN $1 ELSE NULL END,
    run_after = $1, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, stage = NULL,
    eta_s = NULL, speed = NULL, updated_at = $1,
    last_error = jsonb_build_object('code', 'lease_expired',
      'message', 'lease held by ' || expired.lease_owner || ' expired')
  FROM expired WHERE j.id = expired.id
  RETURNING j.id, j.status, j.attempts, expired.status AS prev_status, expired.lease_owner AS prev_owner
), rend AS (
  UPDATE renditions r SET status = CASE WHEN upd.status = 'dead' THEN 'failed' ELSE 'pending' END,
    updated_at = $1
  FROM upd WHERE r.job_id = upd.id AND r.status IN ${sqlList(OPEN_RENDITION_STATUSES)}
), ev AS (
  ${event(
    'prev_status',
    'status',
    "'maintenance'",
    "'lease_expired'",
    "jsonb_build_object('encoderId', prev_owner, 'attempt', attempts)",
    '$1',
  )}
)
SELECT id, status, prev_owner FROM upd`;

/** $1 id, $2 token, $3 encoder, $4 now, $5 lines jsonb array of {stream, line} */
export const APPEND_LOGS = `
WITH j AS (
  UPDATE jobs SET log_seq = log_seq + jsonb_array_length($5::jsonb)
  WHERE id = $1 AND lease_token = $2 AND lease_owner = $3 AND status IN ${sqlList(LEASED_STATUSES)}
  RETURNING id, log_seq
), ins AS (
  INSERT INTO job_logs (job_id, seq, stream, line, at)
  SELECT j.id, j.log_seq - jsonb_array_length($5::jsonb) + x.ord, coalesce(x.v ->> 'stream', 'pipeline'),
    x.v ->> 'line', $4
  FROM j, jsonb_array_elements($5::jsonb) WITH ORDINALITY AS x(v, ord)
)
SELECT id, log_seq FROM j`;

/** Keep the newest $2 lines and at most $3 bytes of a job's log. $1 id */
export const TRIM_LOGS = `
DELETE FROM job_logs l USING (
  SELECT seq, count(*) OVER w AS n, sum(octet_length(line)) OVER w AS bytes
  FROM job_logs WHERE job_id = $1
  WINDOW w AS (ORDER BY seq DESC)
) s
WHERE l.job_id = $1 AND l.seq = s.seq AND (s.n > $2 OR s.bytes > $3)`;

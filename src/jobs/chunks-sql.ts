/**
 * SQL of chunked encoding (docs/chunking.md), in the style of sql.ts: every state change one statement,
 * chained by CTEs to its job_events row. Kept apart from sql.ts so the store's statements stay as
 * they are; the claim, renew, complete, fail and rescue of chunk tasks are the store's own.
 */

import {
  FINAL_STATUSES,
  OPEN_RENDITION_STATUSES,
  RESERVED_TAG_PREFIX,
  sqlList,
  TRANSITIONS,
} from './vocabulary.js';

/**
 * Required tag of a split parent: no encoder may register it (src/jobs/chunks.ts), so only the
 * coordinator's stitcher, which claims by id, ever leases the parent.
 */
export const STITCH_TAG = `${RESERVED_TAG_PREFIX}stitch`;

const renditionsOf = (alias: string) =>
  `(SELECT coalesce(json_agg(json_build_object('name', r.name, 'status', r.status, 'progress', r.progress,
     'result', r.result, 'error', r.error) ORDER BY r.position), '[]'::json)
     FROM renditions r WHERE r.job_id = ${alias}.id) AS renditions`;

/**
 * Creates a parent's chunk tasks (each a queued job; scheduling, tenant, owner, network and attempt
 * budget copied from the parent, the stitch tag left out) with their renditions and `submitted` events,
 * and — the one place chunk tasks get their routing — the parent's route (src/jobs/routing.ts: the
 * times its owner's browser and everyone else may claim, the agent offered the agent step, the owner's
 * settings), so each chunk task is offered to the owner's own agent first exactly as the parent was
 * planned at submit (a silent or failing agent reroutes each task as it would the job); and
 * records `split` on the parent. A second call for the same parent creates nothing (unique
 * parent_id + chunk_index). $1 parent id, $2 tasks jsonb [{id, short_id, chunk_index, spec, duration_s,
 * renditions}], $3 now, $4 actor
 */
export const CREATE_CHUNKS = `
WITH p AS (SELECT * FROM jobs WHERE id = $1),
t AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb)
    AS x(id text, short_id text, chunk_index int, spec jsonb, duration_s float8, renditions text[])
), upd AS (
  INSERT INTO jobs (id, short_id, tenant, owner, protocol, spec, metadata, queue, priority, weight,
    required_codecs, required_hwaccel, source_height, duration_s, required_tags, preferred_kinds,
    max_attempts, run_after, created_at, updated_at, status, traceparent, network, parent_id, chunk_index,
    route_browser_at, route_open_at, route_agent, allow_browser, allow_community)
  SELECT t.id, t.short_id, p.tenant, p.owner, p.protocol, t.spec, p.metadata, p.queue, p.priority, p.weight,
    p.required_codecs, p.required_hwaccel, p.source_height, t.duration_s,
    array_remove(p.required_tags, '${STITCH_TAG}'), p.preferred_kinds, p.max_attempts, $3, $3, $3, 'queued',
    p.traceparent, p.network, p.id, t.chunk_index,
    p.route_browser_at, p.route_open_at, p.route_agent, p.allow_browser, p.allow_community
  FROM p, t
  ON CONFLICT (parent_id, chunk_index) WHERE parent_id IS NOT NULL DO NOTHING
  RETURNING id, parent_id, chunk_index
), rend AS (
  INSERT INTO renditions (job_id, name, position, updated_at)
  SELECT upd.id, n.name, n.pos, $3 FROM upd JOIN t ON t.id = upd.id,
    unnest(t.renditions) WITH ORDINALITY AS n(name, pos)
), ev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT id, NULL, 'queued', $4, 'submitted',
    jsonb_build_object('parentId', parent_id, 'chunkIndex', chunk_index), $3 FROM upd
), pev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT p.id, p.status, p.status, $4, 'split', jsonb_build_object('chunks', (SELECT count(*) FROM upd)), $3
  FROM p WHERE EXISTS (SELECT 1 FROM upd)
)
SELECT count(*)::int AS created FROM upd`;

/** A parent's chunk tasks in chunk order (the audio task, index -1, first). $1 parent id */
export const LIST_CHILDREN = `
SELECT j.*, ${renditionsOf('j')} FROM jobs j WHERE j.parent_id = $1 ORDER BY j.chunk_index`;

/**
 * Leases the next split parent whose chunk tasks all completed to the stitcher, as the store's claim
 * does (attempt counted, `claimed` event). $1 now, $2 stitcher id, $3 token, $4 lease expiry
 */
export const CLAIM_STITCH = `
WITH next AS (
  SELECT j.id, j.status FROM jobs j
  WHERE j.status IN ${sqlList(TRANSITIONS.claim.from)} AND j.run_after <= $1
    AND '${STITCH_TAG}' = ANY(j.required_tags)
    AND EXISTS (SELECT 1 FROM jobs c WHERE c.parent_id = j.id)
    AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.parent_id = j.id AND c.status <> 'completed')
  ORDER BY j.weight DESC, j.created_at, j.id
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), upd AS (
  UPDATE jobs j SET status = 'leased', stage = NULL, progress = 0, eta_s = NULL, speed = NULL,
    attempts = j.attempts + 1, lease_owner = $2, lease_token = $3, lease_expires_at = $4, encoder_id = $2,
    claimed_at = $1, updated_at = $1
  FROM next WHERE j.id = next.id
  RETURNING j.*, next.status AS prev_status
), ev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT id, prev_status, 'leased', $2, 'claimed', jsonb_build_object('attempt', attempts, 'stitch', true), $1
  FROM upd
)
SELECT upd.*, ${renditionsOf('upd')} FROM upd`;

/**
 * Dead-letters waiting split parents one of whose chunk tasks is dead or cancelled (a chunk that
 * cannot be encoded makes the whole job impossible). $1 now, $2 actor
 */
export const FAIL_BROKEN_PARENTS = `
WITH broken AS (
  SELECT j.id, j.status, (SELECT c.id FROM jobs c WHERE c.parent_id = j.id
      AND c.status IN ('dead', 'cancelled') ORDER BY c.chunk_index LIMIT 1) AS child
  FROM jobs j
  WHERE j.status IN ${sqlList(TRANSITIONS.claim.from)} AND '${STITCH_TAG}' = ANY(j.required_tags)
    AND EXISTS (SELECT 1 FROM jobs c WHERE c.parent_id = j.id AND c.status IN ('dead', 'cancelled'))
  FOR UPDATE OF j SKIP LOCKED
), upd AS (
  UPDATE jobs j SET status = 'dead', finished_at = $1, updated_at = $1, eta_s = NULL, speed = NULL,
    last_error = jsonb_build_object('code', 'chunk_failed', 'message', 'chunk task ' || broken.child
      || ' is dead or cancelled', 'details', jsonb_build_object('chunkJobId', broken.child))
  FROM broken WHERE j.id = broken.id
  RETURNING j.id, broken.status AS prev_status, broken.child
), rend AS (
  UPDATE renditions r SET status = 'failed', updated_at = $1
  FROM upd WHERE r.job_id = upd.id AND r.status IN ${sqlList(OPEN_RENDITION_STATUSES)}
), ev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT id, prev_status, 'dead', $2, 'chunk_failed', jsonb_build_object('chunkJobId', child), $1 FROM upd
)
SELECT id FROM upd`;

/**
 * Cancels the unfinished chunk tasks of finished (cancelled, dead) parents, or of parent $3 when
 * given; a holder learns it from its next renew. $1 now, $2 actor, $3 parent id or NULL
 */
export const CANCEL_CHILDREN = `
WITH cur AS (
  SELECT c.id, c.status FROM jobs c JOIN jobs p ON p.id = c.parent_id
  WHERE c.status IN ${sqlList(TRANSITIONS.cancel.from)}
    AND ($3::text IS NULL OR p.id = $3::text) AND p.status IN ${sqlList(FINAL_STATUSES)}
  FOR UPDATE OF c SKIP LOCKED
), upd AS (
  UPDATE jobs j SET status = 'cancelled', finished_at = $1, updated_at = $1, eta_s = NULL, speed = NULL
  FROM cur WHERE j.id = cur.id
  RETURNING j.id, cur.status AS prev_status
), ev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT id, prev_status, 'cancelled', $2, 'parent_finished', NULL, $1 FROM upd
)
SELECT id FROM upd`;

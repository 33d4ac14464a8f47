/**
 * The job store's SQL, one statement per operation, pure text (values are always bound parameters).
 * Every state change is one statement: a compare-and-set UPDATE (status, and lease owner + token where
 * a lease is involved) chained by CTEs to its audit row in job_events, so the change and its event
 * commit together. `cur` sub-selects lock the row first and expose the previous status, because
 * `UPDATE … RETURNING` only sees new values (PostgreSQL < 18).
 */

import {
  type EncoderKind,
  FINAL_STATUSES,
  LEASED_STATUSES,
  OPEN_RENDITION_STATUSES,
  SETTLED_RENDITION_STATUSES,
  sqlList,
  TRANSITIONS,
  UNSETTLED_ORDER_STATES,
  WAITING_STATUSES,
} from './vocabulary.js';

/**
 * Named parameters for a long statement: `$('tenant')` is the `$n` placeholder of that name in the
 * SQL text, and `values({...})` orders a complete record of values to match (a missing or unknown name
 * is a type error), so a 20-parameter statement cannot be bound out of order.
 */
export function namedParams<const N extends readonly string[]>(names: N) {
  return {
    $: (name: N[number]): string => `$${names.indexOf(name) + 1}`,
    values: (v: Readonly<Record<N[number], unknown>>): unknown[] => names.map((n: N[number]) => v[n]),
  };
}

/** Renditions of the job row `alias` as a JSON array, in submit order. */
const renditionsOf = (alias: string) =>
  `(SELECT coalesce(json_agg(json_build_object('name', r.name, 'status', r.status, 'progress', r.progress,
     'result', r.result, 'error', r.error) ORDER BY r.position), '[]'::json)
     FROM renditions r WHERE r.job_id = ${alias}.id) AS renditions`;

const event = (from: string, to: string, actor: string, reason: string, details: string, at: string) =>
  `INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
   SELECT id, ${from}, ${to}, ${actor}, ${reason}, ${details}, ${at} FROM upd`;

/** The parameters of {@link SUBMIT}: `renditions` text[] (submit order), `now` also created/updated time. */
export const SUBMIT_PARAMS = namedParams([
  'id',
  'shortId',
  'tenant',
  'owner',
  'idempotencyKey',
  'protocol',
  'spec',
  'metadata',
  'queue',
  'priority',
  'weight',
  'codecs',
  'hwaccel',
  'sourceHeight',
  'durationS',
  'tags',
  'preferredKinds',
  'maxAttempts',
  'runAfter',
  'now',
  'renditions',
  'actor',
  'traceparent',
  'network',
  'routeBrowserAt',
  'routeOpenAt',
  'allowBrowser',
  'allowCommunity',
  'route',
  'reservedFor',
  'routeAgent',
  'pinUntil',
  'pinFallback',
] as const);

const S = SUBMIT_PARAMS.$;
export const SUBMIT = `
WITH upd AS (
  INSERT INTO jobs (id, short_id, tenant, owner, idempotency_key, protocol, spec, metadata, queue, priority,
    weight, required_codecs, required_hwaccel, source_height, duration_s, required_tags, preferred_kinds,
    max_attempts, run_after, created_at, updated_at, status, traceparent, network, route_browser_at,
    route_open_at, allow_browser, allow_community, reserved_for, route_agent, pin_until, pin_fallback)
  VALUES (${S('id')}, ${S('shortId')}, ${S('tenant')}, ${S('owner')}, ${S('idempotencyKey')}, ${S('protocol')},
    ${S('spec')}::jsonb, ${S('metadata')}::jsonb, ${S('queue')}, ${S('priority')}, ${S('weight')},
    ${S('codecs')}::text[], ${S('hwaccel')}, ${S('sourceHeight')}, ${S('durationS')}, ${S('tags')}::text[],
    ${S('preferredKinds')}::text[], ${S('maxAttempts')}, ${S('runAfter')}, ${S('now')}, ${S('now')}, 'queued',
    ${S('traceparent')}, ${S('network')}, ${S('routeBrowserAt')}, ${S('routeOpenAt')}, ${S('allowBrowser')},
    ${S('allowCommunity')}, ${S('reservedFor')}, ${S('routeAgent')}, ${S('pinUntil')}, ${S('pinFallback')})
  ON CONFLICT (tenant, idempotency_key) DO NOTHING
  RETURNING *
), rend AS (
  INSERT INTO renditions (job_id, name, position, updated_at)
  SELECT upd.id, n.name, n.pos, ${S('now')} FROM upd, unnest(${S('renditions')}::text[]) WITH ORDINALITY AS n(name, pos)
), ev AS (
  -- One INSERT for both rows, in order, so the routing steps always follow the submission.
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT upd.id, e.from_status, 'queued', e.actor, e.reason, e.details, ${S('now')}
  FROM upd, (VALUES (1, NULL, ${S('actor')}::text, 'submitted', NULL::jsonb),
    (2, 'queued', 'router', 'routed', ${S('route')}::jsonb)) AS e(n, from_status, actor, reason, details)
  WHERE e.n = 1 OR ${S('route')}::jsonb IS NOT NULL
  ORDER BY e.n
)
SELECT upd.*, (SELECT coalesce(json_agg(json_build_object('name', n.name, 'status', 'pending',
  'progress', 0, 'result', NULL, 'error', NULL) ORDER BY n.pos), '[]'::json)
  FROM unnest(${S('renditions')}::text[]) WITH ORDINALITY AS n(name, pos)) AS renditions
FROM upd`;

/**
 * What routing needs to know about user $2 of tenant $1 at submit: their settings (NULL: defaults) and
 * their online, approved desktop agent (the idle one first) and browser encoder.
 */
export const ROUTE_CANDIDATES = `
SELECT
  (SELECT json_build_object('preferOwnAgent', s.prefer_own_agent, 'allowBrowser', s.allow_browser,
    'allowCommunity', s.allow_community, 'maxPrice', s.max_price::float8)
   FROM user_settings s WHERE s.tenant = $1 AND s.user_name = $2) AS settings,
  (SELECT json_build_object('id', a.id, 'busy', a.busy) FROM (
    SELECT e.id, EXISTS (SELECT 1 FROM jobs h WHERE h.lease_owner = e.id
      AND h.status IN ${sqlList(LEASED_STATUSES)}) AS busy, e.last_seen_at
    FROM encoders e WHERE e.user_tenant = $1 AND e.user_name = $2 AND e.kind = 'desktop'
      AND e.status = 'online' AND e.approval = 'approved') a
   ORDER BY a.busy, a.last_seen_at DESC LIMIT 1) AS agent,
  (SELECT json_build_object('id', e.id) FROM encoders e WHERE e.user_tenant = $1 AND e.user_name = $2
    AND e.kind = 'browser' AND e.status = 'online' AND e.approval = 'approved'
   ORDER BY e.last_seen_at DESC LIMIT 1) AS browser`;

/** $1 tenant, $2 user */
export const GET_USER_SETTINGS = `
SELECT prefer_own_agent, allow_browser, allow_community, max_price::float8 AS max_price, updated_at
FROM user_settings WHERE tenant = $1 AND user_name = $2`;

/** Insert or update; NULL keeps a field ($6 clears max_price when $7 is true). $1 tenant, $2 user, $8 now */
export const PATCH_USER_SETTINGS = `
INSERT INTO user_settings AS s (tenant, user_name, prefer_own_agent, allow_browser, allow_community,
  max_price, updated_at)
VALUES ($1, $2, coalesce($3, true), coalesce($4, true), coalesce($5, true), $6, $8)
ON CONFLICT (tenant, user_name) DO UPDATE SET
  prefer_own_agent = coalesce($3, s.prefer_own_agent), allow_browser = coalesce($4, s.allow_browser),
  allow_community = coalesce($5, s.allow_community),
  max_price = CASE WHEN $7::boolean THEN $6 ELSE coalesce($6, s.max_price) END, updated_at = $8
RETURNING prefer_own_agent, allow_browser, allow_community, max_price::float8 AS max_price, updated_at`;

/** Pairs did $1 with user $3 of tenant $2 (re-pairing within the tenant moves it; none returned when another tenant holds it); $4 now */
export const BIND_AGENT = `
INSERT INTO agent_bindings (did, tenant, user_name, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (did) DO UPDATE SET user_name = EXCLUDED.user_name, created_at = EXCLUDED.created_at
  WHERE agent_bindings.tenant = EXCLUDED.tenant
RETURNING did, tenant, user_name, created_at`;

/** $1 did */
export const GET_AGENT_BINDING =
  'SELECT did, tenant, user_name, created_at FROM agent_bindings WHERE did = $1';

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

/** Whether the job row is pinned (`pinEncoder`, drizzle/0028) to the encoder at `encoderId`. */
const PINNED_TO = (encoderId: string) => `(pin_until IS NOT NULL AND reserved_for = ${encoderId}::text)`;

/**
 * The compare-and-set half of every claim: the row picked (and locked) by the CTE `next` becomes
 * leased to `encoderId` with `token` until `expires`, one attempt is counted, and its audit row is
 * written (`details` adds to `{attempt}`). Ends with the `ev` CTE; `upd` returns the new row.
 */
function leaseNext(p: {
  now: string;
  encoderId: string;
  token: string;
  expires: string;
  details?: string;
}): string {
  const attempt = "jsonb_build_object('attempt', attempts)";
  const details = p.details ? `${attempt} || ${p.details}` : attempt;
  return `upd AS (
  UPDATE jobs j SET status = 'leased', stage = NULL, progress = 0, eta_s = NULL, speed = NULL, fps = NULL,
    attempts = j.attempts + 1, lease_owner = ${p.encoderId}, lease_token = ${p.token},
    lease_expires_at = ${p.expires}, encoder_id = ${p.encoderId}, claimed_at = ${p.now}, updated_at = ${p.now}
  FROM next WHERE j.id = next.id
  RETURNING j.*, next.status AS prev_status
), ev AS (
  ${event('prev_status', "'leased'", p.encoderId, "'claimed'", details, p.now)}
)`;
}

/** The encoder capability parameters of a claim ({@link capabilityMatch}), in `values` record form. */
type CapabilityParam = 'codecs' | 'hwaccel' | 'maxHeight' | 'maxDurationS' | 'tags' | 'queues';

/**
 * What the encoder can do against what the job row requires (codecs, hardware accelerator, height,
 * duration limit of its kind, tags, queues, protocol family): one boolean SQL fragment shared by the
 * claim and by {@link CAN_ENCODE} (a market bid), so a bid is refused exactly when the claim would
 * never lease the job to that encoder. `at` gives the placeholder of each parameter.
 */
function capabilityMatch(at: (name: CapabilityParam) => string): string {
  return `required_codecs <@ ${at('codecs')}::text[]
      AND (required_hwaccel IS NULL OR required_hwaccel = ANY(${at('hwaccel')}::text[]))
      AND (source_height IS NULL OR source_height <= ${at('maxHeight')})
      -- A duration-limited encoder (a browser) takes only jobs whose duration and output height were
      -- measured at submit: a chunk task or an unprobed source could need more than it can do.
      AND (${at('maxDurationS')}::float8 IS NULL
        OR (duration_s IS NOT NULL AND duration_s <= ${at('maxDurationS')}::float8
          AND source_height IS NOT NULL))
      AND required_tags <@ ${at('tags')}::text[]
      AND (${at('queues')}::text[] IS NULL OR queue = ANY(${at('queues')}::text[]))
      -- Other families' jobs are leased only by their gateway's claim (CLAIM_BY_PROTOCOL).
      AND protocol = 'vidmesh'`;
}

/** The parameters of {@link CAN_ENCODE}: the job id and the claim's capability parameters. */
export const CAN_ENCODE_PARAMS = namedParams([
  'jobId',
  'codecs',
  'hwaccel',
  'maxHeight',
  'maxDurationS',
  'tags',
  'queues',
] as const);

/**
 * Whether an encoder with these capabilities could ever claim job `jobId` (its {@link capabilityMatch});
 * no row when the job is unknown. Parameters: {@link CAN_ENCODE_PARAMS}.
 */
export const CAN_ENCODE = `
SELECT coalesce(${capabilityMatch(CAN_ENCODE_PARAMS.$)}, false) AS ok
FROM jobs WHERE id = ${CAN_ENCODE_PARAMS.$('jobId')}`;

/** The parameters of a claim statement ({@link claimSql}); `maxDurationS` seconds, `leaseExpiresAt` a time. */
export const CLAIM_PARAMS = namedParams([
  'now',
  'codecs',
  'hwaccel',
  'maxHeight',
  'maxDurationS',
  'tags',
  'queues',
  'encoderId',
  'token',
  'leaseExpiresAt',
  'scope',
  'tenant',
  'user',
  'score',
] as const);
const C = CLAIM_PARAMS.$;

/**
 * Claim: the best claimable job the encoder can do, locked with SKIP LOCKED so concurrent claimers
 * never wait on or share a row. Order: weight (queue x priority), the job's preference for this
 * encoder kind (a stored rank column per kind, so the walk follows the `jobs_claim_<kind>_idx`
 * index), then age. The kind picks an identifier, so it is checked against the fixed list.
 * Parameters: {@link CLAIM_PARAMS} (`queues` NULL: all; `scope` 'all' | 'tenant' | 'community'; `tenant`
 * the encoder's tenant for scope 'tenant'; `score` the encoder's reputation 0..1, 1 for trusted
 * encoders, matched against the spec's `minScore`).
 */
export function claimSql(kind: keyof typeof KIND_RANK_COLUMNS): string {
  const rank = KIND_RANK_COLUMNS[kind];
  if (!rank) throw new RangeError(`unknown encoder kind ${String(kind)}`);
  let text = claimCache.get(kind);
  if (!text) {
    text = `
WITH next AS (
  SELECT id, status FROM jobs
  WHERE status IN ${sqlList(TRANSITIONS.claim.from)} AND run_after <= ${C('now')}
    -- One opaque boolean on purpose: the planner guesses 0.5 % per array <@ clause, multiplies the
    -- guesses, expects ~no matching row, and then sorts the whole queue instead of walking the index.
    AND coalesce(${capabilityMatch(C)}
      -- An encoder whose result for this job failed verification never leases it again.
      AND NOT (${C('encoderId')}::text = ANY(excluded_encoders))
      -- A market job goes only to the encoder whose bid was accepted ('' = none accepted yet); a pinned
      -- job only to its encoder until the pin ends (pin_until), then as routed (END_PINS records it).
      AND (reserved_for IS NULL OR reserved_for = ${C('encoderId')}::text
        OR (pin_fallback AND pin_until <= ${C('now')}))
      AND (spec ->> 'minScore' IS NULL OR ${C('score')}::float8 >= (spec ->> 'minScore')::float8)
      -- Trust boundary: tenant encoders take their tenant's jobs, community ones only open-network jobs,
      -- a user's own encoder only that user's jobs. Routing (src/jobs/routing.ts): the user's agent at
      -- any time, their browser from route_browser_at, everyone else from route_open_at.
      -- The encoder a job is pinned to takes it during the pin, before the steps planned from its end.
      AND CASE ${C('scope')}::text
        WHEN 'user' THEN tenant = ${C('tenant')}::text AND owner = ${C('user')}::text
          ${kind === 'browser' ? `AND (${PINNED_TO(C('encoderId'))} OR allow_browser AND coalesce(route_browser_at, route_open_at, ${C('now')}) <= ${C('now')})` : ''}
        ELSE (${PINNED_TO(C('encoderId'))} OR route_open_at IS NULL OR route_open_at <= ${C('now')}) AND CASE ${C('scope')}::text
          WHEN 'all' THEN true
          WHEN 'tenant' THEN tenant = ${C('tenant')}::text OR network = 'community'
          ELSE network = 'community' AND allow_community END END, false)
  ORDER BY weight DESC NULLS LAST, ${rank}, created_at, id
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), ${leaseNext({
      now: C('now'),
      encoderId: C('encoderId'),
      token: C('token'),
      expires: C('leaseExpiresAt'),
      // Which routing step a routed job was claimed in: the owner's own encoder, or the open fleet.
      details: `CASE WHEN ${PINNED_TO(C('encoderId'))} THEN jsonb_build_object('route', 'pin')
    WHEN ${C('scope')}::text = 'user' THEN jsonb_build_object('route', '${kind === 'browser' ? 'browser' : 'agent'}')
    WHEN route_open_at IS NOT NULL THEN jsonb_build_object('route', 'open') ELSE '{}'::jsonb END`,
    })}
, async_commit AS (
  -- A claim may commit without waiting for its WAL flush: one lost in a crash is fenced (the encoder's
  -- first renew or complete names a token the job never got, and fails with lease_lost), so only
  -- complete, fail and the other results wait for durability.
  SELECT set_config('synchronous_commit', 'off', true)
)
SELECT upd.*, ${renditionsOf('upd')} FROM upd, async_commit`;
    claimCache.set(kind, text);
  }
  return text;
}

/** The parameters of {@link CLAIM_BY_PROTOCOL}; `jobId` NULL: the best claimable job of the family. */
export const PROTOCOL_CLAIM_PARAMS = namedParams([
  'now',
  'protocol',
  'encoderId',
  'token',
  'leaseExpiresAt',
  'jobId',
  'capacity',
  'passOver',
  'ipfsOnly',
] as const);
const P = PROTOCOL_CLAIM_PARAMS.$;

/**
 * Claim for a protocol family's own gateway (src/compat/threespeak): its jobs carry no capability
 * requirements and are never leased by {@link claimSql}, and legacy nodes may ask for one job by id.
 * Nothing when the encoder already holds `capacity` live leases of the family. `passOver` (an encoder
 * id, or NULL) skips jobs whose last event is that encoder's unacknowledged hand-out expiring
 * (`not_acknowledged`, see {@link RESCUE}), so they go to another node first. `ipfsOnly`: only jobs
 * whose source is a bare `ipfs://CID` (clients that take a CID, not a path inside one).
 */
export const CLAIM_BY_PROTOCOL = `
WITH next AS (
  SELECT id, status FROM jobs
  WHERE protocol = ${P('protocol')} AND status IN ${sqlList(TRANSITIONS.claim.from)} AND run_after <= ${P('now')}
    AND (${P('jobId')}::text IS NULL OR id = ${P('jobId')}::text)
    AND (NOT ${P('ipfsOnly')}::boolean OR spec -> 'source' ->> 'url' ~ '^ipfs://[A-Za-z0-9]+/?$')
    AND (${P('passOver')}::text IS NULL OR ${P('passOver')}::text IS DISTINCT FROM (
      SELECT CASE WHEN e.reason = 'not_acknowledged' THEN e.details ->> 'encoderId' END
      FROM job_events e WHERE e.job_id = jobs.id ORDER BY e.id DESC LIMIT 1))
    AND (SELECT count(*) FROM jobs h WHERE h.protocol = ${P('protocol')} AND h.lease_owner = ${P('encoderId')}
      AND h.status IN ${sqlList(LEASED_STATUSES)}) < ${P('capacity')}::int
  ORDER BY weight DESC NULLS LAST, created_at, id
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), ${leaseNext({
  now: P('now'),
  encoderId: P('encoderId'),
  token: P('token'),
  expires: P('leaseExpiresAt'),
  details: `jsonb_build_object('via', ${P('protocol')}::text)`,
})}
SELECT upd.*, ${renditionsOf('upd')} FROM upd`;

/** The live lease of job $1 when encoder $2 holds it: token, status and expiry. */
export const LEASE_OF = `
SELECT lease_token, status, lease_expires_at FROM jobs
WHERE id = $1 AND lease_owner = $2 AND lease_token IS NOT NULL AND status IN ${sqlList(TRANSITIONS.renew.from)}`;

/** $1 id, $2 token, $3 encoder, $4 now, $5 new expiry, $6 stage, $7 progress, $8 eta_s, $9 renditions jsonb,
 * $10 speed (× real time), $11 fps (frames encoded per second) */
export const RENEW = `
WITH cur AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
upd AS (
  UPDATE jobs j SET
    status = CASE WHEN j.status IN ('cancelled', 'verifying') THEN j.status ELSE 'running' END,
    stage = CASE WHEN j.status = 'cancelled' THEN j.stage ELSE coalesce($6, j.stage) END,
    progress = CASE WHEN j.status = 'cancelled' THEN j.progress ELSE coalesce($7, j.progress) END,
    eta_s = CASE WHEN j.status = 'cancelled' THEN j.eta_s ELSE $8 END,
    speed = CASE WHEN j.status = 'cancelled' THEN j.speed ELSE $10 END,
    fps = CASE WHEN j.status = 'cancelled' THEN j.fps ELSE $11 END,
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
  UPDATE jobs j SET status = 'completed', stage = NULL, progress = 100, eta_s = NULL, speed = NULL, fps = NULL, result = $5::jsonb,
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

/**
 * $1 id, $2 token, $3 encoder, $4 now, $5 retryable, $6 delays ms int[], $7 error jsonb.
 * When the failing encoder is the owner's own (a paired desktop agent or browser encoder) and the job is
 * pinned to nobody, the job moves on along its route (src/jobs/routing.ts): that encoder is skipped for
 * the job's next attempts (`excluded_encoders`), and its step ends when the job may run again (an
 * agent's: the browser and open steps move earlier by what was left of its window; a browser's: the
 * open step starts then). The retry event says so (`details.rerouted`).
 * When the failing encoder is the one the job is pinned to (`pinEncoder`), the pin ends: that encoder is
 * skipped from now on and the steps planned from the pin's end start when the job may run again
 * (`rerouted` with step `pin`), or, for a pin without fallback, the job is dead.
 */
export const FAIL = `
WITH cur AS (
  SELECT j.id, j.status, $4::timestamptz
      + ($6::int[])[least(greatest(j.attempts, 1), cardinality($6::int[]))] * interval '1 millisecond' AS next_run,
    (SELECT e.kind FROM encoders e WHERE e.id = $3 AND e.user_name IS NOT NULL AND j.reserved_for IS NULL
      AND e.kind IN ('desktop', 'browser')) AS own_kind,
    ${PINNED_TO('$3')} AS pinned,
    (NOT $5::boolean OR j.attempts >= j.max_attempts OR (${PINNED_TO('$3')} AND NOT j.pin_fallback)) AS dies
  FROM jobs j WHERE j.id = $1 FOR UPDATE
),
upd AS (
  UPDATE jobs j SET
    status = CASE WHEN cur.dies THEN 'dead' ELSE 'failed' END,
    run_after = cur.next_run,
    finished_at = CASE WHEN cur.dies THEN $4 ELSE NULL END,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, stage = NULL, eta_s = NULL, speed = NULL, fps = NULL,
    last_error = $7::jsonb, updated_at = $4,
    excluded_encoders = CASE WHEN (cur.own_kind IS NOT NULL OR cur.pinned) AND NOT ($3 = ANY(j.excluded_encoders))
      THEN array_append(j.excluded_encoders, $3) ELSE j.excluded_encoders END,
    reserved_for = CASE WHEN cur.pinned AND NOT cur.dies THEN NULL ELSE j.reserved_for END,
    pin_until = CASE WHEN cur.pinned THEN NULL ELSE j.pin_until END,
    route_browser_at = CASE WHEN cur.pinned THEN j.route_browser_at
      - greatest(j.pin_until - cur.next_run, interval '0')
      WHEN cur.own_kind = 'desktop' THEN j.route_browser_at
      - greatest(coalesce(j.route_browser_at, j.route_open_at) - cur.next_run, interval '0') ELSE j.route_browser_at END,
    route_open_at = CASE WHEN cur.pinned THEN j.route_open_at - greatest(j.pin_until - cur.next_run, interval '0')
      WHEN cur.own_kind = 'desktop' THEN j.route_open_at
      - greatest(coalesce(j.route_browser_at, j.route_open_at) - cur.next_run, interval '0')
      WHEN cur.own_kind = 'browser' THEN least(j.route_open_at, cur.next_run) ELSE j.route_open_at END
  FROM cur
  WHERE j.id = cur.id AND j.lease_token = $2 AND j.lease_owner = $3
    AND j.status IN ${sqlList(TRANSITIONS.fail.from)}
  RETURNING j.id, j.status, j.attempts, j.max_attempts, j.run_after, cur.status AS prev_status,
    cur.own_kind, cur.pinned, j.route_browser_at, j.route_open_at
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
    `jsonb_build_object('error', $7::jsonb, 'attempt', attempts, 'maxAttempts', max_attempts, 'runAfter', run_after)
      || CASE WHEN pinned AND status = 'dead' THEN jsonb_build_object('pin', jsonb_build_object(
          'encoderId', $3::text, 'why', 'failed'))
        WHEN (own_kind IS NULL AND NOT pinned) OR status = 'dead' THEN '{}'::jsonb ELSE jsonb_build_object('rerouted',
        jsonb_build_object('step', CASE WHEN pinned THEN 'pin' WHEN own_kind = 'desktop' THEN 'agent' ELSE 'browser' END,
          'encoderId', $3::text, 'why', 'failed', 'browserFrom', route_browser_at,
          'openFrom', coalesce(route_open_at, run_after))) END`,
    '$4',
  )}
)
SELECT id, status, attempts, run_after FROM upd`;

/**
 * Graceful hand-back: the attempt is not counted. $1 id, $2 token, $3 encoder, $4 now, $5 reason,
 * $6 exclude (boolean: the encoder never leases this job again, e.g. its result failed verification).
 * Excluding the encoder a job is pinned to ends the pin at once: the steps planned from its end start
 * now (`rerouted` with step `pin`), or, for a pin without fallback, END_PINS dead-letters the job.
 */
export const RELEASE = `
WITH cur AS (
  SELECT id, status, $6::boolean AND ${PINNED_TO('$3')} AND pin_fallback AS unpin
  FROM jobs WHERE id = $1 FOR UPDATE
),
upd AS (
  UPDATE jobs j SET status = 'queued', attempts = greatest(j.attempts - 1, 0), run_after = $4,
    excluded_encoders = CASE WHEN $6::boolean AND NOT ($3 = ANY(j.excluded_encoders))
      THEN array_append(j.excluded_encoders, $3) ELSE j.excluded_encoders END,
    reserved_for = CASE WHEN cur.unpin THEN NULL ELSE j.reserved_for END,
    pin_until = CASE WHEN cur.unpin THEN NULL ELSE j.pin_until END,
    route_browser_at = CASE WHEN cur.unpin THEN j.route_browser_at - greatest(j.pin_until - $4, interval '0')
      ELSE j.route_browser_at END,
    route_open_at = CASE WHEN cur.unpin THEN j.route_open_at - greatest(j.pin_until - $4, interval '0')
      ELSE j.route_open_at END,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, stage = NULL, eta_s = NULL, speed = NULL, fps = NULL,
    progress = 0, updated_at = $4
  FROM cur
  WHERE j.id = cur.id AND j.lease_token = $2 AND j.lease_owner = $3
    AND j.status IN ${sqlList(TRANSITIONS.release.from)}
  RETURNING j.id, cur.status AS prev_status, cur.unpin, j.route_browser_at, j.route_open_at
), rend AS (
  UPDATE renditions r SET status = 'pending', progress = 0, updated_at = $4
  FROM upd WHERE r.job_id = upd.id AND r.status = 'running'
), ev AS (
  ${event(
    'prev_status',
    "'queued'",
    '$3',
    "'released'",
    `jsonb_build_object('reason', $5::text) || CASE WHEN unpin THEN jsonb_build_object('rerouted',
      jsonb_build_object('step', 'pin', 'encoderId', $3::text, 'why', 'failed', 'browserFrom', route_browser_at,
        'openFrom', coalesce(route_open_at, $4))) ELSE '{}'::jsonb END`,
    '$4',
  )}
)
SELECT id FROM upd`;

/** $1 id, $2 token, $3 encoder, $4 now */
export const BEGIN_VERIFICATION = `
WITH cur AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
upd AS (
  UPDATE jobs j SET status = 'verifying', stage = NULL, eta_s = NULL, speed = NULL, fps = NULL, updated_at = $4
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
  UPDATE jobs j SET status = 'cancelled', finished_at = $2, updated_at = $2, eta_s = NULL, speed = NULL, fps = NULL
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
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, stage = NULL, progress = 0, eta_s = NULL, speed = NULL, fps = NULL
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

/**
 * Rescue expired leases. $1 now, $2 batch size. A protocol family's hand-out its node never
 * acknowledged (still `leased`: a legacy 3Speak `myJob` answer without `acceptJob`) is re-queued
 * without counting the attempt and recorded as `not_acknowledged` (the family's claim passes it over
 * for that node while others wait); any other expired lease counts, and ends `dead` past the budget.
 */
export const RESCUE = `
WITH expired AS (
  SELECT id, status, lease_owner, (status = 'leased' AND protocol <> 'vidmesh') AS unacked FROM jobs
  WHERE status IN ${sqlList(TRANSITIONS.rescue.from)} AND lease_expires_at < $1
  ORDER BY lease_expires_at LIMIT $2
  FOR UPDATE SKIP LOCKED
), upd AS (
  UPDATE jobs j SET
    status = CASE WHEN NOT expired.unacked AND j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,
    finished_at = CASE WHEN NOT expired.unacked AND j.attempts >= j.max_attempts THEN $1 ELSE NULL END,
    attempts = CASE WHEN expired.unacked THEN greatest(j.attempts - 1, 0) ELSE j.attempts END,
    run_after = $1, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, stage = NULL,
    eta_s = NULL, speed = NULL, fps = NULL, updated_at = $1,
    last_error = CASE WHEN expired.unacked
      THEN jsonb_build_object('code', 'not_acknowledged',
        'message', 'hand-out to ' || expired.lease_owner || ' not acknowledged in time')
      ELSE jsonb_build_object('code', 'lease_expired',
        'message', 'lease held by ' || expired.lease_owner || ' expired') END
  FROM expired WHERE j.id = expired.id
  RETURNING j.id, j.status, j.attempts, expired.status AS prev_status, expired.lease_owner AS prev_owner,
    expired.unacked
), rend AS (
  UPDATE renditions r SET status = CASE WHEN upd.status = 'dead' THEN 'failed' ELSE 'pending' END,
    updated_at = $1
  FROM upd WHERE r.job_id = upd.id AND r.status IN ${sqlList(OPEN_RENDITION_STATUSES)}
), ev AS (
  ${event(
    'prev_status',
    'status',
    "'maintenance'",
    "CASE WHEN unacked THEN 'not_acknowledged' ELSE 'lease_expired' END",
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

/** The log sequence of a job (no lines appended). $1 id */
export const LOG_SEQ = 'SELECT log_seq FROM jobs WHERE id = $1';

/** $1 id, $2 after seq, $3 limit */
export const GET_LOGS =
  'SELECT seq, stream, line, at FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3';

// ---- Reads -----------------------------------------------------------------------------------------

/** The bare jobs row (no renditions) by id or short id. $1 id */
export const GET_ROW = 'SELECT * FROM jobs WHERE id = $1 OR short_id = $1';

/** $1 job id (not a short id) */
export const LIST_EVENTS = 'SELECT * FROM job_events WHERE job_id = $1 ORDER BY id';

/** Waiting jobs per queue and priority with the oldest one's creation time. */
export const QUEUE_DEPTH = `
SELECT queue, priority, count(*)::int AS count, min(created_at) AS oldest FROM jobs
WHERE status IN ${sqlList(WAITING_STATUSES)} GROUP BY queue, priority ORDER BY queue, priority`;

export const COUNT_BY_STATUS = 'SELECT status, count(*)::int AS count FROM jobs GROUP BY status';

/** Leases held per encoder. */
export const RUNNING_PER_ENCODER = `
SELECT lease_owner AS encoder_id, count(*)::int AS running FROM jobs
WHERE status IN ${sqlList(LEASED_STATUSES)} GROUP BY lease_owner ORDER BY lease_owner`;

/** Filters of {@link listJobsSql}; `cursor` is a (created_at, id) pair from the previous page. */
export interface ListJobsWhere {
  status?: readonly string[];
  tenant?: string;
  owner?: string;
  queue?: string;
  encoderId?: string;
  search?: string;
  cursor?: [Date, string];
}

/** One page of jobs, newest first: `limit` rows (ask for one more to know whether a next page exists). */
export function listJobsSql(filter: ListJobsWhere, limit: number): { text: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (filter.status?.length) where.push(`j.status = ANY(${p(filter.status)}::text[])`);
  if (filter.tenant) where.push(`j.tenant = ${p(filter.tenant)}`);
  if (filter.owner) where.push(`j.owner = ${p(filter.owner)}`);
  if (filter.queue) where.push(`j.queue = ${p(filter.queue)}`);
  if (filter.encoderId) where.push(`j.encoder_id = ${p(filter.encoderId)}`);
  if (filter.search) {
    const like = p(`%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(
      // Not the spec: it may carry destination credentials, and a search is an oracle for them.
      `(j.short_id ILIKE ${like} OR j.id ILIKE ${like} OR j.owner ILIKE ${like} OR j.metadata::text ILIKE ${like})`,
    );
  }
  if (filter.cursor) where.push(`(j.created_at, j.id) < (${p(filter.cursor[0])}, ${p(filter.cursor[1])})`);
  const text = `SELECT j.*, ${renditionsOf('j')} FROM jobs j ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY j.created_at DESC, j.id DESC LIMIT ${p(limit)}`;
  return { text, params };
}

/**
 * Whether job row `alias` has a market order not settled yet (docs/marketplace.md): its escrow may still
 * have to be released or refunded, which needs the order, so the job is never removed until then. The
 * ledger itself (market_transactions, market_entries) is not tied to the job and survives any removal.
 */
const marketHeld = (alias: string) =>
  `EXISTS (SELECT 1 FROM market_orders mo WHERE mo.job_id = ${alias}.id AND mo.state IN ${sqlList(UNSETTLED_ORDER_STATES)})`;

/**
 * Deletes one finished job (cascading to events, logs, renditions and its settled market order and
 * bids); no row when it is not finished or its market order is not settled. $1 id
 */
export const REMOVE_FINISHED = `DELETE FROM jobs WHERE id = $1 AND status IN ${sqlList(FINAL_STATUSES)}
  AND NOT ${marketHeld('jobs')} RETURNING id`;

/** Why job $1 was not removed: its status and the state of its market order (NULL: none). */
export const REMOVAL_BLOCKER = `
SELECT j.status, mo.state AS order_state FROM jobs j LEFT JOIN market_orders mo ON mo.job_id = j.id
WHERE j.id = $1`;

/**
 * Finished jobs past their retention (docs/outputs.md): the spec's `retainHours`, else $2 hours (NULL:
 * kept), counted from `finished_at`. $1 now, $2 default hours or NULL, $3 batch size. Never a job in
 * any other status. `order_state` is the state of a market order not settled yet (the job is kept until
 * it settles), else NULL; such jobs come last so they never crowd purgeable ones out of a batch.
 */
export const EXPIRED_JOBS = `
SELECT j.id, j.spec, j.result, mo.state AS order_state FROM jobs j
LEFT JOIN market_orders mo ON mo.job_id = j.id AND mo.state IN ${sqlList(UNSETTLED_ORDER_STATES)}
WHERE j.status IN ${sqlList(FINAL_STATUSES)} AND j.finished_at IS NOT NULL
  AND coalesce((j.spec ->> 'retainHours')::float8, $2::float8) IS NOT NULL
  AND j.finished_at + coalesce((j.spec ->> 'retainHours')::float8, $2::float8) * interval '1 hour' < $1
ORDER BY (mo.state IS NOT NULL), j.finished_at LIMIT $3`;

/**
 * IPFS root CIDs that finished or running jobs still reference (their published results): the embedded
 * store's pin set for garbage collection. $1 ids being purged (excluded).
 */
export const REFERENCED_CIDS = `
SELECT DISTINCT cid FROM (
  SELECT result -> 'publish' ->> 'cid' AS cid FROM jobs WHERE result IS NOT NULL AND NOT (id = ANY($1::text[]))
  UNION ALL
  SELECT o ->> 'cid' FROM jobs, jsonb_array_elements(CASE WHEN jsonb_typeof(result -> 'outputs') = 'array'
    THEN result -> 'outputs' ELSE '[]'::jsonb END) o WHERE NOT (id = ANY($1::text[]))
  UNION ALL
  SELECT r.result ->> 'cid' FROM renditions r WHERE r.result ? 'cid' AND NOT (r.job_id = ANY($1::text[]))
) c WHERE cid IS NOT NULL`;

/**
 * Deletes up to $2 finished jobs (cascading to events, logs, renditions, settled market orders) that
 * finished before $1; never one whose market order is not settled.
 */
export const PURGE_FINISHED = `
DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN ${sqlList(FINAL_STATUSES)}
  AND finished_at < $1 AND NOT ${marketHeld('jobs')} ORDER BY finished_at LIMIT $2)`;

// ---- Encoder registry ------------------------------------------------------------------------------

/**
 * Insert or refresh an encoder (online again). $1 id, $2 did, $3 public key, $4 name, $5 kind,
 * $6 capabilities jsonb, $7 tags, $8 version, $9 tenant, $10 approval (new rows only), $11 now,
 * $12 user tenant, $13 user name (both NULL: nobody's encoder)
 */
export const REGISTER_ENCODER = `
INSERT INTO encoders (id, did, public_key, name, kind, capabilities, tags, version, tenant, status,
  approval, registered_at, last_seen_at, user_tenant, user_name)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::text[], $8, $9, 'online', $10, $11, $11, $12, $13)
ON CONFLICT (id) DO UPDATE SET did = EXCLUDED.did, public_key = EXCLUDED.public_key,
  user_tenant = EXCLUDED.user_tenant, user_name = EXCLUDED.user_name,
  name = EXCLUDED.name, kind = EXCLUDED.kind, capabilities = EXCLUDED.capabilities,
  tags = EXCLUDED.tags, version = EXCLUDED.version, tenant = EXCLUDED.tenant, status = 'online',
  last_seen_at = EXCLUDED.last_seen_at
RETURNING id`;

/**
 * $1 id, $2 now, $3 fresh capabilities jsonb or NULL (their `tags` replace the tags column), $4 host or
 * NULL (kept), $5 load jsonb or NULL (kept)
 */
export const HEARTBEAT_ENCODER = `
UPDATE encoders SET last_seen_at = $2, status = 'online',
  capabilities = coalesce($3::jsonb, capabilities), host = coalesce($4, host), load = coalesce($5::jsonb, load),
  tags = coalesce((SELECT array_agg(t) FROM jsonb_array_elements_text($3::jsonb -> 'tags') t), tags)
WHERE id = $1`;

/** By id or did, with the leases it holds. $1 id or did */
export const GET_ENCODER = `
SELECT e.*, (SELECT count(*)::int FROM jobs j WHERE j.lease_owner = e.id
  AND j.status IN ${sqlList(LEASED_STATUSES)}) AS active_jobs
FROM encoders e WHERE e.id = $1 OR e.did = $1`;

/** Encoder $1's kind and last reported capabilities (the tags column is the current tag set). */
export const ENCODER_CAPABILITIES = `
SELECT kind, capabilities || jsonb_build_object('tags', to_jsonb(tags)) AS capabilities FROM encoders WHERE id = $1`;

/** $1 status or NULL, $2 kind or NULL */
export const LIST_ENCODERS = `
SELECT e.*, coalesce(a.n, 0) AS active_jobs FROM encoders e
LEFT JOIN (SELECT lease_owner, count(*)::int AS n FROM jobs WHERE status IN ${sqlList(LEASED_STATUSES)}
  GROUP BY lease_owner) a ON a.lease_owner = e.id
WHERE ($1::text IS NULL OR e.status = $1) AND ($2::text IS NULL OR e.kind = $2)
ORDER BY e.registered_at, e.id`;

/** $1 id, $2 approval */
export const SET_ENCODER_APPROVAL = 'UPDATE encoders SET approval = $2 WHERE id = $1';

/** Online encoders last seen before $1 go offline. */
/**
 * Ends the agent step of waiting jobs whose routed desktop agent fell silent (last heartbeat before $2,
 * or offline) while its window runs: the browser and open steps move earlier by what was left of the
 * window (the next step starts at $1, now), and a `rerouted` event records it. Returns the job ids.
 */
export const END_SILENT_AGENT_STEPS = `
WITH gone AS (
  SELECT j.id, j.status, j.route_agent, coalesce(j.route_browser_at, j.route_open_at) - $1::timestamptz AS left_over
  FROM jobs j JOIN encoders e ON e.id = j.route_agent
  WHERE j.route_agent IS NOT NULL AND j.status IN ${sqlList(TRANSITIONS.claim.from)}
    AND coalesce(j.route_browser_at, j.route_open_at) > $1::timestamptz
    AND (e.last_seen_at < $2::timestamptz OR e.status <> 'online')
  FOR UPDATE OF j SKIP LOCKED
), upd AS (
  UPDATE jobs j SET route_browser_at = j.route_browser_at - gone.left_over,
    route_open_at = j.route_open_at - gone.left_over, route_agent = NULL, updated_at = $1
  FROM gone WHERE j.id = gone.id
  RETURNING j.id, j.status, gone.route_agent, j.route_browser_at, j.route_open_at
), ev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT id, status, status, 'router', 'rerouted', jsonb_build_object('rerouted', jsonb_build_object(
    'step', 'agent', 'encoderId', route_agent, 'why', 'silent', 'browserFrom', route_browser_at,
    'openFrom', route_open_at)), $1 FROM upd
)
SELECT id FROM upd`;

/**
 * Ends the pins (`pinEncoder`, drizzle/0028) of waiting jobs whose window is over at $1 (now), or whose
 * encoder may no longer lease them (excluded: it failed them or its result failed verification). With
 * fallback the job is open to its planned steps (the claim already lets them claim from `pin_until`;
 * this records a `rerouted` event, step `pin`, why `expired` | `failed`); without, it is dead-lettered
 * with error `{code: 'pin_ended', message}`. Returns the job ids and whether each died.
 */
export const END_PINS = `
WITH gone AS (
  SELECT j.id, j.status, j.reserved_for, j.pin_fallback,
    CASE WHEN j.reserved_for = ANY(j.excluded_encoders) THEN 'failed' ELSE 'expired' END AS why
  FROM jobs j
  WHERE j.pin_until IS NOT NULL AND j.status IN ${sqlList(TRANSITIONS.claim.from)}
    AND (j.pin_until <= $1::timestamptz OR j.reserved_for = ANY(j.excluded_encoders))
  FOR UPDATE OF j SKIP LOCKED
), upd AS (
  UPDATE jobs j SET pin_until = NULL,
    reserved_for = CASE WHEN gone.pin_fallback THEN NULL ELSE j.reserved_for END,
    status = CASE WHEN gone.pin_fallback THEN j.status ELSE 'dead' END,
    finished_at = CASE WHEN gone.pin_fallback THEN j.finished_at ELSE $1 END,
    last_error = CASE WHEN gone.pin_fallback THEN j.last_error ELSE jsonb_build_object('code', 'pin_ended',
      'message', CASE gone.why WHEN 'failed' THEN 'the encoder this job was pinned to failed it, and the job allows no other encoder (pinEncoder.fallback: fail)'
        ELSE 'the encoder this job was pinned to did not take it within the pin window (VIDMESH_PIN_GRACE_S), and the job allows no other encoder (pinEncoder.fallback: fail)' END) END,
    updated_at = $1
  FROM gone WHERE j.id = gone.id
  RETURNING j.id, j.status, gone.status AS prev_status, gone.reserved_for, gone.why, j.route_browser_at,
    j.route_open_at
), rend AS (
  UPDATE renditions r SET status = 'failed', updated_at = $1
  FROM upd WHERE r.job_id = upd.id AND upd.status = 'dead'
    AND r.status NOT IN ${sqlList(SETTLED_RENDITION_STATUSES)}
), ev AS (
  INSERT INTO job_events (job_id, from_status, to_status, actor, reason, details, at)
  SELECT id, prev_status, status, 'router', CASE WHEN status = 'dead' THEN 'dead_letter' ELSE 'rerouted' END,
    CASE WHEN status = 'dead' THEN jsonb_build_object('pin', jsonb_build_object('encoderId', reserved_for,
      'why', why))
    ELSE jsonb_build_object('rerouted', jsonb_build_object('step', 'pin', 'encoderId', reserved_for,
      'why', why, 'browserFrom', route_browser_at, 'openFrom', route_open_at)) END, $1 FROM upd
)
SELECT id, status = 'dead' AS dead FROM upd`;

export const MARK_SILENT_OFFLINE = `
UPDATE encoders SET status = 'offline' WHERE status = 'online' AND last_seen_at < $1 RETURNING id`;

/**
 * Reserves an unfinished job $1 for encoder $2 (NULL: open to every encoder the usual rules allow;
 * '': held for nobody) at $3. The status does not change (no audit row: the market records who won
 * and why, src/market). Returns the id, or no row when the job is finished or unknown.
 */
export const RESERVE = `
UPDATE jobs SET reserved_for = $2, updated_at = $3
WHERE id = $1 AND status NOT IN ${sqlList(FINAL_STATUSES)}
RETURNING id`;

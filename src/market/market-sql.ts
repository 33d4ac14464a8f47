/**
 * The marketplace's SQL (src/market/market.ts): orders, bids, offers, Hive bindings and deposit ids.
 * Jobs are only read here (status, holder, exclusions); they change through the job store.
 */

const ORDER_COLUMNS = `o.job_id, o.payer, o.max_price, o.auto_accept, o.state, o.bid_id, o.encoder_id, o.price, o.fee,
  o.deadline, o.duration_s, o.heights, o.created_at, o.updated_at`;

/** $1 job, $2 payer, $3 max price, $4 auto accept, $5 duration s, $6 heights, $7 now */
export const INSERT_ORDER = `
INSERT INTO market_orders (job_id, payer, max_price, auto_accept, state, duration_s, heights, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'open', $5, $6::int[], $7, $7)
ON CONFLICT (job_id) DO NOTHING
RETURNING *`;

export const GET_ORDER = `SELECT ${ORDER_COLUMNS} FROM market_orders o WHERE o.job_id = $1`;
export const LOCK_ORDER = `SELECT ${ORDER_COLUMNS} FROM market_orders o WHERE o.job_id = $1 FOR UPDATE`;

/** Open orders whose job waits for a claim (what community encoders may bid on), oldest first, $1 rows. */
export const OPEN_ORDERS = `
SELECT ${ORDER_COLUMNS} FROM market_orders o JOIN jobs j ON j.id = o.job_id
WHERE o.state = 'open' AND j.status IN ('queued', 'failed')
ORDER BY o.created_at LIMIT $1`;

/** Orders not settled, with their job's state, for the settlement pass. */
export const UNSETTLED = `
SELECT ${ORDER_COLUMNS}, j.status AS job_status, j.encoder_id AS job_encoder, j.excluded_encoders,
  (SELECT count(*) FROM market_bids b WHERE b.job_id = o.job_id AND b.state = 'open')::int AS open_bids
FROM market_orders o JOIN jobs j ON j.id = o.job_id
WHERE o.state IN ('open', 'accepted')
ORDER BY o.created_at LIMIT $1`;

/** The unsettled order of job $1 with its job's state (as {@link UNSETTLED}), or no row. */
export const UNSETTLED_OF_JOB = `
SELECT ${ORDER_COLUMNS}, j.status AS job_status, j.encoder_id AS job_encoder, j.excluded_encoders,
  (SELECT count(*) FROM market_bids b WHERE b.job_id = o.job_id AND b.state = 'open')::int AS open_bids
FROM market_orders o JOIN jobs j ON j.id = o.job_id
WHERE o.job_id = $1 AND o.state IN ('open', 'accepted')`;

/** $1 job, $2 bid, $3 encoder, $4 price, $5 fee, $6 deadline, $7 now */
export const ACCEPT_ORDER = `
UPDATE market_orders SET state = 'accepted', bid_id = $2, encoder_id = $3, price = $4, fee = $5, deadline = $6,
  updated_at = $7
WHERE job_id = $1 AND state = 'open'`;

/** $1 job, $2 new state ('paid' | 'refunded' | 'open'), $3 now; 'open' forgets the accepted bid. */
export const SETTLE_ORDER = `
UPDATE market_orders SET state = $2, updated_at = $3,
  bid_id = CASE WHEN $2 = 'open' THEN NULL ELSE bid_id END,
  encoder_id = CASE WHEN $2 = 'open' THEN NULL ELSE encoder_id END,
  price = CASE WHEN $2 = 'open' THEN NULL ELSE price END,
  fee = CASE WHEN $2 = 'open' THEN NULL ELSE fee END,
  deadline = CASE WHEN $2 = 'open' THEN NULL ELSE deadline END
WHERE job_id = $1`;

/** $1 id, $2 job, $3 encoder, $4 price, $5 now */
export const INSERT_BID = `
INSERT INTO market_bids (id, job_id, encoder_id, price, state, created_at)
VALUES ($1, $2, $3, $4, 'open', $5)
ON CONFLICT (job_id, encoder_id) WHERE state = 'open'
DO UPDATE SET price = EXCLUDED.price, created_at = EXCLUDED.created_at
RETURNING *`;

export const GET_BID = `SELECT * FROM market_bids WHERE id = $1 AND job_id = $2`;
export const BIDS_OF_JOB = `SELECT * FROM market_bids WHERE job_id = $1 ORDER BY price, created_at`;

/** The accepted bid $2 of job $1 wins; every other open bid of the job loses. */
export const DECIDE_BIDS = `
UPDATE market_bids SET state = CASE WHEN id = $2 THEN 'accepted' ELSE 'lost' END
WHERE job_id = $1 AND (state = 'open' OR id = $2)`;

/** $1 bid, $2 state */
export const SET_BID_STATE = `UPDATE market_bids SET state = $2 WHERE id = $1`;

/** Every open bid of job $1 loses (the order closed). */
export const CLOSE_BIDS = `UPDATE market_bids SET state = 'lost' WHERE job_id = $1 AND state = 'open'`;

/** Orders encoder $1 holds now (accepted, not settled). */
export const ACTIVE_ORDERS_OF = `SELECT count(*)::int AS n FROM market_orders WHERE encoder_id = $1 AND state = 'accepted'`;

/** $1 encoder, $2 prices jsonb, $3 max concurrent, $4 now */
export const PUT_OFFER = `
INSERT INTO market_offers (encoder_id, prices, max_concurrent, updated_at) VALUES ($1, $2::jsonb, $3, $4)
ON CONFLICT (encoder_id) DO UPDATE SET prices = EXCLUDED.prices, max_concurrent = EXCLUDED.max_concurrent,
  updated_at = EXCLUDED.updated_at
RETURNING *`;

export const GET_OFFER = `SELECT * FROM market_offers WHERE encoder_id = $1`;

/** Offers of encoders that may take community jobs now: online, approved, bound to a Hive account. */
export const LIVE_OFFERS = `
SELECT f.encoder_id, f.prices, f.max_concurrent,
  (SELECT count(*) FROM market_orders o WHERE o.encoder_id = f.encoder_id AND o.state = 'accepted')::int AS active
FROM market_offers f
JOIN encoders e ON e.id = f.encoder_id
JOIN market_bindings b ON b.encoder_id = f.encoder_id
WHERE e.status = 'online' AND e.approval = 'approved'`;

/** $1 encoder, $2 did, $3 account, $4 statement, $5 signature, $6 now */
export const PUT_BINDING = `
INSERT INTO market_bindings (encoder_id, did, hive_account, statement, signature, bound_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (encoder_id) DO UPDATE SET did = EXCLUDED.did, hive_account = EXCLUDED.hive_account,
  statement = EXCLUDED.statement, signature = EXCLUDED.signature, bound_at = EXCLUDED.bound_at
RETURNING *`;

export const GET_BINDING = `SELECT * FROM market_bindings WHERE encoder_id = $1`;

export const INSERT_DEPOSIT = `INSERT INTO market_deposits (id, account_id, created_at) VALUES ($1, $2, $3) RETURNING *`;
export const GET_DEPOSIT = `SELECT * FROM market_deposits WHERE id = $1`;

/** Whether encoder $2 is excluded from job $1 (its result for it failed verification). */
export const IS_EXCLUDED = `SELECT ($2::text = ANY(excluded_encoders)) AS excluded FROM jobs WHERE id = $1`;

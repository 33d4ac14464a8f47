/** The Hive rail's SQL (src/market/rail.ts): payouts and the account-history cursor. */

/** $1 id, $2 ledger account, $3 Hive account, $4 amount, $5 memo, $6 now */
export const INSERT_PAYOUT = `
INSERT INTO market_payouts (id, account_id, hive_account, amount, memo, state, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)
ON CONFLICT (id) DO NOTHING`;

/** Payouts neither confirmed nor failed, oldest first, $1 rows. */
export const OPEN_PAYOUTS = `
SELECT * FROM market_payouts WHERE state IN ('pending', 'signed') ORDER BY created_at, id LIMIT $1`;

export const GET_PAYOUT = `SELECT * FROM market_payouts WHERE id = $1`;
export const PAYOUTS_OF_ACCOUNT = `SELECT * FROM market_payouts WHERE account_id = $1 ORDER BY created_at DESC LIMIT $2`;

/**
 * Records the signed transaction and its trx id before it is broadcast ($1 id, $2 trx id, $3 signed
 * trx, $4 expiry, $5 now): only from `pending`, so two processes never sign one payout twice.
 */
export const MARK_SIGNED = `
UPDATE market_payouts SET state = 'signed', trx_id = $2, signed_tx = $3::jsonb, expires_at = $4,
  attempts = attempts + 1, updated_at = $5
WHERE id = $1 AND state = 'pending'
RETURNING id`;

/** $1 id, $2 trx id, $3 now */
export const MARK_CONFIRMED = `
UPDATE market_payouts SET state = 'confirmed', last_error = NULL, updated_at = $3
WHERE id = $1 AND trx_id = $2`;

/** The signed transaction $2 expired unseen: sign afresh on the next pass ($1 id, $3 error, $4 now). */
export const MARK_EXPIRED = `
UPDATE market_payouts SET state = 'pending', trx_id = NULL, signed_tx = NULL, expires_at = NULL,
  last_error = $3, updated_at = $4
WHERE id = $1 AND trx_id = $2 AND state = 'signed'`;

/**
 * The signed transaction $2 expired unseen and the payout is given up ($3 error, $4 now): returns the
 * ledger account and amount to refund, or no row when another process settled it first.
 */
export const MARK_FAILED = `
UPDATE market_payouts SET state = 'failed', trx_id = NULL, signed_tx = NULL, expires_at = NULL,
  last_error = $3, updated_at = $4
WHERE id = $1 AND trx_id = $2 AND state = 'signed'
RETURNING account_id, amount`;

/** $1 id, $2 error, $3 now */
export const NOTE_ERROR = `UPDATE market_payouts SET last_error = $2, updated_at = $3 WHERE id = $1`;

export const GET_CURSOR = `SELECT position FROM market_cursors WHERE name = $1`;
/** $1 name, $2 position, $3 now: never moves back. */
export const PUT_CURSOR = `
INSERT INTO market_cursors (name, position, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET position = greatest(market_cursors.position, EXCLUDED.position),
  updated_at = EXCLUDED.updated_at`;

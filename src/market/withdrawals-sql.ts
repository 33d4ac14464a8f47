/** The SQL of withdrawals and of a payer's verified Hive account (src/market/withdrawals.ts). */

/** Locks the payer's ledger account row ($1 account id): one withdrawal of a payer at a time. */
export const LOCK_ACCOUNT = `SELECT balance FROM market_accounts WHERE id = $1 FOR UPDATE`;

const VIEW = `w.id, w.payer, w.idempotency_key, w.hive_account, w.amount, w.created_at,
  p.state, p.trx_id, p.last_error, p.updated_at`;

/** $1 payer, $2 idempotency key */
export const GET_BY_KEY = `
SELECT ${VIEW} FROM market_withdrawals w JOIN market_payouts p ON p.id = w.id
WHERE w.payer = $1 AND w.idempotency_key = $2`;

/** Milli-HBD the payer $1 withdrew since $2, failed (refunded) withdrawals not counted. */
export const WITHDRAWN_SINCE = `
SELECT coalesce(sum(w.amount), 0)::bigint AS total
FROM market_withdrawals w JOIN market_payouts p ON p.id = w.id
WHERE w.payer = $1 AND w.created_at > $2 AND p.state <> 'failed'`;

/** $1 id, $2 payer, $3 key, $4 Hive account, $5 amount, $6 now */
export const INSERT = `
INSERT INTO market_withdrawals (id, payer, idempotency_key, hive_account, amount, created_at)
VALUES ($1, $2, $3, $4, $5, $6)`;

/** A payer's withdrawals, newest first, $2 rows. */
export const LIST = `
SELECT ${VIEW} FROM market_withdrawals w JOIN market_payouts p ON p.id = w.id
WHERE w.payer = $1 ORDER BY w.created_at DESC, w.id DESC LIMIT $2`;

/** $1 payer, $2 Hive account, $3 statement, $4 signature, $5 now */
export const PUT_WALLET_ACCOUNT = `
INSERT INTO market_wallet_accounts (payer, hive_account, statement, signature, bound_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (payer) DO UPDATE SET hive_account = EXCLUDED.hive_account, statement = EXCLUDED.statement,
  signature = EXCLUDED.signature, bound_at = EXCLUDED.bound_at`;

export const GET_WALLET_ACCOUNT = `SELECT hive_account FROM market_wallet_accounts WHERE payer = $1`;

/**
 * The escrow ledger's SQL (src/market/ledger.ts). Values are always bound parameters. Every statement
 * here runs inside the transaction of one movement.
 */

/** Takes the movement's idempotency key: returns the new transaction's id, or no row when the key exists. */
export const INSERT_TRANSACTION = `
INSERT INTO market_transactions (idempotency_key, kind, job_id, memo, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id`;

/** The transaction of key $1 with its legs (for an idempotent repeat). */
export const GET_TRANSACTION = `
SELECT t.id, t.kind, t.job_id, t.memo, t.created_at,
  coalesce((SELECT json_agg(json_build_object('account', e.account_id, 'amount', e.amount) ORDER BY e.id)
    FROM market_entries e WHERE e.transaction_id = t.id), '[]'::json) AS legs
FROM market_transactions t WHERE t.idempotency_key = $1`;

/** Creates account $1 of kind $2 when missing. */
export const ENSURE_ACCOUNT = `
INSERT INTO market_accounts (id, kind) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`;

/**
 * Adds $2 to account $1 unless the balance would go below zero (the external account may): the row
 * lock of this UPDATE serialises concurrent movements of one account. No row: insufficient funds.
 */
export const APPLY_LEG = `
UPDATE market_accounts SET balance = balance + $2
WHERE id = $1 AND (kind = 'external' OR balance + $2 >= 0)
RETURNING balance`;

export const INSERT_ENTRY = `
INSERT INTO market_entries (transaction_id, account_id, amount, balance_after, created_at)
VALUES ($1, $2, $3, $4, $5)`;

export const GET_ACCOUNT = `SELECT id, kind, balance FROM market_accounts WHERE id = $1`;

/** An account's entries, newest first, before entry id $2 (NULL: from the newest), $3 rows. */
export const STATEMENT = `
SELECT e.id, e.amount, e.balance_after, e.created_at, t.kind, t.job_id, t.memo, t.idempotency_key
FROM market_entries e JOIN market_transactions t ON t.id = e.transaction_id
WHERE e.account_id = $1 AND ($2::bigint IS NULL OR e.id < $2::bigint)
ORDER BY e.id DESC LIMIT $3`;

/** Sum of all balances and of all entries (both must be zero) and the number of negative balances. */
export const TRIAL_BALANCE = `
SELECT (SELECT coalesce(sum(balance), 0) FROM market_accounts)::bigint AS balances,
  (SELECT coalesce(sum(amount), 0) FROM market_entries)::bigint AS entries,
  (SELECT count(*) FROM market_accounts WHERE kind <> 'external' AND balance < 0)::int AS negative,
  (SELECT count(*) FROM market_accounts a WHERE a.balance <>
    (SELECT coalesce(sum(amount), 0) FROM market_entries e WHERE e.account_id = a.id))::int AS drifted`;

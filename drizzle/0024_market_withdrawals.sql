-- Marketplace follow-ups (docs/marketplace.md): withdrawals of a user's balance to its own Hive account,
-- a user's verified Hive account (Keychain-signed statement), payouts that fail and are refunded, and
-- server-side session revocation (sign-out of one session, sign-out everywhere for a principal).
ALTER TABLE market_payouts DROP CONSTRAINT IF EXISTS market_payouts_state_check;
--> statement-breakpoint
ALTER TABLE market_payouts ADD CONSTRAINT market_payouts_state_check
  CHECK (state IN ('pending', 'signed', 'confirmed', 'failed'));
--> statement-breakpoint
DROP INDEX IF EXISTS market_payouts_open_idx;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS market_payouts_open_idx ON market_payouts (created_at) WHERE state IN ('pending', 'signed');
--> statement-breakpoint
-- One withdrawal per (payer, Idempotency-Key); its id is also its payout's id.
CREATE TABLE IF NOT EXISTS market_withdrawals (
  id text PRIMARY KEY,
  payer text NOT NULL,
  idempotency_key text NOT NULL,
  hive_account text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (payer, idempotency_key)
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS market_withdrawals_payer_idx ON market_withdrawals (payer, created_at);
--> statement-breakpoint
-- The Hive account a payer (tenant) proved it owns with a Keychain-signed statement: withdrawals go there.
CREATE TABLE IF NOT EXISTS market_wallet_accounts (
  payer text PRIMARY KEY,
  hive_account text NOT NULL,
  statement text NOT NULL,
  signature text NOT NULL,
  bound_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
-- Dashboard sessions ended before their expiry: one session (sid) until it would have expired, or every
-- session of a principal issued before `not_before`.
CREATE TABLE IF NOT EXISTS session_revocations (
  sid text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS session_epochs (
  principal_id text PRIMARY KEY,
  not_before timestamptz NOT NULL
);

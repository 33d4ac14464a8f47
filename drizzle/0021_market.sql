-- Community marketplace (issue #15, docs/marketplace.md): a double-entry escrow ledger in milli-HBD,
-- offers and bids of community encoders, one order per priced job, the Hive rail's deposits, payouts and
-- history cursor, and the claim gate that keeps a priced job for the encoder whose bid was accepted.
--
-- jobs.reserved_for: NULL = any encoder the usual rules allow; '' = held (a market order with no accepted
-- bid yet: nobody may claim it); an encoder id = only that encoder may claim it.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS reserved_for text;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_accounts (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('user', 'encoder', 'escrow', 'platform', 'external')),
  balance bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Only the external (Hive hot wallet) account mirrors money outside the ledger and goes below zero.
  CONSTRAINT market_accounts_balance_check CHECK (kind = 'external' OR balance >= 0)
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_transactions (
  id bigserial PRIMARY KEY,
  idempotency_key text NOT NULL UNIQUE,
  kind text NOT NULL,
  job_id text,
  memo text,
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_entries (
  id bigserial PRIMARY KEY,
  transaction_id bigint NOT NULL REFERENCES market_transactions(id),
  account_id text NOT NULL REFERENCES market_accounts(id),
  amount bigint NOT NULL CHECK (amount <> 0),
  balance_after bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS market_entries_account_idx ON market_entries (account_id, id);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_offers (
  encoder_id text PRIMARY KEY REFERENCES encoders(id) ON DELETE CASCADE,
  -- milli-HBD per output minute per rendition tier: {"sd": 120, "hd": 250, ...}
  prices jsonb NOT NULL,
  max_concurrent integer NOT NULL CHECK (max_concurrent > 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_bindings (
  encoder_id text PRIMARY KEY REFERENCES encoders(id) ON DELETE CASCADE,
  did text NOT NULL,
  hive_account text NOT NULL,
  statement text NOT NULL,
  signature text NOT NULL,
  bound_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_orders (
  job_id text PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  payer text NOT NULL,
  max_price bigint NOT NULL CHECK (max_price > 0),
  auto_accept boolean NOT NULL,
  state text NOT NULL CHECK (state IN ('open', 'accepted', 'paid', 'refunded')),
  bid_id text,
  encoder_id text,
  price bigint,
  fee bigint,
  deadline timestamptz,
  -- The quote basis (the source's duration in seconds, the planned renditions' heights), when known.
  duration_s double precision,
  heights integer[],
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS market_orders_open_idx ON market_orders (state) WHERE state IN ('open', 'accepted');
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_bids (
  id text PRIMARY KEY,
  job_id text NOT NULL REFERENCES market_orders(job_id) ON DELETE CASCADE,
  encoder_id text NOT NULL,
  price bigint NOT NULL CHECK (price > 0),
  state text NOT NULL CHECK (state IN ('open', 'accepted', 'lost', 'paid', 'refunded')),
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS market_bids_one_open_idx ON market_bids (job_id, encoder_id) WHERE state = 'open';
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_deposits (
  id text PRIMARY KEY,
  account_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_payouts (
  id text PRIMARY KEY,
  account_id text NOT NULL,
  hive_account text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  memo text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'signed', 'confirmed')),
  trx_id text,
  signed_tx jsonb,
  expires_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS market_payouts_open_idx ON market_payouts (created_at) WHERE state <> 'confirmed';
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS market_cursors (
  name text PRIMARY KEY,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Hybrid routing (issue #16): a user's job is offered to their own desktop agent, then their browser
-- encoder, then the open fleet. The plan is fixed at submit as two times on the job: U's browser
-- encoder may claim from `route_browser_at`, everyone else from `route_open_at` (NULL: at once);
-- U's own agent may claim at any time. The steps are written to job_events (reason 'routed').
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS route_browser_at timestamptz;
--> statement-breakpoint
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS route_open_at timestamptz;
--> statement-breakpoint
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS allow_browser boolean NOT NULL DEFAULT true;
--> statement-breakpoint
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS allow_community boolean NOT NULL DEFAULT true;
--> statement-breakpoint
-- The user a desktop agent or browser encoder works for (from its pairing): it claims only their jobs.
ALTER TABLE encoders ADD COLUMN IF NOT EXISTS user_tenant text;
--> statement-breakpoint
ALTER TABLE encoders ADD COLUMN IF NOT EXISTS user_name text;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS encoders_user_idx ON encoders (user_tenant, user_name) WHERE user_name IS NOT NULL;
--> statement-breakpoint
-- A did:key identity paired to a user by that user's platform (a tenant key): the only way an encoder
-- becomes someone's own.
CREATE TABLE IF NOT EXISTS agent_bindings (
  did text PRIMARY KEY,
  tenant text NOT NULL,
  user_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS user_settings (
  tenant text NOT NULL,
  user_name text NOT NULL,
  prefer_own_agent boolean NOT NULL DEFAULT true,
  allow_browser boolean NOT NULL DEFAULT true,
  allow_community boolean NOT NULL DEFAULT true,
  max_price numeric,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, user_name)
);
--> statement-breakpoint
-- Routing events keep the job's status (queued -> queued): no webhook for them.
DROP TRIGGER IF EXISTS job_events_webhooks ON job_events;
--> statement-breakpoint
CREATE TRIGGER job_events_webhooks AFTER INSERT ON job_events
  FOR EACH ROW WHEN (NEW.from_status IS DISTINCT FROM NEW.to_status) EXECUTE FUNCTION vidmesh_webhook_on_event();

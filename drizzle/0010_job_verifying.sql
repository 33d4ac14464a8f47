-- A job whose result comes from an untrusted encoder is `verifying` between `running` and `completed`
-- (docs/verification.md): widen the status check; its lease stays live, so the rescue index covers it.
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_status_check;
--> statement-breakpoint
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
  CHECK (status IN ('queued', 'leased', 'running', 'verifying', 'completed', 'failed', 'dead', 'cancelled'));
--> statement-breakpoint
DROP INDEX IF EXISTS jobs_lease_expiry_idx;
--> statement-breakpoint
CREATE INDEX jobs_lease_expiry_idx ON jobs USING btree (lease_expires_at) WHERE status IN ('leased', 'running', 'verifying');

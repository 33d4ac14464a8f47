-- Verification of untrusted results (docs/verification.md): encoders can be suspended after failed
-- verifications; each encoder's record of verified results; a job remembers encoders whose result it
-- rejected (they never lease it again) and may require a minimum reputation score.
ALTER TABLE encoders DROP CONSTRAINT IF EXISTS encoders_approval_check;
--> statement-breakpoint
ALTER TABLE encoders ADD CONSTRAINT encoders_approval_check CHECK (approval IN ('approved', 'pending', 'banned', 'suspended'));
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS encoder_reputation (
  encoder_id text PRIMARY KEY REFERENCES encoders(id) ON DELETE CASCADE,
  verified_passes integer NOT NULL DEFAULT 0,
  verified_failures integer NOT NULL DEFAULT 0,
  consecutive_failures integer NOT NULL DEFAULT 0,
  last_failure text,
  last_failure_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS excluded_encoders text[] NOT NULL DEFAULT '{}';

-- "Encode here" pins (pinEncoder, issue #16 round 3): a job held for one encoder is held only until
-- `pin_until`; then (or at once when that encoder fails it or its result fails verification) the pin
-- ends and the job follows its owner's routing (`pin_fallback`, the default), or is dead-lettered with
-- `pin_ended` when the submitter allowed no other encoder (`pin_fallback` false). NULL: not a pin
-- (a market reservation, or nothing reserved).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS pin_until timestamptz;
--> statement-breakpoint
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS pin_fallback boolean NOT NULL DEFAULT true;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS jobs_pin_until_idx ON jobs (pin_until) WHERE pin_until IS NOT NULL;

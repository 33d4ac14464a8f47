-- What an encoder reports while it works (docs/encoder.md): the frames per second of a running job
-- next to its speed, and the host name and load (CPU, memory, GPU) of each encoder from its heartbeats.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS fps real;
--> statement-breakpoint
ALTER TABLE encoders ADD COLUMN IF NOT EXISTS host text;
--> statement-breakpoint
ALTER TABLE encoders ADD COLUMN IF NOT EXISTS load jsonb;

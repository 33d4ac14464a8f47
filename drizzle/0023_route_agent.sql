-- Hybrid routing follow-ups: the desktop agent a job's agent step was offered to. When that agent falls
-- silent (its heartbeats stop) while its window runs, maintenance ends the window early and moves the
-- browser and open steps earlier by what was left of it (src/jobs/sql.ts END_SILENT_AGENT_STEPS).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS route_agent text;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS jobs_route_agent_idx ON jobs (route_agent) WHERE route_agent IS NOT NULL;

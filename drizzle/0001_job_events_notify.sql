-- Every job event row announces itself on the vidmesh_job_events channel, in the same transaction, so
-- long-polling claimers wake within milliseconds of a submit and coordinators see changes made by
-- other processes (PostgreSQL LISTEN/NOTIFY; PGlite delivers the same notifications in-process).
-- The payload stays far below NOTIFY's 8000-byte limit: ids and statuses only.
CREATE OR REPLACE FUNCTION vidmesh_notify_job_event() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('vidmesh_job_events', json_build_object(
    'eventId', NEW.id, 'jobId', NEW.job_id, 'from', NEW.from_status, 'to', NEW.to_status,
    'actor', NEW.actor, 'at', NEW.at)::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER job_events_notify AFTER INSERT ON job_events
  FOR EACH ROW EXECUTE FUNCTION vidmesh_notify_job_event();

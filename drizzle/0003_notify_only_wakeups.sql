-- NOTIFY serialises every notifying commit in a database (it holds a database-wide lock through the
-- commit's WAL flush), which capped claim+complete at ~100 cycles/s with 16 claimers. Only transitions
-- that make a job claimable (to 'queued') notify now, to wake long-polling claimers; coordinators
-- follow every other transition by tailing job_events (src/jobs/changes.ts).
CREATE OR REPLACE FUNCTION vidmesh_notify_job_event() RETURNS trigger AS $$
BEGIN
  IF NEW.to_status = 'queued' THEN
    PERFORM pg_notify('vidmesh_job_events', json_build_object(
      'eventId', NEW.id, 'jobId', NEW.job_id, 'from', NEW.from_status, 'to', NEW.to_status,
      'actor', NEW.actor, 'at', NEW.at)::text);
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Webhook deliveries are enqueued by triggers, inside the transaction of the state change that causes
-- them: a committed transition always has its deliveries, a rolled-back one never does, and no process
-- has to tail events to find them (which could skip ids committed out of order). Payloads are
-- snapshots of the job at the transition; the sender (src/coordinator/webhooks) only signs and sends.
-- AFTER ROW triggers fire at the end of the statement, so they see every CTE of the job store's
-- single-statement transitions (the job row, its renditions and its result).

-- The common payload fields of a job at a transition.
CREATE OR REPLACE FUNCTION vidmesh_webhook_payload(j jobs, ev text, status text, from_status text,
  reason text, at timestamptz) RETURNS jsonb AS $$
  SELECT jsonb_build_object(
    'event', ev,
    'jobId', j.id,
    'shortId', j.short_id,
    'tenant', j.tenant,
    'metadata', coalesce(j.spec -> 'metadata', j.metadata, '{}'::jsonb),
    'status', status,
    'previousStatus', from_status,
    'reason', reason,
    'stage', j.stage,
    'progress', j.progress,
    'attempt', j.attempts,
    'maxAttempts', j.max_attempts,
    'encoderId', j.encoder_id,
    'destinationType', coalesce(j.spec -> 'destination' ->> 'type', 'local'),
    'at', at,
    'timings', jsonb_build_object(
      'createdAt', j.created_at,
      'claimedAt', j.claimed_at,
      'finishedAt', j.finished_at,
      'waitS', extract(epoch FROM (j.claimed_at - j.created_at)),
      'runS', extract(epoch FROM (j.finished_at - j.claimed_at))));
$$ LANGUAGE sql STABLE;
--> statement-breakpoint
-- One delivery per endpoint that wants `ev`: the job's own webhook (spec.webhook, events absent: all)
-- and each subscription of the job's tenant (events empty: all). `alias` is an older name also matched
-- (job.dead for a dead job's job.failed).
CREATE OR REPLACE FUNCTION vidmesh_webhook_insert(j jobs, ev text, alias text, payload jsonb,
  ev_id bigint) RETURNS void AS $$
DECLARE
  wanted jsonb := j.spec -> 'webhook' -> 'events';
BEGIN
  IF jsonb_typeof(j.spec -> 'webhook' -> 'url') = 'string' AND (jsonb_typeof(wanted) IS DISTINCT FROM 'array'
      OR wanted ? ev OR (alias IS NOT NULL AND wanted ? alias)) THEN
    INSERT INTO webhook_deliveries (job_id, tenant, url, event, payload, subscription_id, event_id)
    VALUES (j.id, j.tenant, j.spec -> 'webhook' ->> 'url', ev, payload, 'job', ev_id);
  END IF;
  INSERT INTO webhook_deliveries (job_id, tenant, url, event, payload, subscription_id, event_id)
  SELECT j.id, j.tenant, s.url, ev, payload, s.id, ev_id
  FROM webhook_subscriptions s
  WHERE s.tenant = j.tenant AND (cardinality(s.events) = 0 OR ev = ANY(s.events) OR alias = ANY(s.events))
  ORDER BY s.created_at, s.id;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION vidmesh_webhook_on_event() RETURNS trigger AS $$
DECLARE
  j jobs;
  ev text;
  base jsonb;
  r jsonb;
BEGIN
  SELECT * INTO j FROM jobs WHERE id = NEW.job_id;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- The common case (no webhook anywhere) costs one indexed probe.
  IF NOT (j.spec ? 'webhook') AND NOT EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.tenant = j.tenant) THEN
    RETURN NULL;
  END IF;
  ev := CASE NEW.to_status WHEN 'queued' THEN 'job.queued' WHEN 'leased' THEN 'job.started'
    WHEN 'completed' THEN 'job.completed' WHEN 'failed' THEN 'job.failed' WHEN 'dead' THEN 'job.failed'
    WHEN 'cancelled' THEN 'job.cancelled' ELSE NULL END;
  IF ev IS NULL THEN RETURN NULL; END IF;
  base := vidmesh_webhook_payload(j, ev, NEW.to_status, NEW.from_status, NEW.reason, NEW.at);
  IF NEW.to_status IN ('failed', 'dead') THEN
    base := base || jsonb_build_object('error', j.last_error, 'retryable', NEW.to_status = 'failed',
      'dead', NEW.to_status = 'dead',
      'runAfter', CASE WHEN NEW.to_status = 'failed' THEN j.run_after END);
  END IF;
  IF NEW.to_status = 'completed' THEN
    -- Renditions first, in the order the encoder reported them, then the job.
    FOR r IN SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j.result -> 'renditions') = 'array'
        THEN j.result -> 'renditions' ELSE '[]'::jsonb END) AS x LOOP
      PERFORM vidmesh_webhook_insert(j, 'rendition.completed', NULL,
        base || jsonb_build_object('event', 'rendition.completed', 'rendition', r), NEW.id);
    END LOOP;
    base := base || jsonb_build_object('result', j.result);
  END IF;
  PERFORM vidmesh_webhook_insert(j, ev, CASE WHEN NEW.to_status = 'dead' THEN 'job.dead' END, base, NEW.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER job_events_webhooks AFTER INSERT ON job_events
  FOR EACH ROW EXECUTE FUNCTION vidmesh_webhook_on_event();
--> statement-breakpoint
-- job.progress, throttled per job: sent when 5 points or more from the last one sent, or 10 s or more
-- after it (store clock, `updated_at`), and always first after each (re)start.
CREATE OR REPLACE FUNCTION vidmesh_webhook_on_progress() RETURNS trigger AS $$
DECLARE
  last jsonb;
BEGIN
  IF NOT (NEW.spec ? 'webhook') AND NOT EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.tenant = NEW.tenant) THEN
    RETURN NULL;
  END IF;
  SELECT payload INTO last FROM webhook_deliveries
  WHERE job_id = NEW.id AND event = 'job.progress' ORDER BY id DESC LIMIT 1;
  IF last IS NOT NULL AND (last ->> 'attempt')::int = NEW.attempts
      AND abs(NEW.progress - (last ->> 'progress')::real) < 5
      AND NEW.updated_at < (last ->> 'at')::timestamptz + interval '10 seconds' THEN
    RETURN NULL;
  END IF;
  PERFORM vidmesh_webhook_insert(NEW, 'job.progress', NULL,
    vidmesh_webhook_payload(NEW, 'job.progress', NEW.status, NEW.status, NULL, NEW.updated_at)
      || jsonb_build_object('etaS', NEW.eta_s), NULL);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER jobs_webhook_progress AFTER UPDATE OF progress ON jobs
  FOR EACH ROW WHEN (NEW.status = 'running' AND NEW.progress IS DISTINCT FROM OLD.progress)
  EXECUTE FUNCTION vidmesh_webhook_on_progress();

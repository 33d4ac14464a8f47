-- A rendition can be `skipped`: the encoder's plan for this source leaves it out (never upscaled), so it
-- will never be produced; shown as such instead of `pending 0 %` (src/jobs/vocabulary.ts).
ALTER TABLE renditions DROP CONSTRAINT IF EXISTS renditions_status_check;
--> statement-breakpoint
ALTER TABLE renditions ADD CONSTRAINT renditions_status_check
  CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped'));
--> statement-breakpoint
-- Webhook payloads carry the `local` destination's prefix: the sender builds media URLs from it
-- (src/protocol/media-url.ts); without it a prefixed ladder was reported one folder too high. They also
-- carry each rendition's status, so receivers see `skipped` renditions as soon as the plan is known.
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
    'destinationPrefix', j.spec -> 'destination' ->> 'prefix',
    'renditionStates', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', r.name, 'status', r.status,
      'progress', r.progress) ORDER BY r.position), '[]'::jsonb) FROM renditions r WHERE r.job_id = j.id),
    'at', at,
    'timings', jsonb_build_object(
      'createdAt', j.created_at,
      'claimedAt', j.claimed_at,
      'finishedAt', j.finished_at,
      'waitS', extract(epoch FROM (j.claimed_at - j.created_at)),
      'runS', extract(epoch FROM (j.finished_at - j.claimed_at))));
$$ LANGUAGE sql STABLE;
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
    -- Only those encoded by this run (`result.encode.renditions`; absent: all): a per-rendition retry
    -- lists the kept renditions in its result too, and they were announced when they were made.
    FOR r IN SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j.result -> 'renditions') = 'array'
        THEN j.result -> 'renditions' ELSE '[]'::jsonb END) AS x
      WHERE jsonb_typeof(j.result -> 'encode' -> 'renditions') IS DISTINCT FROM 'array'
        OR (j.result -> 'encode' -> 'renditions') ? (x ->> 'name') LOOP
      PERFORM vidmesh_webhook_insert(j, 'rendition.completed', NULL,
        base || jsonb_build_object('event', 'rendition.completed', 'rendition', r), NEW.id);
    END LOOP;
    base := base || jsonb_build_object('result', j.result);
  END IF;
  PERFORM vidmesh_webhook_insert(j, ev, CASE WHEN NEW.to_status = 'dead' THEN 'job.dead' END, base, NEW.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

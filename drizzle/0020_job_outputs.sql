-- Jobs with outputs (docs/outputs.md): each output is a row of `renditions` (status, progress, result,
-- error), so per-output progress, per-output retry and the lease rescue work as for ladder renditions.
-- At completion, before `job.completed`, one `output.completed` or `output.failed` webhook per output
-- this attempt ran (`result.outputs`, each carrying its own status), in the order the spec lists them.
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
    FOR r IN SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j.result -> 'outputs') = 'array'
        THEN j.result -> 'outputs' ELSE '[]'::jsonb END) AS x LOOP
      PERFORM vidmesh_webhook_insert(j,
        CASE WHEN r ->> 'status' = 'completed' THEN 'output.completed' ELSE 'output.failed' END, NULL,
        base || jsonb_build_object('event',
          CASE WHEN r ->> 'status' = 'completed' THEN 'output.completed' ELSE 'output.failed' END,
          'output', r), NEW.id);
    END LOOP;
    base := base || jsonb_build_object('result', j.result);
  END IF;
  PERFORM vidmesh_webhook_insert(j, ev, CASE WHEN NEW.to_status = 'dead' THEN 'job.dead' END, base, NEW.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

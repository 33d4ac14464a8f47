-- W3C traceparent of the span that submitted the job (src/tracing.ts): claims hand it to the encoder so
-- the encoder's pipeline spans join the job's trace (one job = one trace). NULL when tracing is off.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS traceparent text;

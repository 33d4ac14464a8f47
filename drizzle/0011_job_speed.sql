-- The encode speed (× real time) an encoder reports with its progress: shown while a job runs (API,
-- CLI, dashboard); cleared with the ETA on every transition.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS speed real;

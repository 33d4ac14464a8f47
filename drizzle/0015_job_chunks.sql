-- Chunked encoding (docs/chunking.md): a long job is split into chunk tasks, jobs of their own whose
-- parent is the job they are part of. `chunk_index` orders a parent's chunks (-1: the audio task), and
-- is unique per parent so a repeated split creates no second set.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS parent_id text REFERENCES jobs(id) ON DELETE CASCADE;
--> statement-breakpoint
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chunk_index integer;
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS jobs_parent_chunk_idx ON jobs (parent_id, chunk_index) WHERE parent_id IS NOT NULL;

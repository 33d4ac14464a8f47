-- Live files after the end (docs/live.md): when the maintenance leader deleted an ended stream's live
-- playlists and segments (`<dataDir>/live/<jobId>/`) after VIDMESH_LIVE_FILES_GRACE_MS; null while
-- they are there. The partial index finds the streams still to clean without reading the others.
ALTER TABLE live_streams ADD COLUMN IF NOT EXISTS files_removed_at timestamptz;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS live_streams_cleanup_idx ON live_streams (ended_at)
  WHERE ended_at IS NOT NULL AND files_removed_at IS NULL;

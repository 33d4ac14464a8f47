-- Live streams (issue 23, docs/live.md): one row per live job with the SHA-256 of its stream key (the
-- key itself is shown once and never stored), and the media playlists' segments, numbered by the
-- coordinator so an encoder taking over after a failover continues the same media sequence.
CREATE TABLE IF NOT EXISTS live_streams (
  job_id text PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  tenant text NOT NULL DEFAULT 'default',
  key_sha256 text NOT NULL,
  playlist text NOT NULL DEFAULT 'event',
  window_segments integer NOT NULL DEFAULT 6,
  record boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  CONSTRAINT live_streams_playlist_check CHECK (playlist IN ('event', 'sliding'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS live_streams_key_idx ON live_streams (key_sha256);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS live_segments (
  job_id text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  rendition text NOT NULL,
  seq integer NOT NULL,
  duration_s double precision NOT NULL,
  start_s double precision NOT NULL,
  program_date_time timestamptz,
  discontinuity boolean NOT NULL DEFAULT false,
  attempt integer NOT NULL,
  lease_sha256 text NOT NULL,
  bytes integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, rendition, seq)
);

import type { Queryable } from '../jobs/db.js';
import type { PlaylistSegment } from './playlist.js';

/**
 * SQL of the live tables (drizzle/0014_live.sql): stream keys (SHA-256 only) and playlist segments.
 * Every function is one statement on `db`.
 */

export interface LiveStreamRow {
  jobId: string;
  tenant: string;
  playlist: 'event' | 'sliding';
  windowSegments: number;
  record: boolean;
  createdAt: Date;
  endedAt: Date | null;
}

interface RawStream {
  job_id: string;
  tenant: string;
  playlist: 'event' | 'sliding';
  window_segments: number;
  record: boolean;
  created_at: Date | string;
  ended_at: Date | string | null;
}

const toStream = (r: RawStream): LiveStreamRow => ({
  jobId: r.job_id,
  tenant: r.tenant,
  playlist: r.playlist,
  windowSegments: r.window_segments,
  record: r.record,
  createdAt: new Date(r.created_at),
  endedAt: r.ended_at === null ? null : new Date(r.ended_at),
});

const STREAM_COLUMNS = 'job_id, tenant, playlist, window_segments, record, created_at, ended_at';

export async function insertLiveStream(
  db: Queryable,
  s: {
    jobId: string;
    tenant: string;
    keySha256: string;
    playlist: string;
    windowSegments: number;
    record: boolean;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO live_streams (job_id, tenant, key_sha256, playlist, window_segments, record)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [s.jobId, s.tenant, s.keySha256, s.playlist, s.windowSegments, s.record],
  );
}

/** The stream a key hash opens, when it exists and has not ended. */
export async function liveStreamByKey(db: Queryable, keySha256: string): Promise<LiveStreamRow | null> {
  const r = await db.query<RawStream>(
    `SELECT ${STREAM_COLUMNS} FROM live_streams WHERE key_sha256 = $1 AND ended_at IS NULL`,
    [keySha256],
  );
  return r.rows[0] ? toStream(r.rows[0]) : null;
}

export async function liveStream(db: Queryable, jobId: string): Promise<LiveStreamRow | null> {
  const r = await db.query<RawStream>(`SELECT ${STREAM_COLUMNS} FROM live_streams WHERE job_id = $1`, [
    jobId,
  ]);
  return r.rows[0] ? toStream(r.rows[0]) : null;
}

/** Live streams newest first, of one tenant or all (`tenant` undefined). */
export async function listLiveStreams(
  db: Queryable,
  tenant: string | undefined,
  limit: number,
): Promise<LiveStreamRow[]> {
  const r = await db.query<RawStream>(
    `SELECT ${STREAM_COLUMNS} FROM live_streams WHERE ($1::text IS NULL OR tenant = $1)
     ORDER BY created_at DESC LIMIT $2`,
    [tenant ?? null, limit],
  );
  return r.rows.map(toStream);
}

/** Marks a stream ended (idempotent); true when this call ended it. */
export async function endLiveStream(db: Queryable, jobId: string): Promise<boolean> {
  const r = await db.query(
    'UPDATE live_streams SET ended_at = now() WHERE job_id = $1 AND ended_at IS NULL',
    [jobId],
  );
  return (r.rowCount ?? 0) > 0;
}

/**
 * Appends a segment to a rendition's media playlist: the next sequence number, and a discontinuity
 * when the previous segment came with another lease (another encoder, a new attempt, or a job
 * released and claimed again, which keeps the attempt count).
 */
export async function appendLiveSegment(
  db: Queryable,
  s: {
    jobId: string;
    rendition: string;
    durationS: number;
    startS: number;
    programDateTime: Date | null;
    attempt: number;
    leaseSha256: string;
    bytes: number;
  },
): Promise<{ seq: number; discontinuity: boolean }> {
  const r = await db.query<{ seq: number; discontinuity: boolean }>(
    `WITH last AS (
       SELECT seq, lease_sha256 FROM live_segments WHERE job_id = $1 AND rendition = $2 ORDER BY seq DESC LIMIT 1)
     INSERT INTO live_segments
       (job_id, rendition, seq, duration_s, start_s, program_date_time, discontinuity, attempt, lease_sha256, bytes)
     SELECT $1, $2, coalesce((SELECT seq FROM last) + 1, 0), $3, $4, $5,
            coalesce((SELECT lease_sha256 FROM last) <> $7, false), $6, $7, $8
     RETURNING seq, discontinuity`,
    [s.jobId, s.rendition, s.durationS, s.startS, s.programDateTime, s.attempt, s.leaseSha256, s.bytes],
  );
  return r.rows[0]!;
}

/**
 * The segments a media playlist lists: all of them, or the last `window` (sliding), with the number of
 * discontinuities before the first one listed.
 */
export async function playlistSegments(
  db: Queryable,
  jobId: string,
  rendition: string,
  window: number | undefined,
): Promise<{ segments: PlaylistSegment[]; discontinuitySequence: number }> {
  const r = await db.query<{
    seq: number;
    duration_s: number;
    program_date_time: Date | string | null;
    discontinuity: boolean;
    before: string | number;
  }>(
    `WITH listed AS (
       SELECT seq, duration_s, program_date_time, discontinuity FROM live_segments
       WHERE job_id = $1 AND rendition = $2 ORDER BY seq DESC LIMIT $3)
     SELECT l.*, (SELECT count(*) FROM live_segments d WHERE d.job_id = $1 AND d.rendition = $2
                    AND d.discontinuity AND d.seq <= (SELECT min(seq) FROM listed)) AS before
     FROM listed l ORDER BY seq`,
    [jobId, rendition, window ?? 2_147_483_647],
  );
  const segments = r.rows.map((x) => ({
    seq: x.seq,
    durationS: x.duration_s,
    programDateTime: x.program_date_time === null ? null : new Date(x.program_date_time),
    discontinuity: x.discontinuity,
  }));
  // A discontinuity on the first listed segment is not tagged (nothing before it), but counts.
  const before = Number(r.rows[0]?.before ?? 0);
  return { segments, discontinuitySequence: before };
}

/**
 * Ended streams (`ended_at` before `endedBefore`) whose live files are still there and may go: the job
 * is final (completed, dead, cancelled) and the stream was not recorded, or its job completed (the
 * recording was published before the job could complete). Oldest end first, at most `limit`.
 */
export async function liveStreamsToClean(db: Queryable, endedBefore: Date, limit: number): Promise<string[]> {
  const r = await db.query<{ job_id: string }>(
    `SELECT s.job_id FROM live_streams s JOIN jobs j ON j.id = s.job_id
     WHERE s.ended_at IS NOT NULL AND s.files_removed_at IS NULL AND s.ended_at < $1
       AND j.status IN ('completed', 'dead', 'cancelled') AND (NOT s.record OR j.status = 'completed')
     ORDER BY s.ended_at LIMIT $2`,
    [endedBefore, limit],
  );
  return r.rows.map((x) => x.job_id);
}

/** Records that a stream's live files were deleted (it is not listed by {@link liveStreamsToClean} again). */
export async function markLiveFilesRemoved(db: Queryable, jobId: string): Promise<void> {
  await db.query('UPDATE live_streams SET files_removed_at = now() WHERE job_id = $1', [jobId]);
}

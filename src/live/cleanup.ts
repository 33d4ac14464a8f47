import type { Queryable } from '../jobs/db.js';
import type { Logger } from '../log.js';
import { removeLocalOutputs } from '../storage/index.js';
import { liveStreamsToClean, markLiveFilesRemoved } from './store.js';

/**
 * Live files after the end (docs/live.md, "Files after the end"): the playlists and segments of an
 * ended stream under `<dataDir>/live/<jobId>/` are deleted `graceMs` after the stream ended, once its
 * job is final, when nothing needs them any more: the stream was not recorded, or its recording was
 * published (the job completed; a local recording's segments are hard links or copies in the media
 * store, so they stay). A recorded stream whose job died or was cancelled before publishing keeps
 * its files. Run by the maintenance leader on each tick.
 */
export interface LiveCleanupOptions {
  db: Queryable;
  /** `<dataDir>/live`. */
  root: string;
  /** ms after the stream's end (VIDMESH_LIVE_FILES_GRACE_MS). */
  graceMs: number;
  now?: Date;
  /** Most streams per call (default 100). */
  batch?: number;
  log?: Logger;
}

/**
 * Deletes the live files of the streams {@link liveStreamsToClean} lists and marks each (a folder
 * already gone counts as deleted). Returns their job ids and the bytes freed.
 * @throws the database's errors; a folder that cannot be removed fails the call before it is marked.
 */
export async function removeEndedLiveFiles(
  o: LiveCleanupOptions,
): Promise<{ jobs: string[]; bytes: number }> {
  const before = new Date((o.now ?? new Date()).getTime() - o.graceMs);
  const jobs = await liveStreamsToClean(o.db, before, o.batch ?? 100);
  let bytes = 0;
  for (const jobId of jobs) {
    bytes += await removeLocalOutputs(o.root, jobId);
    await markLiveFilesRemoved(o.db, jobId);
  }
  if (jobs.length > 0) o.log?.info({ jobs: jobs.length, bytes }, 'live: files of ended streams deleted');
  return { jobs, bytes };
}

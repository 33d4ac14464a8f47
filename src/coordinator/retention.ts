import type { JobStore } from '../jobs/index.js';
import type { Logger } from '../log.js';
import { type PurgeReport, purgeRoots, removeLocalOutputs, removePins } from '../storage/index.js';

/** What one retention sweep purged (or, dry-run, would purge). Sizes in bytes. */
export interface RetentionReport {
  /** Ids of the finished jobs past their retention. */
  jobs: string[];
  /** Finished jobs past their retention that are kept, and why (a market order not settled yet). */
  kept: Array<{ id: string; reason: 'order_unsettled' }>;
  /** Bytes of their folders in local storage. */
  localBytes: number;
  /** The purged jobs' own blocks in the embedded IPFS store, when one had published there. */
  ipfs: PurgeReport | undefined;
}

export interface RetentionOptions {
  store: Pick<JobStore, 'expiredJobs' | 'remove' | 'referencedCids'>;
  /** `<dataDir>/media`: local storage. */
  localRoot: string;
  /** `<dataDir>/live`: a purged live job's playlists and segments go too (counted in `localBytes`). */
  liveRoot?: string;
  /** `<dataDir>/ipfs`: the embedded IPFS store. */
  blockstoreDir: string;
  /** VIDMESH_RETENTION_HOURS; undefined: only jobs with their own `retainHours` expire. */
  defaultHours: number | undefined;
  dryRun?: boolean;
  /** Blocks written or reused more recently than this are never removed (ms, default 1 h): a publish may be using them. */
  gcGraceMs?: number;
  batch?: number;
  now?: Date;
  log?: Logger;
}

/** Root CIDs a stored result names (`publish.cid`, `cid`, each output's `cid`). */
function cidsOf(result: unknown): string[] {
  if (typeof result !== 'object' || result === null) return [];
  const r = result as { cid?: unknown; publish?: { cid?: unknown }; outputs?: Array<{ cid?: unknown }> };
  const all = [r.cid, r.publish?.cid, ...(Array.isArray(r.outputs) ? r.outputs.map((o) => o?.cid) : [])];
  return [...new Set(all.filter((c): c is string => typeof c === 'string'))];
}

/**
 * One retention sweep (docs/outputs.md, "Retention"): finished jobs whose retention ended (the spec's
 * `retainHours`, else VIDMESH_RETENTION_HOURS) lose their local-storage folder, then their rows
 * (events, logs, output rows cascade); when one had published to IPFS, its root CIDs are unpinned and
 * their blocks removed from the embedded store, but for blocks that a root another job still
 * references, or a pinned root, shares (`purgeRoots`: only the purged DAGs and the live DAGs' dag-pb
 * nodes are read, the store is never listed). Rows go last, so an interrupted sweep is redone. Queued,
 * leased and running jobs are never selected; a finished job whose market order is not settled is kept
 * (listed in `kept`). Dry-run measures and changes nothing.
 */
export async function runRetention(o: RetentionOptions): Promise<RetentionReport> {
  const listed = await o.store.expiredJobs(o.now ?? new Date(), o.defaultHours, o.batch ?? 100);
  // A job whose market order has not settled keeps its outputs and rows: the escrow still needs it.
  const kept = listed.flatMap((j) => (j.keptBecause ? [{ id: j.id, reason: j.keptBecause }] : []));
  const expired = listed.filter((j) => !j.keptBecause);
  let localBytes = 0;
  for (const job of expired) {
    localBytes += await removeLocalOutputs(o.localRoot, job.id, { dryRun: o.dryRun === true });
    if (o.liveRoot) localBytes += await removeLocalOutputs(o.liveRoot, job.id, { dryRun: o.dryRun === true });
  }
  let ipfs: PurgeReport | undefined;
  const roots = [...new Set(expired.flatMap((j) => cidsOf(j.result)))];
  if (roots.length > 0) {
    const keep = await o.store.referencedCids(expired.map((j) => j.id));
    // A root another job also names stays whole (and pinned); the others are unpinned (a 3Speak encoder
    // adds with pin=true) and their blocks removed, but for blocks a kept or pinned root shares.
    const kept = new Set(keep);
    const purgedRoots = roots.filter((c) => !kept.has(c));
    ipfs = await purgeRoots(o.blockstoreDir, purgedRoots, keep, {
      dryRun: o.dryRun === true,
      graceMs: o.gcGraceMs,
      unpinned: purgedRoots,
    });
    if (!o.dryRun && purgedRoots.length > 0) await removePins(o.blockstoreDir, purgedRoots);
  }
  // Rows last: a sweep cut short leaves the job listed, and the next sweep finds its roots again
  // (the store is never listed, so blocks of a job whose row is gone would stay for good).
  if (!o.dryRun) for (const job of expired) await o.store.remove(job.id);
  if (kept.length > 0)
    o.log?.warn({ kept }, 'retention: jobs past their retention kept until their market order settles');
  if (expired.length > 0)
    o.log?.info(
      { jobs: expired.length, localBytes, ipfsBytes: ipfs?.removedBytes ?? 0, dryRun: o.dryRun === true },
      'retention: finished jobs purged with their outputs',
    );
  return { jobs: expired.map((j) => j.id), kept, localBytes, ipfs };
}

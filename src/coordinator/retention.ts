import type { JobStore } from '../jobs/index.js';
import type { Logger } from '../log.js';
import { collectGarbage, type GcReport, removeLocalOutputs, removePins } from '../storage/index.js';

/** What one retention sweep purged (or, dry-run, would purge). Sizes in bytes. */
export interface RetentionReport {
  /** Ids of the finished jobs past their retention. */
  jobs: string[];
  /** Finished jobs past their retention that are kept, and why (a market order not settled yet). */
  kept: Array<{ id: string; reason: 'order_unsettled' }>;
  /** Bytes of their folders in local storage. */
  localBytes: number;
  /** Garbage collection of the embedded IPFS store, when a purged job had published there. */
  ipfs: GcReport | undefined;
}

export interface RetentionOptions {
  store: Pick<JobStore, 'expiredJobs' | 'remove' | 'referencedCids'>;
  /** `<dataDir>/media`: local storage. */
  localRoot: string;
  /** `<dataDir>/ipfs`: the embedded IPFS store. */
  blockstoreDir: string;
  /** VIDMESH_RETENTION_HOURS; undefined: only jobs with their own `retainHours` expire. */
  defaultHours: number | undefined;
  dryRun?: boolean;
  /** Blocks younger than this are never collected (ms, default 1 h): a publish may be writing them. */
  gcGraceMs?: number;
  batch?: number;
  now?: Date;
  log?: Logger;
}

const hasIpfs = (result: unknown): boolean => cidsOf(result).length > 0;

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
 * (events, logs, output rows cascade); when one had published to IPFS, the embedded store is garbage
 * collected with every root still referenced by another job as the pin set. Queued, leased and running
 * jobs are never selected; a finished job whose market order is not settled is kept (listed in `kept`). Dry-run measures and changes nothing.
 */
export async function runRetention(o: RetentionOptions): Promise<RetentionReport> {
  const listed = await o.store.expiredJobs(o.now ?? new Date(), o.defaultHours, o.batch ?? 100);
  // A job whose market order has not settled keeps its outputs and rows: the escrow still needs it.
  const kept = listed.flatMap((j) => (j.keptBecause ? [{ id: j.id, reason: j.keptBecause }] : []));
  const expired = listed.filter((j) => !j.keptBecause);
  let localBytes = 0;
  for (const job of expired) {
    localBytes += await removeLocalOutputs(o.localRoot, job.id, { dryRun: o.dryRun === true });
    if (!o.dryRun) await o.store.remove(job.id);
  }
  let ipfs: GcReport | undefined;
  if (expired.some((j) => hasIpfs(j.result))) {
    const keep = await o.store.referencedCids(expired.map((j) => j.id));
    // Unpin the purged jobs' roots (a 3Speak encoder adds with pin=true) unless another job uses them.
    const kept = new Set(keep);
    const purgedRoots = expired.flatMap((j) => cidsOf(j.result)).filter((c) => !kept.has(c));
    if (!o.dryRun && purgedRoots.length > 0) await removePins(o.blockstoreDir, purgedRoots);
    ipfs = await collectGarbage(o.blockstoreDir, keep, {
      dryRun: o.dryRun === true,
      graceMs: o.gcGraceMs,
      unpinned: purgedRoots,
    });
  }
  if (kept.length > 0)
    o.log?.warn({ kept }, 'retention: jobs past their retention kept until their market order settles');
  if (expired.length > 0)
    o.log?.info(
      { jobs: expired.length, localBytes, ipfsBytes: ipfs?.removedBytes ?? 0, dryRun: o.dryRun === true },
      'retention: finished jobs purged with their outputs',
    );
  return { jobs: expired.map((j) => j.id), kept, localBytes, ipfs };
}

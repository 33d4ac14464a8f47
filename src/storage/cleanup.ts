import { readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as dagPb from '@ipld/dag-pb';
import { CID } from 'multiformats/cid';
import { FsBlockstore } from './ipfs.js';
import { safeJoin } from './paths.js';
import { readPins } from './pins.js';

/**
 * Removal of published outputs (retention, `DELETE /jobs/:id` of the Encoder v2 API): a job's folder in
 * local storage, and garbage collection of the embedded IPFS store. Knows nothing of jobs beyond the
 * job id as a folder name and the root CIDs it is told to keep.
 */

/** Bytes and files under `path` (0 when it does not exist). */
export async function diskUsage(path: string): Promise<{ bytes: number; files: number }> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return { bytes: 0, files: 0 };
  if (!st.isDirectory()) return { bytes: st.size, files: 1 };
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const u = await diskUsage(join(path, entry.name));
    bytes += u.bytes;
    files += u.files;
  }
  return { bytes, files };
}

/**
 * Removes a job's published folder `<localRoot>/<jobId>` (every `local` output and prefix of it).
 * Returns the bytes it held; `dryRun` only measures.
 * @throws UnsafePathError for a job id that is not one folder name.
 */
export async function removeLocalOutputs(
  localRoot: string,
  jobId: string,
  opts: { dryRun?: boolean } = {},
): Promise<number> {
  const dir = safeJoin(localRoot, jobId);
  const { bytes } = await diskUsage(dir);
  if (!opts.dryRun) await rm(dir, { recursive: true, force: true });
  return bytes;
}

/** What a garbage collection of the embedded IPFS store found (and removed unless dry-run). */
export interface GcReport {
  /** Blocks reachable from the kept roots. */
  kept: number;
  removedBlocks: number;
  removedBytes: number;
}

/**
 * Mark and sweep of the embedded blockstore (kubo's `repo gc`): every block reachable from `keepRoots`
 * or from the store's pin list (dag-pb links followed, raw leaves have none) is kept; every other
 * block file older than `graceMs` (default 1 h: a publish in progress writes blocks before its job
 * records the root) is deleted. A root or link whose block is missing is skipped. `unpinned`: pins to
 * treat as removed (a dry run of an unpin + GC).
 */
export async function collectGarbage(
  blockstoreDir: string,
  keepRoots: readonly string[],
  opts: { graceMs?: number; dryRun?: boolean; now?: number; unpinned?: readonly string[] } = {},
): Promise<GcReport> {
  const pins = [...(await readPins(blockstoreDir))].filter((p) => !opts.unpinned?.includes(p));
  const store = new FsBlockstore(blockstoreDir);
  const marked = new Set<string>();
  const stack: CID[] = [];
  for (const root of [...keepRoots, ...pins]) {
    try {
      stack.push(CID.parse(root));
    } catch {
      // not a CID (an old row): nothing to keep for it
    }
  }
  while (stack.length > 0) {
    const cid = stack.pop()!;
    const path = store.pathFor(cid);
    if (marked.has(path)) continue;
    let bytes: Uint8Array | undefined;
    try {
      for await (const b of store.get(cid)) bytes = b;
    } catch {
      continue;
    }
    marked.add(path);
    if (cid.code === dagPb.code && bytes) for (const link of dagPb.decode(bytes).Links) stack.push(link.Hash);
  }
  const cutoff = (opts.now ?? Date.now()) - (opts.graceMs ?? 3_600_000);
  let removedBlocks = 0;
  let removedBytes = 0;
  const shards = await readdir(blockstoreDir, { withFileTypes: true }).catch(() => []);
  for (const shard of shards.filter((d) => d.isDirectory())) {
    const dir = join(blockstoreDir, shard.name);
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.data')) continue;
      const file = join(dir, name);
      if (marked.has(file)) continue;
      const st = await stat(file).catch(() => undefined);
      if (!st || st.mtimeMs > cutoff) continue;
      if (!opts.dryRun) await unlink(file).catch(() => undefined);
      removedBlocks += 1;
      removedBytes += st.size;
    }
  }
  return { kept: marked.size, removedBlocks, removedBytes };
}

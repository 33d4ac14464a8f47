import { open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as dagPb from '@ipld/dag-pb';
import { CID } from 'multiformats/cid';
import { FsBlockstore } from './ipfs.js';
import { safeJoin } from './paths.js';
import { readPins } from './pins.js';

/**
 * Removal of published outputs (retention, `DELETE /jobs/:id` of the Encoder v2 API): a job's folder in
 * local storage, a job's own blocks in the embedded IPFS store ({@link purgeRoots}), and a full garbage
 * collection of that store ({@link collectGarbage}). Knows nothing of jobs beyond the job id as a folder
 * name and the root CIDs it is told to purge or keep.
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
 * Full mark and sweep of the embedded blockstore (kubo's `repo gc`; retention uses {@link purgeRoots},
 * which touches only a purged job's blocks): every block reachable from `keepRoots`
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

/** What {@link purgeRoots} found under the purged roots (and removed unless dry-run). */
export interface PurgeReport {
  /** Distinct blocks reachable from the purged roots (those present in the store). */
  blocks: number;
  /** Of those, blocks another kept or pinned root also references: they stay. */
  shared: number;
  /** Of those, blocks written (or reused by a publish) within the grace period: they stay. */
  young: number;
  removedBlocks: number;
  removedBytes: number;
}

/**
 * Whether the dag-pb block in `path` has links, from its first byte: the dag-pb spec's canonical form
 * encodes every `Links` entry (field 2, tag 0x12) before `Data` (field 1, tag 0x0a), so a node with
 * links starts with 0x12. False for a missing or empty file.
 */
async function hasLinks(path: string): Promise<boolean> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(1), 0, 1, 0);
    return bytesRead === 1 && buffer[0] === 0x12;
  } finally {
    await fh.close();
  }
}

/**
 * Walks the DAG under each root: calls `visit(path)` once per distinct block (by file, so CIDv0 and
 * CIDv1 of one block count once); reads, verifies and decodes only dag-pb nodes that have links (leaves,
 * the bulk of the bytes, are never read: raw leaves by their CID, dag-pb leaves by their first byte).
 * A missing or unreadable node ends that branch.
 */
async function walkDag(
  store: FsBlockstore,
  roots: readonly string[],
  visit: (path: string) => void,
): Promise<void> {
  const seen = new Set<string>();
  const stack: CID[] = [];
  for (const root of roots) {
    try {
      stack.push(CID.parse(root));
    } catch {
      // not a CID (an old row): no blocks
    }
  }
  while (stack.length > 0) {
    const cid = stack.pop()!;
    const path = store.pathFor(cid);
    if (seen.has(path)) continue;
    seen.add(path);
    visit(path);
    if (cid.code !== dagPb.code || !(await hasLinks(path))) continue;
    let bytes: Uint8Array | undefined;
    try {
      for await (const b of store.get(cid)) bytes = b;
    } catch {
      continue;
    }
    if (bytes) for (const link of dagPb.decode(bytes).Links) stack.push(link.Hash);
  }
}

/**
 * Removes the blocks of `roots` (a purged job's root CIDs) from the embedded blockstore, and only
 * those: the blocks reachable from `roots` are collected first, then `keepRoots` (roots other jobs
 * still reference) and the store's pin list (minus `roots` and `unpinned`) are walked, and a block any
 * of them reaches stays (`shared`). A block whose file changed within `graceMs` (default 1 h) stays too
 * (`young`): a publish in progress may be reusing it before its job records its root
 * ({@link FsBlockstore.put} touches a block it finds already stored). The rest of the store is never
 * listed; only dag-pb nodes are read (raw leaves by file name). Roots are not unpinned here (see
 * `removePins`). `dryRun` only measures.
 */
export async function purgeRoots(
  blockstoreDir: string,
  roots: readonly string[],
  keepRoots: readonly string[],
  opts: { graceMs?: number; dryRun?: boolean; now?: number; unpinned?: readonly string[] } = {},
): Promise<PurgeReport> {
  const store = new FsBlockstore(blockstoreDir);
  const purged = new Set(roots);
  const candidates = new Set<string>();
  await walkDag(store, roots, (path) => candidates.add(path));
  const pins = [...(await readPins(blockstoreDir))].filter(
    (p) => !purged.has(p) && !opts.unpinned?.includes(p),
  );
  const live = [...new Set([...keepRoots, ...pins])].filter((r) => !purged.has(r));
  const report: PurgeReport = { blocks: 0, shared: 0, young: 0, removedBlocks: 0, removedBytes: 0 };
  const shared = new Set<string>();
  if (candidates.size > 0 && live.length > 0)
    await walkDag(store, live, (path) => {
      if (candidates.has(path)) shared.add(path);
    });
  const cutoff = (opts.now ?? Date.now()) - (opts.graceMs ?? 3_600_000);
  for (const path of candidates) {
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    report.blocks += 1;
    if (shared.has(path)) {
      report.shared += 1;
      continue;
    }
    if (st.mtimeMs > cutoff) {
      report.young += 1;
      continue;
    }
    if (!opts.dryRun) await unlink(path).catch(() => undefined);
    report.removedBlocks += 1;
    report.removedBytes += st.size;
  }
  return report;
}

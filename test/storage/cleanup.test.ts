import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { addDirectory, addPin, catIpfsPath, FsBlockstore, purgeRoots } from '../../src/storage/index.js';
import { tempDir, testContext } from './helpers.js';

/** Every block file of the store, sorted (the store's own layout: `<shard>/<name>.data`). */
async function blockFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const shard of await readdir(dir, { withFileTypes: true })) {
    if (!shard.isDirectory()) continue;
    for (const f of await readdir(join(dir, shard.name)))
      if (f.endsWith('.data')) out.push(join(shard.name, f));
  }
  return out.sort();
}

async function bytesOf(dir: string, files: string[]): Promise<number> {
  let n = 0;
  for (const f of files) n += (await stat(join(dir, f))).size;
  return n;
}

/** Writes `files` (name → bytes) into a fresh folder and adds it to the store; the root CID. */
async function addFolder(root: string, name: string, store: FsBlockstore, files: Record<string, Buffer>) {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [f, data] of Object.entries(files)) await writeFile(join(dir, f), data);
  return (await addDirectory(dir, store)).cid.toString();
}

const readBack = async (ctx: ReturnType<typeof testContext>, cid: string, path: string) =>
  buffer((await catIpfsPath(ctx, cid, path)).stream);

test('purgeRoots removes only the purged root’s own blocks: blocks another job or a pinned root shares survive, an unrelated block is never touched', async () => {
  const tmp = await tempDir('purge');
  try {
    const ctx = testContext(tmp.dir);
    const dir = ctx.ipfs.blockstoreDir;
    const store = new FsBlockstore(dir);
    // 600 KiB: three 256 KiB-chunk leaves and a file node, the same blocks in both ladders.
    const shared = randomBytes(600 * 1024);
    const pinnedToo = randomBytes(300 * 1024);
    const own = randomBytes(300 * 1024);
    const purged = await addFolder(tmp.dir, 'a', store, {
      'seg_0.ts': shared,
      'seg_1.ts': own,
      'seg_2.ts': pinnedToo,
      'index.m3u8': Buffer.from('#EXTM3U\n# a\n'),
    });
    const other = await addFolder(tmp.dir, 'b', store, {
      'seg_0.ts': shared,
      'index.m3u8': Buffer.from('#EXTM3U\n# b\n'),
    });
    const pinned = await addFolder(tmp.dir, 'p', store, { 'kept.ts': pinnedToo });
    await addPin(dir, pinned);
    await addPin(dir, purged);
    // A block no root references (an interrupted publish): a purge never lists the store, so it stays.
    const orphan = await addFolder(tmp.dir, 'orphan', store, { 'x.bin': randomBytes(1000) });
    const before = await blockFiles(dir);
    const beforeBytes = await bytesOf(dir, before);
    const opts = { graceMs: 0, now: Date.now() + 1000 };

    const dry = await purgeRoots(dir, [purged], [other], { ...opts, dryRun: true });
    assert.deepEqual(await blockFiles(dir), before, 'a dry run removes nothing');
    // a: root + index + seg_0 (4) + seg_1 (2 leaves + file node) + seg_2 (2 leaves + file node).
    assert.equal(dry.blocks, 1 + 1 + 4 + 3 + 3);
    assert.equal(dry.shared, 4 + 3, "seg_0 is b's, seg_2 is the pinned root's");
    assert.equal(dry.young, 0);
    assert.equal(dry.removedBlocks, 1 + 1 + 3);

    const report = await purgeRoots(dir, [purged], [other], opts);
    assert.deepEqual(report, dry, 'the dry run predicted the purge');
    const after = await blockFiles(dir);
    const gone = before.filter((f) => !after.includes(f));
    assert.equal(gone.length, report.removedBlocks);
    assert.equal(beforeBytes - (await bytesOf(dir, after)), report.removedBytes, 'bytes freed as reported');
    assert.deepEqual(
      await readBack(ctx, other, 'seg_0.ts'),
      shared,
      "the other job's shared segment reads back",
    );
    assert.equal((await readBack(ctx, other, 'index.m3u8')).toString(), '#EXTM3U\n# b\n');
    assert.deepEqual(await readBack(ctx, pinned, 'kept.ts'), pinnedToo, "the pinned root's file reads back");
    assert.deepEqual(await readBack(ctx, orphan, 'x.bin'), await readFile(join(tmp.dir, 'orphan', 'x.bin')));
    await assert.rejects(readBack(ctx, purged, 'seg_1.ts'), 'the purged root is gone');
  } finally {
    await tmp.cleanup();
  }
});

test('purgeRoots keeps a purged block that a new publish reused within the grace period (put touches it)', async () => {
  const tmp = await tempDir('purge-grace');
  try {
    const ctx = testContext(tmp.dir);
    const dir = ctx.ipfs.blockstoreDir;
    const store = new FsBlockstore(dir);
    const reused = randomBytes(100 * 1024);
    const purged = await addFolder(tmp.dir, 'a', store, { 'reused.ts': reused, 'own.ts': randomBytes(1000) });
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    for (const f of await blockFiles(dir)) await utimes(join(dir, f), twoHoursAgo, twoHoursAgo);
    // A publish in progress stores the same segment again; its job has not recorded its root yet.
    const publishing = await addFolder(tmp.dir, 'c', store, { 'seg.ts': reused });
    const report = await purgeRoots(dir, [purged], [], { graceMs: 3_600_000 });
    assert.deepEqual(
      { blocks: report.blocks, shared: report.shared, young: report.young, removed: report.removedBlocks },
      { blocks: 3, shared: 0, young: 1, removed: 2 },
    );
    assert.deepEqual(await readBack(ctx, publishing, 'seg.ts'), reused);
  } finally {
    await tmp.cleanup();
  }
});

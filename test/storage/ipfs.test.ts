import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CID } from 'multiformats/cid';
import {
  addDirectory,
  catIpfsPath,
  cidOfBytes,
  FsBlockstore,
  fetchSource,
  IntegrityError,
  publish,
} from '../../src/storage/index.js';
import { makeLadder, tempDir, testContext } from './helpers.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
before(async () => {
  tmp = await tempDir('ipfs');
});
after(async () => {
  await tmp.cleanup();
});

async function drain(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

test('CID vectors match kubo defaults (CIDv0, dag-pb, 256 KiB chunks)', async () => {
  // `echo "hello world" | ipfs add` (kubo docs and sharness t0040)
  assert.equal(
    await cidOfBytes(Buffer.from('hello world\n')),
    'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o',
  );
  assert.equal(
    await cidOfBytes(Buffer.from('hello world')),
    'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD',
  );
  // `ipfs add -w hello.txt` with "hello world": directory wrapping one file.
  const d = join(tmp.dir, 'vec');
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'hello.txt'), 'hello world');
  const wrapped = await addDirectory(d, { put: async (c) => c });
  assert.equal(wrapped.cid.toString(), 'QmNxvA5bwvPGgMXbmtyhxA1cKFdvQXnsGnZLCGor3AzYxJ');
  assert.equal(wrapped.files.get('hello.txt'), 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD');
});

test('embedded publish stores a ladder by CID and serves every file back; a tampered block is refused', async () => {
  const root = join(tmp.dir, 'embedded');
  const ctx = testContext(root);
  const ladder = join(root, 'ladder');
  await makeLadder(ladder);
  // > 256 KiB: a multi-block file (balanced DAG of dag-pb leaves).
  const big = randomBytes(700 * 1024);
  await writeFile(join(ladder, 'big.mp4'), big);
  const result = await publish(ladder, { type: 'ipfs' }, ctx, { jobId: 'job-ipfs' });
  assert.match(result.cid ?? '', /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/);
  assert.equal(result.ipfsUrl, `ipfs://${result.cid}/master.m3u8`);
  assert.equal(result.masterUrl, `ipfs://${result.cid}/master.m3u8`);
  // The same directory always gives the same CID (offline computation is deterministic).
  assert.equal((await addDirectory(ladder, { put: async (c) => c })).cid.toString(), result.cid);

  for (const f of result.files) {
    const got = await catIpfsPath(ctx, result.cid!, f.path);
    assert.equal(got.size, f.bytes);
    assert.equal(got.contentType, f.contentType);
    assert.deepEqual(await drain(got.stream), await readFile(join(ladder, f.path)), f.path);
  }
  await assert.rejects(catIpfsPath(ctx, result.cid!, 'nope.ts'), { code: 'not_found' });
  await assert.rejects(catIpfsPath(ctx, result.cid!, '../x'), { code: 'unsafe_path' });

  // Tamper with every stored block of big.mp4's leaves: reading must fail with integrity_failed.
  const bigCid = CID.parse((await addDirectory(ladder, { put: async (c) => c })).files.get('big.mp4')!);
  const store = new FsBlockstore(ctx.ipfs.blockstoreDir);
  assert.ok(await store.has(bigCid));
  const shards = await readdir(ctx.ipfs.blockstoreDir);
  let tampered = 0;
  for (const s of shards) {
    for (const name of await readdir(join(ctx.ipfs.blockstoreDir, s))) {
      const p = join(ctx.ipfs.blockstoreDir, s, name);
      const data = await readFile(p);
      if (data.length > 200 * 1024) {
        data[data.length - 10] = (data[data.length - 10]! + 1) & 255;
        await writeFile(p, data);
        tampered++;
      }
    }
  }
  assert.ok(tampered >= 2, 'leaves of the big file were tampered');
  const opened = await catIpfsPath(ctx, result.cid!, 'big.mp4');
  await assert.rejects(drain(opened.stream), IntegrityError);
});

test('ipfs source via a trustless gateway verifies every block', async () => {
  const root = join(tmp.dir, 'gw');
  const ctx = testContext(root);
  const ladder = join(root, 'ladder');
  await mkdir(ladder, { recursive: true });
  const content = randomBytes(600 * 1024);
  await writeFile(join(ladder, 'input.mp4'), content);
  const published = await publish(ladder, { type: 'ipfs' }, ctx, { jobId: 'job-gw' });
  const store = new FsBlockstore(ctx.ipfs.blockstoreDir);
  let tamper = false;
  const server: Server = createServer(async (req, res) => {
    const m = /^\/ipfs\/([^/?]+)\?format=raw$/.exec(req.url ?? '');
    if (!m || req.headers.accept !== 'application/vnd.ipld.raw') return void res.writeHead(400).end();
    try {
      const parts: Uint8Array[] = [];
      for await (const b of store.get(CID.parse(m[1]!))) parts.push(b);
      const block = Buffer.concat(parts);
      if (tamper && block.length > 100 * 1024) block[5000] = (block[5000]! + 1) & 255;
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw' }).end(block);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    // Remote encoders use a gateway, not the local blockstore.
    const gwCtx = testContext(join(root, 'other'), {
      ssrf: {},
      ipfs: {
        blockstoreDir: join(root, 'unused'),
        gatewayUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      },
    });
    const got = await fetchSource(
      { type: 'ipfs', url: `ipfs://${published.cid}/input.mp4` },
      join(root, 'in.mp4'),
      gwCtx,
    );
    assert.deepEqual(await readFile(got.path), content);
    tamper = true;
    await assert.rejects(
      fetchSource({ type: 'ipfs', cid: published.cid!, path: 'input.mp4' }, join(root, 'in2.mp4'), gwCtx),
      (err: IntegrityError) =>
        err.code === 'integrity_failed' && /does not hash to its CID/.test(err.message),
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('kubo mode posts a wrap-with-directory add with pin and refuses a CID that differs from ours', async () => {
  const root = join(tmp.dir, 'kubo');
  const ctx = testContext(root);
  const ladder = join(root, 'ladder');
  await makeLadder(ladder);
  const expected = (await addDirectory(ladder, { put: async (c) => c })).cid.toString();
  // kubo cannot run here (no binaries from outside); this endpoint speaks the RPC's /api/v0/add
  // shape (kubo RPC docs: NDJSON lines {Name, Hash, Size}, wrapper last with Name "") and answers
  // with the CID the test chooses, so both the match and the mismatch path are exercised.
  let answer = expected;
  const calls: Array<{ url: string; filenames: string[] }> = [];
  const server: Server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const body = Buffer.concat(parts).toString('latin1');
    const filenames = [...body.matchAll(/filename="([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));
    calls.push({ url: req.url ?? '', filenames });
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const f of filenames) res.write(JSON.stringify({ Name: f, Hash: 'QmIgnored', Size: '1' }) + '\n');
    res.end(JSON.stringify({ Name: '', Hash: answer, Size: '1' }) + '\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const ok = await publish(ladder, { type: 'ipfs', mode: 'kubo', apiUrl }, ctx, { jobId: 'job-kubo' });
    assert.equal(ok.cid, expected);
    const call = calls[0]!;
    assert.match(call.url, /^\/api\/v0\/add\?/);
    for (const q of [
      'wrap-with-directory=true',
      'pin=true',
      'cid-version=0',
      'raw-leaves=false',
      'chunker=size-262144',
    ]) {
      assert.ok(call.url.includes(q), q);
    }
    assert.ok(call.filenames.includes('720p'), 'directory part');
    assert.ok(call.filenames.includes('720p/index.m3u8'));
    assert.ok(call.filenames.includes('master.m3u8'));
    answer = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';
    await assert.rejects(
      publish(ladder, { type: 'ipfs', mode: 'kubo', apiUrl }, ctx, { jobId: 'job-kubo2' }),
      (err: IntegrityError) =>
        err.code === 'integrity_failed' && (err.details?.expected as string) === expected,
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  fetchSource,
  publish,
  type SourceNotFoundError,
  type SourceTooLargeError,
  type StorageRejectedError,
  type StorageStalledError,
} from '../../src/storage/index.js';
import { makeLadder, sha256File, tempDir, testContext } from './helpers.js';

const body = randomBytes(3 * 1024 * 1024 + 17);
const bodyHash = createHash('sha256').update(body).digest('hex');
const etag = `"${bodyHash.slice(0, 16)}"`;
let server: Server;
let base: string;
let tmp: Awaited<ReturnType<typeof tempDir>>;
const requests: Array<{ url: string; range?: string; auth?: string }> = [];
const putStore = new Map<string, { body: Buffer; type?: string }>();
let flaky503 = 0;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

before(async () => {
  tmp = await tempDir('http');
  server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    requests.push({ url, range: req.headers.range, auth: req.headers.authorization });
    if (req.method === 'PUT' && url.startsWith('/put/')) {
      if (req.headers.authorization !== 'Bearer s3cret') {
        res.writeHead(401).end();
        return;
      }
      if (flaky503 > 0) {
        flaky503--;
        await readBody(req);
        res.writeHead(503).end();
        return;
      }
      putStore.set(url.slice('/put/'.length), {
        body: await readBody(req),
        type: req.headers['content-type'],
      });
      res.writeHead(201).end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range && req.headers['if-range'] === etag ? Number(range[1]) : 0;
    const headers = { 'content-type': 'video/mp4', 'accept-ranges': 'bytes', etag };
    switch (url) {
      case '/file':
        res.writeHead(200, { ...headers, 'content-length': body.length }).end(body);
        return;
      case '/drop': // drops the connection after ~1 MiB on every response that starts at 0
      case '/drop-norange': {
        const useRange = url === '/drop' && start > 0;
        const from = useRange ? start : 0;
        const slice = body.subarray(from);
        if (useRange) {
          res.writeHead(206, {
            ...headers,
            'content-length': slice.length,
            'content-range': `bytes ${from}-${body.length - 1}/${body.length}`,
          });
        } else res.writeHead(200, { ...headers, 'content-length': body.length });
        const count = requests.filter((r) => r.url === url).length;
        if (from === 0 && count <= 2) {
          res.write(slice.subarray(0, 1024 * 1024 + count), () => res.socket?.destroy());
          return;
        }
        res.end(slice);
        return;
      }
      case '/r1':
        res.writeHead(301, { location: '/r2' }).end();
        return;
      case '/r2':
        res.writeHead(307, { location: `${base}/file` }).end();
        return;
      case '/loop':
        res.writeHead(302, { location: '/loop' }).end();
        return;
      case '/stall':
        res.writeHead(200, { ...headers, 'content-length': body.length });
        res.write(body.subarray(0, 1000)); // then nothing, connection kept open
        return;
      case '/slow': {
        // Slow but steady: 8 chunks 150 ms apart, each under the stall timeout.
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 8 * 1024 });
        let i = 0;
        const t = setInterval(() => {
          res.write(Buffer.alloc(1024, i));
          if (++i === 8) {
            clearInterval(t);
            res.end();
          }
        }, 150);
        return;
      }
      case '/big':
        res.writeHead(200, { 'content-type': 'video/mp4' }); // chunked, no length: limit enforced while streaming
        res.end(body);
        return;
      default:
        res.writeHead(404).end('no');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await tmp.cleanup();
});

test('downloads a file streamed to disk with progress', async () => {
  const ctx = testContext(tmp.dir);
  const seen: number[] = [];
  const r = await fetchSource({ type: 'http', url: `${base}/file` }, join(tmp.dir, 'a', 'file.mp4'), ctx, {
    onProgress: (b, t) => {
      seen.push(b);
      assert.equal(t, body.length);
    },
  });
  assert.equal(r.bytes, body.length);
  assert.equal(r.contentType, 'video/mp4');
  assert.equal(await sha256File(r.path), bodyHash);
  assert.equal(seen.at(-1), body.length);
});

test('resumes with Range after the connection drops mid-download', async () => {
  const ctx = testContext(tmp.dir);
  const r = await fetchSource({ type: 'http', url: `${base}/drop` }, join(tmp.dir, 'drop.mp4'), ctx);
  assert.equal(await sha256File(r.path), bodyHash);
  const ranges = requests.filter((q) => q.url === '/drop').map((q) => q.range);
  assert.equal(ranges[0], undefined);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
  assert.ok(resumedAt > 0 && resumedAt < body.length, `resumed at ${resumedAt}`);
});

test('restarts from zero when the server ignores Range', async () => {
  const ctx = testContext(tmp.dir);
  const r = await fetchSource({ type: 'http', url: `${base}/drop-norange` }, join(tmp.dir, 'dn.mp4'), ctx);
  assert.equal(await sha256File(r.path), bodyHash);
  assert.equal(r.bytes, body.length);
});

test('follows redirects within the limit and refuses a loop', async () => {
  const ctx = testContext(tmp.dir);
  const r = await fetchSource({ type: 'http', url: `${base}/r1` }, join(tmp.dir, 'r.mp4'), ctx);
  assert.equal(await sha256File(r.path), bodyHash);
  await assert.rejects(
    fetchSource({ type: 'http', url: `${base}/loop` }, join(tmp.dir, 'loop'), ctx),
    (err: StorageRejectedError) => err.code === 'storage_rejected' && /too many redirects/.test(err.message),
  );
});

test('404 is a non-retryable source_not_found and leaves no partial file', async () => {
  const ctx = testContext(tmp.dir);
  const dest = join(tmp.dir, 'missing.mp4');
  await assert.rejects(
    fetchSource({ type: 'http', url: `${base}/nope` }, dest, ctx),
    (err: SourceNotFoundError) => err.code === 'source_not_found' && !err.retryable,
  );
  await assert.rejects(readFile(dest), { code: 'ENOENT' });
});

test('a stalled transfer fails with storage_stalled; a slow steady one succeeds', async () => {
  const ctx = testContext(tmp.dir, { http: { stallTimeoutMs: 400, maxResumes: 1 } });
  const t0 = Date.now();
  await assert.rejects(
    fetchSource({ type: 'http', url: `${base}/stall` }, join(tmp.dir, 'stall'), ctx),
    (err: StorageStalledError) => err.code === 'storage_stalled' && err.retryable,
  );
  assert.ok(Date.now() - t0 < 5000);
  const slow = await fetchSource({ type: 'http', url: `${base}/slow` }, join(tmp.dir, 'slow'), ctx);
  assert.equal(slow.bytes, 8 * 1024);
});

test('size limit applies to declared and streamed lengths', async () => {
  const ctx = testContext(tmp.dir, { limits: { maxSourceBytes: 1024 * 1024 } });
  for (const path of ['/file', '/big']) {
    await assert.rejects(
      fetchSource({ type: 'http', url: `${base}${path}` }, join(tmp.dir, 'big'), ctx),
      (err: SourceTooLargeError) => err.code === 'source_too_large' && err.status === 413,
      path,
    );
  }
});

test('http destination PUTs every file with the auth header, retrying a 503', async () => {
  const ctx = testContext(tmp.dir);
  const ladder = join(tmp.dir, 'ladder');
  await makeLadder(ladder);
  flaky503 = 1;
  const result = await publish(
    ladder,
    { type: 'http', baseUrl: `${base}/put/{jobId}/`, headers: { Authorization: 'Bearer s3cret' } },
    ctx,
    { jobId: 'job42' },
  );
  assert.ok(result.files.length >= 4 && result.files.some((f) => f.path.endsWith('.ts')));
  assert.equal(result.masterUrl, `${base}/put/job42/master.m3u8`);
  assert.equal(result.files.at(-1)?.path, 'master.m3u8', 'master goes last');
  for (const f of result.files) {
    const stored = putStore.get(`job42/${f.path}`);
    assert.ok(stored, `${f.path} not stored; have ${[...putStore.keys()].join(', ')}`);
    assert.equal(stored.body.length, f.bytes);
    assert.equal(stored.type, f.contentType);
    assert.deepEqual(stored.body, await readFile(join(ladder, f.path)));
  }
  assert.equal(putStore.get('job42/720p/index.m3u8')?.type, 'application/vnd.apple.mpegurl');
  assert.equal(putStore.get('job42/720p/seg_000.ts')?.type, 'video/mp2t');
  assert.equal(putStore.get('job42/poster.jpg')?.type, 'image/jpeg');

  await assert.rejects(
    publish(ladder, { type: 'http', baseUrl: `${base}/put/x/` }, ctx, { jobId: 'job43' }),
    (err: StorageRejectedError) => err.code === 'storage_rejected' && (err.details?.status as number) === 401,
  );
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { fetchSource, publish, type SourceNotFoundError } from '../../src/storage/index.js';
import { makeLadder, s3rverClient, sha256File, tempDir, testContext } from './helpers.js';

let s3: S3rver;
let endpoint: string;
let proxy: Server;
let proxied: string;
// Every request line seen by a pass-through proxy in front of s3rver (to observe multipart calls).
const seen: string[] = [];
let tmp: Awaited<ReturnType<typeof tempDir>>;
const bucket = 'vidmesh-test';
// s3rver accepts any key pair; real credentials are exercised the same way (static credentials path).
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

before(async () => {
  tmp = await tempDir('s3');
  s3 = new S3rver({
    port: 0,
    address: '127.0.0.1',
    directory: join(tmp.dir, 's3rver'),
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  const info = await s3.run();
  endpoint = `http://127.0.0.1:${info.port}`;
  proxy = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} acl=${req.headers['x-amz-acl'] ?? '-'}`);
    const up = request(
      { host: '127.0.0.1', port: info.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxied = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

after(async () => {
  proxy.closeAllConnections();
  await new Promise<void>((r) => proxy.close(() => r()));
  await s3.close();
  await tmp.cleanup();
});

function client(): S3Client {
  return s3rverClient(endpoint);
}

test('publishes a ladder to S3 with content types, cache-control and multipart for > 10 MB, then fetches it back', async () => {
  const ctx = testContext(tmp.dir);
  const ladder = join(tmp.dir, 'ladder');
  await makeLadder(ladder);
  // An 11 MiB rendition file forces a multipart upload (5 MiB parts).
  await writeFile(join(ladder, 'rendition.mp4'), randomBytes(11 * 1024 * 1024));
  const progress: number[] = [];
  const result = await publish(
    ladder,
    {
      type: 's3',
      bucket,
      endpoint: proxied,
      forcePathStyle: true,
      credentials,
      prefix: 'videos/{jobId}',
      cacheControl: 'public, max-age=31536000, immutable',
      cacheControlPlaylists: 'public, max-age=60',
    },
    ctx,
    { jobId: 'job-s3', onProgress: (b) => progress.push(b) },
  );
  assert.equal(result.type, 's3');
  assert.equal(result.masterUrl, `s3://${bucket}/videos/job-s3/master.m3u8`);
  assert.equal(progress.at(-1), result.bytes);
  const c = client();
  try {
    for (const f of result.files) {
      assert.equal(f.key, `videos/job-s3/${f.path}`);
      const head = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: f.key }));
      assert.equal(head.ContentLength, f.bytes, f.path);
      assert.equal(head.ContentType, f.contentType, f.path);
      assert.equal(
        head.CacheControl,
        f.path.endsWith('.m3u8') ? 'public, max-age=60' : 'public, max-age=31536000, immutable',
      );
    }
    const mp4 = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'videos/job-s3/rendition.mp4' }));
    assert.equal(mp4.ContentType, 'video/mp4');
    const parts = seen.filter(
      (l) => l.startsWith('PUT /vidmesh-test/videos/job-s3/rendition.mp4?') && /partNumber=/.test(l),
    );
    assert.equal(parts.length, 3, 'an 11 MiB file goes up as 3 multipart parts');
    assert.ok(seen.some((l) => /^POST \/vidmesh-test\/videos\/job-s3\/rendition\.mp4\?uploads/.test(l)));
    const masterPut = seen.find((l) => l.startsWith('PUT /vidmesh-test/videos/job-s3/master.m3u8'));
    assert.ok(masterPut && !masterPut.includes('partNumber'), 'small files use a single PUT');
    assert.match(masterPut, /acl=private$/, 'ACL is private by default');
    const master = await c.send(new GetObjectCommand({ Bucket: bucket, Key: 'videos/job-s3/master.m3u8' }));
    assert.equal(master.ContentType, 'application/vnd.apple.mpegurl');
    assert.match(await master.Body!.transformToString(), /720p\/index\.m3u8/);
  } finally {
    c.destroy();
  }

  // Round trip: the s3 source streams the big object back byte for byte.
  const got = await fetchSource(
    { type: 's3', bucket, key: 'videos/job-s3/rendition.mp4', endpoint, forcePathStyle: true, credentials },
    join(tmp.dir, 'back', 'rendition.mp4'),
    ctx,
  );
  assert.equal(got.bytes, 11 * 1024 * 1024);
  assert.equal(await sha256File(got.path), await sha256File(join(ladder, 'rendition.mp4')));
});

test('a missing key is source_not_found; a private endpoint without allowlist is refused', async () => {
  const ctx = testContext(tmp.dir);
  await assert.rejects(
    fetchSource(
      { type: 's3', bucket, key: 'nope.mp4', endpoint, forcePathStyle: true, credentials },
      join(tmp.dir, 'nope'),
      ctx,
    ),
    (err: SourceNotFoundError) => err.code === 'source_not_found',
  );
  await assert.rejects(
    fetchSource(
      { type: 's3', bucket, key: 'x', endpoint, forcePathStyle: true, credentials },
      join(tmp.dir, 'x'),
      testContext(tmp.dir, { ssrf: {} }),
    ),
    { code: 'ssrf_blocked' },
  );
});

test("an S3 destination's contentType is the stored object's Content-Type and the published file's; a bad one is refused", async () => {
  const ctx = testContext(tmp.dir);
  const dir = join(tmp.dir, 'one-file');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'movie.mp4'), randomBytes(1024));
  const type = 'video/mp4; codecs="avc1.64001f"';
  const dest = { type: 's3' as const, bucket, prefix: 'typed', endpoint, forcePathStyle: true, credentials };
  const res = await publish(dir, { ...dest, contentType: type }, ctx, { jobId: 'job-typed' });
  assert.equal(res.files[0]?.contentType, type);
  const c = client();
  try {
    const head = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'typed/movie.mp4' }));
    assert.equal(head.ContentType, type);
  } finally {
    c.destroy();
  }
  await assert.rejects(
    publish(dir, { ...dest, contentType: 'video/mp4\r\nx-amz-acl: public-read' }, ctx, {
      jobId: 'job-typed',
    }),
    {
      code: 'invalid_storage_ref',
    },
  );
});

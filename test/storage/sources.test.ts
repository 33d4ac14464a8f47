import assert from 'node:assert/strict';
import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  destinationSchema,
  fetchSource,
  InvalidStorageRefError,
  publish,
  REDACTED,
  redactSecrets,
  SourceNotFoundError,
  SourceTooLargeError,
  sourceSchema,
} from '../../src/storage/index.js';
import { makeLadder, tempDir, testContext } from './helpers.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
before(async () => {
  tmp = await tempDir('sources');
  await mkdir(join(tmp.dir, 'files', 'sub'), { recursive: true });
  await writeFile(join(tmp.dir, 'files', 'sub', 'in.mp4'), 'video bytes');
  await writeFile(join(tmp.dir, 'secret.txt'), 'host secret');
  await symlink(join(tmp.dir, 'secret.txt'), join(tmp.dir, 'files', 'escape.mp4'));
});
after(async () => {
  await tmp.cleanup();
});

test('file sources are confined to the configured roots (through symlinks too)', async () => {
  const ctx = testContext(tmp.dir);
  const rel = await fetchSource({ type: 'file', path: 'sub/in.mp4' }, join(tmp.dir, 'w', 'a.mp4'), ctx);
  assert.equal(await readFile(rel.path, 'utf8'), 'video bytes');
  assert.equal(rel.contentType, 'video/mp4');
  const abs = await fetchSource(
    { type: 'file', path: join(tmp.dir, 'files', 'sub', 'in.mp4') },
    join(tmp.dir, 'w', 'b.mp4'),
    ctx,
  );
  assert.equal(abs.bytes, 11);
  for (const path of [join(tmp.dir, 'secret.txt'), '/etc/passwd', 'escape.mp4']) {
    await assert.rejects(
      fetchSource({ type: 'file', path }, join(tmp.dir, 'w', 'x'), ctx),
      InvalidStorageRefError,
      path,
    );
  }
  await assert.rejects(fetchSource({ type: 'file', path: '../secret.txt' }, join(tmp.dir, 'w', 'x'), ctx), {
    code: 'unsafe_path',
  });
  await assert.rejects(
    fetchSource({ type: 'file', path: 'sub/none.mp4' }, join(tmp.dir, 'w', 'x'), ctx),
    SourceNotFoundError,
  );
  await assert.rejects(
    fetchSource({ type: 'file', path: 'sub/in.mp4' }, join(tmp.dir, 'w', 'x'), { ...ctx, fileRoots: [] }),
    /file sources are disabled/,
  );
});

test('inline sources decode base64 within the size limit', async () => {
  const ctx = testContext(tmp.dir, { limits: { maxInlineBytes: 1024 } });
  const data = Buffer.from('small clip bytes').toString('base64');
  const r = await fetchSource({ type: 'inline', data }, join(tmp.dir, 'w', 'inline.bin'), ctx);
  assert.equal(await readFile(r.path, 'utf8'), 'small clip bytes');
  await assert.rejects(
    fetchSource(
      { type: 'inline', data: Buffer.alloc(2048).toString('base64') },
      join(tmp.dir, 'w', 'i2'),
      ctx,
    ),
    SourceTooLargeError,
  );
  await assert.rejects(fetchSource({ type: 'inline', data: 'not base64!' }, join(tmp.dir, 'w', 'i3'), ctx), {
    code: 'invalid_storage_ref',
  });
});

test('upload sources come from the upload dir or from the coordinator with auth headers', async () => {
  const uploads = join(tmp.dir, 'uploads');
  await mkdir(uploads, { recursive: true });
  await writeFile(join(uploads, 'up_1'), 'uploaded');
  const local = await fetchSource(
    { type: 'upload', id: 'up_1' },
    join(tmp.dir, 'w', 'u1'),
    testContext(tmp.dir, { uploads: { kind: 'dir', dir: uploads } }),
  );
  assert.equal(await readFile(local.path, 'utf8'), 'uploaded');
  await assert.rejects(
    fetchSource({ type: 'upload', id: '../x' }, join(tmp.dir, 'w', 'u'), testContext(tmp.dir)),
    InvalidStorageRefError,
  );

  const server: Server = createServer((req, res) => {
    if (req.url === '/api/v1/uploads/up_2/content' && req.headers.authorization === 'Bearer enc') {
      res.writeHead(200, { 'content-type': 'video/mp4' }).end('remote upload');
    } else res.writeHead(req.headers.authorization ? 404 : 401).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    // The coordinator is configuration, so it is reachable even with an empty SSRF allowlist.
    const ctx = testContext(tmp.dir, {
      ssrf: {},
      uploads: {
        kind: 'http',
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        headers: () => ({ authorization: 'Bearer enc' }),
      },
    });
    const r = await fetchSource({ type: 'upload', id: 'up_2' }, join(tmp.dir, 'w', 'u2'), ctx);
    assert.equal(await readFile(r.path, 'utf8'), 'remote upload');
    await assert.rejects(
      fetchSource({ type: 'upload', id: 'up_3' }, join(tmp.dir, 'w', 'u3'), ctx),
      SourceNotFoundError,
    );
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('local destination publishes atomically under <localRoot>/<jobId> and replaces a previous ladder', async () => {
  const ctx = testContext(tmp.dir);
  const ladder = join(tmp.dir, 'ladder');
  await makeLadder(ladder);
  const first = await publish(ladder, { type: 'local' }, ctx, { jobId: 'job-local' });
  assert.equal(first.masterUrl, '/media/job-local/master.m3u8');
  for (const f of first.files) {
    assert.deepEqual(
      await readFile(join(ctx.localRoot, 'job-local', f.path)),
      await readFile(join(ladder, f.path)),
    );
  }
  await writeFile(join(ladder, 'master.m3u8'), '#EXTM3U\n# v2\n');
  const second = await publish(ladder, destinationSchema.parse({ type: 'local' }), ctx, {
    jobId: 'job-local',
  });
  assert.equal(second.files.find((f) => f.path === 'master.m3u8')?.bytes, 13);
  assert.equal(await readFile(join(ctx.localRoot, 'job-local', 'master.m3u8'), 'utf8'), '#EXTM3U\n# v2\n');
  const entries = await (await import('node:fs/promises')).readdir(ctx.localRoot);
  assert.deepEqual(entries, ['job-local'], 'no staging or old folders left behind');
  await assert.rejects(
    publish(ladder, { type: 'local' }, ctx, { jobId: '../escape' }),
    InvalidStorageRefError,
  );
  await assert.rejects(stat(join(tmp.dir, 'escape')), { code: 'ENOENT' });
});

test('schemas validate refs, apply defaults, and redactSecrets hides every secret', () => {
  const s3 = destinationSchema.parse({ type: 's3', bucket: 'my-bucket' });
  assert.equal(s3.type === 's3' && s3.acl, 'private');
  assert.equal(destinationSchema.parse({ type: 'ipfs' }).type === 'ipfs' && true, true);
  assert.equal(sourceSchema.safeParse({ type: 'http', url: 'file:///etc/passwd' }).success, false);
  assert.equal(
    sourceSchema.safeParse({ type: 'http', url: 'http://x', headers: { 'a\nb': 'c' } }).success,
    false,
  );
  assert.equal(sourceSchema.safeParse({ type: 'ftp', host: 'h' }).success, false);
  assert.equal(sourceSchema.safeParse({ type: 'ipfs' }).success, false);
  assert.equal(sourceSchema.safeParse({ type: 'gopher', url: 'x' }).success, false);

  const ref = sourceSchema.parse({
    type: 's3',
    bucket: 'my-bucket',
    key: 'a.mp4',
    credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI', sessionToken: 'tok' },
  });
  const red = JSON.stringify(redactSecrets(ref));
  assert.ok(!red.includes('wJalrXUtnFEMI') && !red.includes('AKIAEXAMPLE') && !red.includes('"tok"'));
  assert.ok(red.includes(REDACTED) && red.includes('a.mp4'));
  const http = redactSecrets({
    type: 'http',
    url: 'https://u:pw@cdn.example/v.mp4?X-Amz-Signature=abc123&x=1',
    headers: { Authorization: 'Bearer zzz' },
  });
  const h = JSON.stringify(http);
  assert.ok(!h.includes('abc123') && !h.includes('zzz') && !h.includes(':pw@') && h.includes('x=1'));
  const ftp = JSON.stringify(
    redactSecrets({ type: 'ftp', host: 'h', user: 'u', password: 'hunter2', dir: '/' }),
  );
  assert.ok(!ftp.includes('hunter2') && ftp.includes('"user":"u"'));
});

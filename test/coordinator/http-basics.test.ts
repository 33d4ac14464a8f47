import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/coordinator/app.js';
import { staticKeyAuthenticator } from '../../src/coordinator/plugins/auth.js';
import { createDatabase, createJobStore, type Database } from '../../src/jobs/index.js';

const KEY = 'test-admin-key-0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}` };

describe('coordinator HTTP basics (no job store)', () => {
  let dir: string;
  let app: FastifyInstance;
  let ready = true;
  let db: Database;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-http-'));
    await mkdir(join(dir, 'media', 'job1', '720p'), { recursive: true });
    await writeFile(join(dir, 'media', 'job1', 'master.m3u8'), '#EXTM3U\n');
    await writeFile(join(dir, 'media', 'job1', '720p', 'seg_000.ts'), Buffer.alloc(1000, 7));
    await writeFile(join(dir, 'media', 'job1', 'manifest.mpd'), '<MPD/>');
    await writeFile(join(dir, 'media', 'job1', '720p', 'seg_00000.m4s'), Buffer.alloc(100, 7));
    await writeFile(join(dir, 'secret.txt'), 'do not serve');
    db = await createDatabase({ dataDir: 'memory://' });
    app = await buildApp({
      store: createJobStore(db),
      dataDir: dir,
      publicUrl: () => 'http://127.0.0.1:1',
      version: '0.0.0-test',
      authenticators: [staticKeyAuthenticator(KEY, { id: 'api_key:bootstrap', scopes: ['admin'] })],
      checkReady: async () => ({ ok: ready, checks: { database: ready } }),
      limits: { maxUploadBytes: 4096, maxJsonBodyBytes: 1024 * 1024, claimMaxWaitMs: 1000, maxAttempts: 3 },
      corsOrigin: '*',
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('health is public; ready reflects the database check as 200 or 503 problem', async () => {
    assert.equal((await app.inject('/health')).json().status, 'ok');
    assert.equal((await app.inject('/ready')).statusCode, 200);
    ready = false;
    const res = await app.inject('/ready');
    ready = true;
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(res.json().code, 'not_ready');
  });

  test('openapi document lists every API route with an operationId', async () => {
    const doc = (await app.inject('/openapi.json')).json() as {
      openapi: string;
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    assert.match(doc.openapi, /^3\./);
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([m, op]) => ({ path, m, id: op.operationId })),
    );
    assert.ok(ops.some((o) => o.id === 'createUpload'));
    for (const op of ops.filter((o) => o.path.startsWith('/api/'))) assert.ok(op.id, `${op.m} ${op.path}`);
    assert.equal((await app.inject('/docs')).statusCode < 400, true);
  });

  test('API needs a valid bearer key: 401 problem without, 401 with a wrong one', async () => {
    const none = await app.inject({
      method: 'GET',
      url: '/api/v1/uploads/00000000-0000-0000-0000-000000000000',
    });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().code, 'unauthorized');
    assert.equal(none.json().type, 'urn:vidmesh:problem:unauthorized');
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    const wrong = await app.inject({
      method: 'GET',
      url: '/api/v1/uploads/00000000-0000-0000-0000-000000000000',
      headers: { authorization: 'Bearer wrong-key-wrong-key-wrong' },
    });
    assert.equal(wrong.statusCode, 401);
    const ok = await app.inject({
      method: 'GET',
      url: '/api/v1/uploads/00000000-0000-0000-0000-000000000000',
      headers: auth,
    });
    assert.equal(ok.statusCode, 404);
    assert.equal(ok.json().code, 'not_found');
  });

  test('uploads stream to disk, enforce the size limit, and serve content back', async () => {
    const body = Buffer.alloc(3000, 1);
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/uploads?filename=a.mp4',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      payload: body,
    });
    assert.equal(res.statusCode, 201, res.body);
    const { source, upload } = res.json();
    assert.deepEqual(source, { type: 'upload', id: upload.id });
    assert.equal(upload.bytes, 3000);
    assert.deepEqual(await readFile(join(dir, 'uploads', upload.id)), body);
    const content = await app.inject({ url: `/api/v1/uploads/${upload.id}/content`, headers: auth });
    assert.equal(content.rawPayload.length, 3000);

    const big = await app.inject({
      method: 'POST',
      url: '/api/v1/uploads',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(5000),
    });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().code, 'payload_too_large');
    const json = await app.inject({
      method: 'POST',
      url: '/api/v1/uploads',
      headers: auth,
      payload: { a: 1 },
    });
    assert.equal(json.statusCode, 400);
  });

  test('media: content types, ranges (206/416), CORS, no listing, no traversal', async () => {
    const m = await app.inject('/media/job1/master.m3u8');
    assert.equal(m.statusCode, 200);
    assert.equal(m.headers['content-type'], 'application/vnd.apple.mpegurl');
    assert.equal(m.headers['access-control-allow-origin'], '*');
    // DASH over CMAF (issue #17): the MPD revalidates like a playlist, fMP4 segments are cached.
    const mpd = await app.inject('/media/job1/manifest.mpd');
    assert.equal(mpd.headers['content-type'], 'application/dash+xml');
    assert.equal(mpd.headers['cache-control'], 'no-cache');
    const m4s = await app.inject('/media/job1/720p/seg_00000.m4s');
    assert.equal(m4s.headers['content-type'], 'video/iso.segment');
    assert.equal(m4s.headers['cache-control'], 'public, max-age=86400');
    const r = await app.inject({ url: '/media/job1/720p/seg_000.ts', headers: { range: 'bytes=10-19' } });
    assert.equal(r.statusCode, 206);
    assert.equal(r.headers['content-type'], 'video/mp2t');
    assert.equal(r.headers['content-range'], 'bytes 10-19/1000');
    assert.equal(r.rawPayload.length, 10);
    const bad = await app.inject({
      url: '/media/job1/720p/seg_000.ts',
      headers: { range: 'bytes=5000-6000' },
    });
    assert.equal(bad.statusCode, 416);
    for (const url of ['/media/job1/', '/media/job1', '/media/']) {
      const d = await app.inject(url);
      assert.ok([403, 404].includes(d.statusCode), `${url}: ${d.statusCode}`);
      assert.doesNotMatch(d.body, /master\.m3u8/);
    }
    for (const url of [
      '/media/../secret.txt',
      '/media/%2e%2e/secret.txt',
      '/media/job1/..%2f..%2fsecret.txt',
    ]) {
      const t = await app.inject(url);
      assert.notEqual(t.statusCode, 200, url);
      assert.doesNotMatch(t.body, /do not serve/);
    }
    const pre = await app.inject({ method: 'OPTIONS', url: '/media/job1/master.m3u8' });
    assert.equal(pre.statusCode, 204);
    assert.match(String(pre.headers['access-control-allow-headers']), /Range/);
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/coordinator/app.js';
import { staticKeyAuthenticator } from '../../src/coordinator/plugins/auth.js';
import { createJobStore } from '../../src/jobs/index.js';
import { type TestDriver, withTestDatabase } from '../helpers/db.js';

const KEY = 'api-test-admin-key-0123456789';
const READ_KEY = 'api-test-read-key-0123456789';
const H = { authorization: `Bearer ${KEY}` };
const CAPS = { codecs: ['h264'], hwaccel: ['libx264'], maxHeight: 2160, concurrency: 1, tags: [] };
const RESULT = {
  renditions: [{ name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, playlist: '720p/index.m3u8' }],
  masterUrl: 'http://elsewhere/api/v1/agent/outputs/x/master.m3u8',
  publish: { files: [] },
  encode: { backend: 'libx264', fallbacks: [], wallS: 3.5, speed: 2.8 },
};

/** The REST API through `app.inject()` on a real job store, on both database drivers. */
for (const driver of ['pglite', 'postgres'] as TestDriver[]) {
  describe(`REST API on ${driver}`, () => {
    const tdb = withTestDatabase({ driver });
    let app: FastifyInstance;
    let dir: string;
    let uploadId: string;

    const post = (url: string, payload: unknown, headers: Record<string, string> = H) =>
      app.inject({ method: 'POST', url, payload: payload as object, headers });
    const get = (url: string, headers: Record<string, string> = H) =>
      app.inject({ method: 'GET', url, headers });

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'vidmesh-api-'));
      app = await buildApp({
        store: createJobStore(tdb.current.db, { leaseMs: 30_000 }),
        dataDir: dir,
        publicUrl: () => 'http://coord.test',
        version: '0.0.0-test',
        authenticators: [
          staticKeyAuthenticator(KEY, { id: 'api_key:bootstrap', scopes: ['admin'] }),
          staticKeyAuthenticator(READ_KEY, { id: 'api_key:reader', scopes: ['read'] }),
        ],
        checkReady: async () => ({ ok: true, checks: { database: true } }),
        limits: { maxUploadBytes: 1 << 20, maxJsonBodyBytes: 1 << 20, claimMaxWaitMs: 2000, maxAttempts: 3 },
        corsOrigin: '*',
      });
      await app.ready();
      const up = await app.inject({
        method: 'POST',
        url: '/api/v1/uploads',
        headers: { ...H, 'content-type': 'application/octet-stream' },
        payload: Buffer.from('not really a video'),
      });
      uploadId = up.json().upload.id;
    });
    after(async () => {
      await app?.close();
      await rm(dir, { recursive: true, force: true });
    });

    test('submit validates the spec (400 problem with field paths) and refuses unknown uploads', async () => {
      const bad = await post('/api/v1/jobs', {
        source: { type: 'http', url: 'ftp://x' },
        priority: 'urgent',
      });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.headers['content-type'], 'application/problem+json; charset=utf-8');
      const p = bad.json();
      assert.equal(p.code, 'validation_failed');
      assert.ok(
        p.errors.some((e: { path: string }) => e.path.includes('priority')),
        JSON.stringify(p.errors),
      );
      assert.doesNotMatch(bad.body, /at .*\.js:\d+/, 'no stack traces');
      const preset = await post('/api/v1/jobs', {
        source: { type: 'http', url: 'https://example.org/a.mp4' },
        ladder: { ladder: 'foo' },
      });
      assert.equal(preset.statusCode, 400);
      assert.match(preset.json().detail, /unknown ladder preset "foo": valid presets are default/);
      const extra = await post('/api/v1/jobs', {
        source: { type: 'upload', id: uploadId },
        ffmpegArgs: ['-y'],
      });
      assert.equal(extra.statusCode, 400, 'unknown fields (e.g. raw ffmpeg args) are refused');
      const missing = await post('/api/v1/jobs', { source: { type: 'upload', id: 'nope' } });
      assert.equal(missing.statusCode, 400);
      const reader = await post(
        '/api/v1/jobs',
        { source: { type: 'upload', id: uploadId } },
        {
          authorization: `Bearer ${READ_KEY}`,
        },
      );
      assert.equal(reader.statusCode, 403);
      assert.equal(reader.json().code, 'forbidden');
    });

    test('submit 202 with Idempotency-Key; get, list with cursor and filters; secrets never echoed', async () => {
      const spec = {
        source: {
          type: 'http',
          url: 'https://example.com/v.mp4',
          headers: { authorization: 'Bearer s3cret' },
        },
        webhook: { url: 'https://example.com/hook', secret: 'webhook-secret-0123456789' },
        metadata: { title: 'one' },
        priority: 'high',
      };
      const a = await post('/api/v1/jobs', spec, { ...H, 'idempotency-key': 'k1' });
      assert.equal(a.statusCode, 202, a.body);
      assert.match(String(a.headers.location), /\/api\/v1\/jobs\//);
      const b = await post('/api/v1/jobs', spec, { ...H, 'idempotency-key': 'k1' });
      assert.equal(b.json().job.id, a.json().job.id);
      const reused = await post(
        '/api/v1/jobs',
        { ...spec, priority: 'low' },
        { ...H, 'idempotency-key': 'k1' },
      );
      assert.equal(reused.statusCode, 422);
      assert.equal(reused.json().code, 'idempotency_key_reused');
      const job = a.json().job;
      assert.equal(job.status, 'queued');
      assert.equal(job.priority, 'high');
      assert.deepEqual(job.metadata, { title: 'one' });
      assert.deepEqual(
        job.renditions.map((r: { name: string }) => r.name),
        ['1080p', '720p', '480p'],
      );
      assert.doesNotMatch(a.body, /s3cret|webhook-secret/);

      for (let i = 0; i < 4; i++)
        await post('/api/v1/jobs', { source: { type: 'upload', id: uploadId }, queue: 'batch' });
      const page1 = (await get('/api/v1/jobs?limit=2')).json();
      assert.equal(page1.jobs.length, 2);
      assert.ok(page1.nextCursor);
      const page2 = (await get(`/api/v1/jobs?limit=2&cursor=${page1.nextCursor}`)).json();
      assert.equal(page2.jobs.length, 2);
      const ids = new Set([...page1.jobs, ...page2.jobs].map((j: { id: string }) => j.id));
      assert.equal(ids.size, 4);
      const batch = (await get('/api/v1/jobs?queue=batch&limit=100')).json();
      assert.equal(batch.jobs.length, 4);
      assert.equal((await get('/api/v1/jobs?status=completed')).json().jobs.length, 0);
      assert.equal((await get('/api/v1/jobs?status=bogus')).statusCode, 400);
      const one = await get(`/api/v1/jobs/${job.id}`, { authorization: `Bearer ${READ_KEY}` });
      assert.equal(one.json().job.id, job.id);
      assert.equal((await get('/api/v1/jobs/does-not-exist')).statusCode, 404);
    });

    test('agent flow: register (no duplicates), claim, progress, logs, output PUT, complete; stale lease → 409', async () => {
      // Drain what earlier tests queued so this test's job is the one claimed.
      await post('/api/v1/jobs', {
        source: { type: 'upload', id: uploadId },
        queue: 'live',
        priority: 'high',
      });
      const reg = { name: 'node-a', kind: 'community', version: '1.0.0', capabilities: CAPS };
      const r1 = (await post('/api/v1/encoders/register', reg)).json();
      const r2 = (await post('/api/v1/encoders/register', { ...reg, version: '1.0.1' })).json();
      assert.equal(r1.encoder.id, r2.encoder.id);
      const encoders = (await get('/api/v1/encoders')).json().encoders;
      assert.equal(encoders.filter((e: { name: string }) => e.name === 'node-a').length, 1);
      assert.equal(encoders.find((e: { name: string }) => e.name === 'node-a').version, '1.0.1');
      const encoderId = r1.encoder.id as string;
      const load = { cpu: 0.5, memory: 0.25, at: '2026-01-01T00:00:00.000Z' };
      const beat = await post('/api/v1/encoders/heartbeat', {
        encoderId,
        activeJobs: [],
        host: 'node-a.lan',
        load,
      });
      assert.deepEqual(beat.json(), { ok: true });
      const shown = (await get('/api/v1/encoders'))
        .json()
        .encoders.find((e: { id: string }) => e.id === encoderId);
      assert.equal(shown.host, 'node-a.lan', 'the reported host is shown');
      assert.deepEqual(shown.load, load, 'the reported load is shown');
      for (const bad of [{ host: '<b>x</b>' }, { load: { ...load, cpu: 2 } }, { load: { cpu: 0.1 } }]) {
        const refused = await post('/api/v1/encoders/heartbeat', { encoderId, activeJobs: [], ...bad });
        assert.equal(refused.statusCode, 400, JSON.stringify(bad));
      }

      const claim = await post('/api/v1/agent/claim', { encoderId, waitMs: 1000 });
      assert.equal(claim.statusCode, 200, claim.body);
      const c = claim.json();
      assert.equal(c.job.spec.queue, 'live');
      assert.equal(c.job.attempt, 1);
      const lease = { encoderId, jobId: c.job.id, leaseToken: c.leaseToken };

      const prog = await post('/api/v1/agent/progress', {
        ...lease,
        stage: 'encoding',
        progress: 42,
        etaS: 7,
        speed: 2,
        fps: 50,
        renditions: [{ name: '720p', status: 'running', progress: 40 }],
        logs: ['frame=100 fps=50', 'pipeline: encoding'],
      });
      assert.equal(prog.statusCode, 200, prog.body);
      assert.equal(prog.json().cancelled, false);
      const running = (await get(`/api/v1/jobs/${c.job.id}`)).json().job;
      assert.equal(running.status, 'running');
      assert.equal(running.stage, 'encoding');
      assert.equal(running.progress, 42);
      assert.equal(running.etaS, 7);
      assert.deepEqual([running.speed, running.fps], [2, 50], 'speed and fps as reported');
      assert.equal(running.encoderId, encoderId);
      const logs = (await get(`/api/v1/jobs/${c.job.id}/logs`)).json();
      assert.deepEqual(
        logs.lines.map((l: { line: string }) => l.line),
        ['frame=100 fps=50', 'pipeline: encoding'],
      );

      const monitor = (await get(`/api/v1/monitor/jobs/${c.job.id}/ownership?encoder=${encoderId}`)).json();
      assert.equal(monitor.isOwned, true);
      assert.equal(monitor.isSafeToProcess, true);
      const other = (await get(`/api/v1/monitor/jobs/${c.job.id}/ownership?encoder=someone`)).json();
      assert.equal(other.isOwned, false);
      assert.equal((await get(`/api/v1/monitor/jobs/${c.job.id}/availability`)).json().available, false);
      assert.equal((await get(`/api/v1/monitor/jobs/${c.job.id}`)).json().owner, encoderId);

      const put = (path: string, token: string) =>
        app.inject({
          method: 'PUT',
          url: `/api/v1/agent/outputs/${c.job.id}/${path}`,
          headers: { ...H, 'x-lease-token': token, 'content-type': 'application/vnd.apple.mpegurl' },
          payload: '#EXTM3U\n',
        });
      assert.equal((await put('master.m3u8', c.leaseToken)).statusCode, 201);
      assert.equal(await readFile(join(dir, 'media', c.job.id, 'master.m3u8'), 'utf8'), '#EXTM3U\n');
      assert.equal((await put('master.m3u8', 'wrong-token')).statusCode, 409);
      for (const evil of ['..%2F..%2Fevil.txt', '%2e%2e/evil.txt', 'a/../../evil.txt']) {
        const res = await put(evil, c.leaseToken);
        assert.ok(res.statusCode >= 400, `${evil}: ${res.statusCode}`);
      }

      const stale = await post('/api/v1/agent/progress', {
        ...lease,
        leaseToken: 'stale',
        stage: 'encoding',
        progress: 1,
      });
      assert.equal(stale.statusCode, 409);
      assert.equal(stale.json().code, 'lease_lost');

      const done = await post('/api/v1/agent/complete', { ...lease, result: RESULT });
      assert.equal(done.statusCode, 200, done.body);
      const again = await post('/api/v1/agent/complete', { ...lease, result: RESULT });
      assert.equal(again.statusCode, 200, 'complete is idempotent for the same lease');
      const job = (await get(`/api/v1/jobs/${c.job.id}`)).json().job;
      assert.equal(job.status, 'completed');
      assert.equal(job.result.masterUrl, `http://coord.test/media/${c.job.id}/master.m3u8`);
      assert.equal(job.result.renditions[0].url, `http://coord.test/media/${c.job.id}/720p/index.m3u8`);
      assert.deepEqual(
        job.renditions,
        [
          { name: '720p', status: 'completed', progress: 100 },
          { name: '1080p', status: 'skipped', progress: 0 },
          { name: '480p', status: 'skipped', progress: 0 },
        ],
        'produced first, then what was requested but not produced (skipped)',
      );
      assert.equal(
        (await post('/api/v1/agent/fail', { ...lease, error: { code: 'x', message: 'y' }, retryable: true }))
          .statusCode,
        409,
      );
      const history = (await get(`/api/v1/jobs/${c.job.id}/history`)).json().events;
      assert.deepEqual(
        history.map((e: { to: string }) => e.to),
        ['queued', 'leased', 'running', 'completed'],
      );
    });

    test('cancel is seen by the next progress call; retry re-queues; fail → failed with backoff', async () => {
      const { encoder } = (
        await post('/api/v1/encoders/register', {
          name: 'node-b',
          kind: 'community',
          version: '1',
          capabilities: CAPS,
        })
      ).json();
      const submitted = (
        await post('/api/v1/jobs', { source: { type: 'upload', id: uploadId }, queue: 'live' })
      ).json().job;
      let c = (await post('/api/v1/agent/claim', { encoderId: encoder.id, waitMs: 1000 })).json();
      while (c.job.id !== submitted.id) {
        await post('/api/v1/agent/complete', {
          encoderId: encoder.id,
          jobId: c.job.id,
          leaseToken: c.leaseToken,
          result: RESULT,
        });
        c = (await post('/api/v1/agent/claim', { encoderId: encoder.id, waitMs: 1000 })).json();
      }
      const lease = { encoderId: encoder.id, jobId: c.job.id, leaseToken: c.leaseToken };
      const del = await app.inject({ method: 'DELETE', url: `/api/v1/jobs/${c.job.id}`, headers: H });
      assert.equal(del.json().job.status, 'cancelled');
      const prog = await post('/api/v1/agent/progress', { ...lease, stage: 'encoding', progress: 50 });
      assert.ok(prog.statusCode === 409 || prog.json().cancelled === true, prog.body);
      const retried = await post(`/api/v1/jobs/${c.job.id}/retry`, {});
      assert.equal(retried.statusCode, 202, retried.body);
      assert.equal(retried.json().job.status, 'queued');

      const c2 = (await post('/api/v1/agent/claim', { encoderId: encoder.id, waitMs: 1000 })).json();
      const failed = await post('/api/v1/agent/fail', {
        encoderId: encoder.id,
        jobId: c2.job.id,
        leaseToken: c2.leaseToken,
        error: { code: 'ffmpeg_crashed', message: 'boom' },
        retryable: true,
      });
      assert.equal(failed.statusCode, 200, failed.body);
      assert.equal(failed.json().job.status, 'failed');
      assert.equal(failed.json().job.error.code, 'ffmpeg_crashed');
    });

    test('claim long-polls: 204 after waitMs when nothing fits', async () => {
      const { encoder } = (
        await post('/api/v1/encoders/register', {
          name: 'tiny',
          kind: 'browser',
          version: '1',
          capabilities: { ...CAPS, tags: ['nothing-matches'], codecs: ['vp9'] },
        })
      ).json();
      const t0 = Date.now();
      const res = await post('/api/v1/agent/claim', { encoderId: encoder.id, waitMs: 300 });
      assert.equal(res.statusCode, 204, res.body);
      assert.ok(Date.now() - t0 >= 250);
      assert.equal((await post('/api/v1/agent/claim', { encoderId: 'unknown', waitMs: 0 })).statusCode, 404);
    });

    test('openapi: every API route has an operationId and a response schema', async () => {
      const doc = (await get('/openapi.json')).json() as {
        paths: Record<string, Record<string, { operationId?: string; responses?: object }>>;
      };
      const ops = Object.entries(doc.paths).flatMap(([p, m]) =>
        Object.entries(m).map(([k, o]) => ({ p, k, o })),
      );
      const api = ops.filter((x) => x.p.startsWith('/api/'));
      assert.ok(api.length >= 20, `${api.length} API operations`);
      for (const { p, k, o } of api) {
        assert.ok(o.operationId, `${k} ${p} has an operationId`);
      }
      await writeFile(join(dir, 'openapi.json'), JSON.stringify(doc));
    });
  });
}

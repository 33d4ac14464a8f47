import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { staticKeyAuthenticator } from '../../src/coordinator/plugins/auth.js';
import { readPipelineLog } from '../../src/coordinator/routes/dashboard.js';
import type { JobStore } from '../../src/jobs/index.js';
import { injectableApp } from './inject-app.js';

/**
 * The dashboard's read-only aggregate routes through `app.inject()` on the real app and a PGlite store:
 * the fleet view (a job mid-encode with its speed and fps estimated from the encoder's probe and plan
 * log lines, the last error of an encoder, the summary), one job's facts, and the history windows.
 */
describe('dashboard API: fleet, job facts, history windows', () => {
  let dir: string;
  let store: JobStore;
  let app: FastifyInstance;
  let close: (() => Promise<void>) | undefined;
  const KEY = 'dashboard-api-test-admin-key';
  const caps = { codecs: ['h264', 'aac'], hwaccel: [], maxHeight: 2160, concurrency: 2, tags: ['gpu-box'] };
  const get = async <T>(url: string) => {
    const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
    return res.json() as T;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-dashboard-api-'));
    ({ app, store, close } = await injectableApp(dir, {
      authenticators: [staticKeyAuthenticator(KEY, { id: 'api_key:bootstrap', scopes: ['admin'] })],
    }));
  });

  after(async () => {
    await close?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('an encoding job shows its speed, fps and source; a failed one is the encoder’s last error', async () => {
    const enc = await store.registerEncoder({ name: 'box-1', kind: 'infrastructure', capabilities: caps });
    const ref = { id: enc.id, kind: enc.kind };
    const failing = await store.submit({ spec: {}, renditions: ['480p'], maxAttempts: 1 });
    const c1 = await store.claim(ref, caps);
    assert.equal(c1?.job.id, failing.id);
    await store.fail(failing.id, c1.leaseToken, enc.id, { code: 'probe_failed', message: 'no video stream' });

    const running = await store.submit({ spec: {}, renditions: ['720p'] });
    const c2 = await store.claim(ref, caps);
    assert.equal(c2?.job.id, running.id);
    await store.appendLogs(running.id, c2.leaseToken, enc.id, [
      '[vidmesh] probed: mov,mp4,m4a,3gp,3g2,mj2, 10.00 s, h264 1920x1080 @ 25.00 fps',
      '[vidmesh] plan: 720p (2 s segments, ts, fast)',
    ]);
    await store.renew(running.id, c2.leaseToken, enc.id, { stage: 'encoding', progress: 50 });
    await new Promise((r) => setTimeout(r, 50));

    const fleet = await get<{
      encoders: Array<{
        id: string;
        tags: string[];
        jobs: Array<{ id: string; stage: string; speed: number | null; fps: number | null; source: unknown }>;
        lastError: { jobId: string; code: string } | null;
      }>;
      summary: { online: Record<string, number>; running: number; slots: number; speed: number | null };
    }>('/api/v1/dashboard/encoders');
    const row = fleet.encoders.find((e) => e.id === enc.id);
    assert.ok(row);
    assert.deepEqual(row.tags, ['gpu-box']);
    assert.deepEqual(row.lastError && { jobId: row.lastError.jobId, code: row.lastError.code }, {
      jobId: failing.id,
      code: 'probe_failed',
    });
    assert.equal(row.jobs.length, 1);
    const [job] = row.jobs;
    assert.equal(job.id, running.id);
    assert.equal(job.stage, 'encoding');
    assert.deepEqual(job.source, {
      container: 'mov,mp4,m4a,3gp,3g2,mj2',
      durationS: 10,
      video: { codec: 'h264', width: 1920, height: 1080, fps: 25 },
    });
    // 5 s of source encoded since the plan line was logged (moments ago): far faster than realtime.
    assert.ok(job.speed !== null && job.speed > 1, `speed ${job.speed}`);
    assert.ok(Math.abs((job.fps ?? 0) - job.speed * 25) < 1e-6);
    assert.equal(fleet.summary.online.infrastructure, 1);
    assert.equal(fleet.summary.running, 1);
    assert.equal(fleet.summary.slots, 2);
    assert.equal(fleet.summary.speed, job.speed);

    const facts = await get<{
      source: { durationS: number } | null;
      timing: { waitS: number | null; encodeS: number | null; totalS: number | null };
      downloads: unknown[];
    }>(`/api/v1/dashboard/jobs/${running.id}`);
    assert.equal(facts.source?.durationS, 10);
    assert.ok(facts.timing.waitS !== null && facts.timing.waitS >= 0);
    assert.equal(facts.timing.encodeS, null);
    assert.equal(facts.timing.totalS, null);
    assert.deepEqual(facts.downloads, []);
  });

  test('history windows: bucket count and width; an unknown window is refused', async () => {
    for (const [window, buckets, bucketS] of [
      ['1h', 12, 300],
      ['24h', 24, 3600],
      ['7d', 28, 21_600],
    ] as const) {
      const o = await get<{ window: string; bucketS: number; throughput: Array<{ waitS: number | null }> }>(
        `/api/v1/dashboard/overview?window=${window}`,
      );
      assert.equal(o.window, window);
      assert.equal(o.bucketS, bucketS);
      assert.equal(o.throughput.length, buckets);
    }
    const bad = await app.inject({
      method: 'GET',
      url: '/api/v1/dashboard/overview?window=1y',
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(bad.statusCode, 400);
  });

  test('pipeline log parsing: audio-only sources, the newest attempt only', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const line = (seq: number, text: string) => ({ seq, stream: 'pipeline', line: text, at: at(seq) });
    const lines = [
      line(1, '[vidmesh] probed: mov,mp4,m4a,3gp,3g2,mj2, 10.00 s, h264 1920x1080 @ 25.00 fps'),
      line(2, '[vidmesh] plan: 1080p, 720p (2 s segments, ts, fast)'),
      line(3, '[vidmesh] probed: ogg, 61.50 s, audio only'),
    ];
    assert.deepEqual(readPipelineLog(lines), {
      source: { container: 'ogg', durationS: 61.5 },
      encodingSince: at(2),
    });
    assert.deepEqual(readPipelineLog(lines, at(3)), {
      source: { container: 'ogg', durationS: 61.5 },
      encodingSince: null,
    });
  });
});

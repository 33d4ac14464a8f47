import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type GatewayJob, threeSpeakSubmitInput } from '../../src/compat/threespeak/index.js';
import type { JobStore } from '../../src/jobs/index.js';
import { type GatewayPlugin, startGatewayPlugin } from './gateway-harness.js';
import { LegacyClient } from './legacy-client.js';

describe('Gateway Aid and Gateway Monitor on the vidmesh coordinator', () => {
  let gw: GatewayPlugin;
  let store: JobStore;
  let url: string;
  let allowed: LegacyClient;
  let allowed2: LegacyClient;
  let stranger: LegacyClient;

  before(async () => {
    allowed = await LegacyClient.create('http://127.0.0.1/');
    allowed2 = await LegacyClient.create('http://127.0.0.1/');
    stranger = await LegacyClient.create('http://127.0.0.1/');
    gw = await startGatewayPlugin({ aidDids: [allowed.id, allowed2.id] });
    ({ store, url } = gw);
    for (const c of [allowed, allowed2, stranger]) (c as { base: string }).base = url;
  });
  after(async () => {
    await gw?.close();
  });

  const aid = (c: LegacyClient, path: string, body: Record<string, unknown>) =>
    c.post(`/aid/v1/${path}`, { ...body, timestamp: new Date().toISOString() });

  it('claims, updates and fails a job for allowlisted, signed DIDs only', async () => {
    const job = await store.submit(
      threeSpeakSubmitInput({
        input: { uri: 'https://videos.example/source.mp4', size: 99 },
        metadata: { video_owner: 'bob', video_permlink: 'aid' },
      }),
    );
    assert.equal((await stranger.get('/aid/v1/health')).status, 200);

    const refused = await aid(stranger, 'list-jobs', {});
    assert.equal(refused.status, 401);
    assert.equal((refused.body as { data: { code: string } }).data.code, 'ENCODER_NOT_AUTHORIZED');

    // 3Speak's Aid trusted an unsigned header; vidmesh refuses it.
    const unsigned = await fetch(`${url}/aid/v1/list-jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-encoder-did': allowed.id },
      body: '{}',
    });
    assert.equal(unsigned.status, 400);
    const stale = await allowed.post('/aid/v1/list-jobs', { timestamp: '2020-01-01T00:00:00Z' });
    assert.equal(stale.status, 401);

    const list = await aid(allowed, 'list-jobs', {});
    assert.equal(list.status, 200);
    const jobs = (list.body as { success: boolean; jobs: GatewayJob[] }).jobs;
    assert.deepEqual(
      jobs.map((j) => j.id),
      [job.id],
    );
    assert.equal(jobs[0]?.metadata.video_permlink, 'aid');

    const claimed = await aid(allowed, 'claim-job', { job_id: job.id });
    assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
    assert.equal((claimed.body as { job: GatewayJob }).job.assigned_to, allowed.id);
    assert.equal((await aid(allowed2, 'claim-job', { job_id: job.id })).status, 409);
    assert.equal(
      (await aid(allowed, 'claim-job', { job_id: job.id })).status,
      200,
      'idempotent for the holder',
    );

    const upd = await aid(allowed, 'update-job', {
      job_id: job.id,
      status: 'running',
      progress: { pct: 37 },
    });
    assert.equal(upd.status, 200);
    assert.equal((await aid(allowed2, 'update-job', { job_id: job.id, progress: { pct: 1 } })).status, 409);

    const mon = await stranger.get(`/api/jobs/${job.id}`);
    const data = (mon.body as { success: boolean; data: Record<string, unknown> }).data;
    assert.equal((mon.body as { success: boolean }).success, true);
    assert.equal(data.status, 'running');
    assert.equal(data.assigned_to, allowed.id);
    assert.deepEqual(data.progress, { download_pct: 100, pct: 37 });
    assert.equal((await stranger.get('/api/jobs/nope')).status, 404);

    const missing = await aid(allowed, 'complete-job', {
      job_id: job.id,
      result: { cid: 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG' },
    });
    assert.equal(missing.status, 422);

    const failed = await aid(allowed, 'update-job', {
      job_id: job.id,
      status: 'failed',
      error: 'ffmpeg exploded',
    });
    assert.equal(failed.status, 200);
    const after = await store.get(job.id);
    assert.equal(after.status, 'failed', 'retryable: back to the queue after backoff');
    assert.equal(after.lastError?.message, 'ffmpeg exploded');
  });
});

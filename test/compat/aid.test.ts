import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type GatewayJob, threeSpeakSubmitInput } from '../../src/compat/threespeak/index.js';
import { loadConfig } from '../../src/config.js';
import type { JobStore } from '../../src/jobs/index.js';
import { type GatewayPlugin, serveGateway, startGatewayPlugin } from './gateway-harness.js';
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

    // 3Speak's Aid trusted an unsigned header; vidmesh refuses it (these DIDs have no Aid secret).
    const unsigned = await fetch(`${url}/aid/v1/list-jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-encoder-did': allowed.id },
      body: '{}',
    });
    assert.equal(unsigned.status, 401);
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

/**
 * A POST as the real client's GatewayAidService makes it with axios (Mantequilla-Soft/3speakencoder
 * fdf0111): `baseURL` + path, a JSON body, `X-Encoder-DID`, and — axios's http adapter — the base URL's
 * user-info handed to `http.request` as `auth` (sent as `Authorization: Basic`).
 */
function realAidPost(
  baseUrl: string,
  path: string,
  did: string,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const parsed = new URL(`${baseUrl}${path}`);
  const auth = parsed.username ? `${parsed.username}:${parsed.password}` : undefined;
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: parsed.hostname,
        port: parsed.port,
        path: parsed.pathname,
        method: 'POST',
        ...(auth ? { auth } : {}),
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'x-encoder-did': did,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe("Gateway Aid with the real client's unsigned requests and a per-node secret (VIDMESH_3SPEAK_AID_SECRETS)", () => {
  it("accepts the node that presents its own secret (URL user-info as Basic, or Bearer); a forged X-Encoder-DID alone, a wrong secret or another node's secret is 401", async () => {
    const node = await LegacyClient.create('http://127.0.0.1/');
    const other = await LegacyClient.create('http://127.0.0.1/');
    const secret = 'aid-secret-0123456789abcdef0123';
    const otherSecret = 'aid-secret-of-the-other-node-01';
    const s = await serveGateway({
      env: { VIDMESH_3SPEAK_AID_SECRETS: `${node.id}=${secret},${other.id}=${otherSecret}` },
    });
    try {
      const id = await s.submit('aid-real', 'https://videos.example/source.mp4');
      const host = new URL(s.server.url).host;
      // What the operator tells the node to set: GATEWAY_AID_BASE_URL=http://aid:<secret>@<vidmesh>/aid/v1
      const base = `http://aid:${secret}@${host}/aid/v1`;
      const plain = `http://${host}/aid/v1`;

      const forged = await realAidPost(plain, '/list-jobs', node.id, {});
      assert.equal(forged.status, 401, 'the header alone proves nothing');
      assert.equal((forged.body.data as { code: string }).code, 'ENCODER_NOT_AUTHORIZED');
      assert.equal(
        (
          await realAidPost(
            `http://aid:wrong-secret-0123456789abcdef@${host}/aid/v1`,
            '/list-jobs',
            node.id,
            {},
          )
        ).status,
        401,
      );
      assert.equal(
        (await realAidPost(base, '/claim-job', other.id, { job_id: id })).status,
        401,
        "one node's secret does not open another DID",
      );
      assert.equal(
        (await s.server.store.get(id)).status,
        'queued',
        'nothing was claimed by the refused requests',
      );

      const list = await realAidPost(base, '/list-jobs', node.id, {});
      assert.equal(list.status, 200);
      assert.deepEqual(
        (list.body.jobs as GatewayJob[]).map((j) => j.id),
        [id],
      );
      const claimed = await realAidPost(base, '/claim-job', node.id, { job_id: id });
      assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
      assert.equal((claimed.body.job as GatewayJob).assigned_to, node.id);
      const progress = await realAidPost(base, '/update-job', node.id, {
        job_id: id,
        status: 'running',
        progress: { pct: 42, download_pct: 100 },
      });
      assert.equal(progress.status, 200);
      assert.equal((await s.server.store.get(id)).progress, 42);
      // Bearer works as well (a client or proxy that sets the header itself).
      const bearer = await fetch(`${s.server.url}/aid/v1/update-job`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-encoder-did': node.id,
          authorization: `Bearer ${secret}`,
        },
        body: JSON.stringify({ job_id: id, status: 'failed', error: 'ffmpeg exploded' }),
      });
      assert.equal(bearer.status, 200);
      const failed = await s.server.store.get(id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.lastError?.message, 'ffmpeg exploded');
    } finally {
      await s.close();
    }
  });

  it('refuses to start with a malformed VIDMESH_3SPEAK_AID_SECRETS entry, naming the variable', () => {
    assert.throws(
      () => loadConfig({ flags: {}, env: { VIDMESH_3SPEAK_AID_SECRETS: 'did:key:z6MkNotReally=short' } }),
      /VIDMESH_3SPEAK_AID_SECRETS/,
    );
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  type DirectApi,
  kuboRpcRoutes,
  readIpfsFile,
  startDirectApi,
} from '../../src/compat/threespeak/index.js';
import { generateIdentity } from '../../src/identity/index.js';
import { makeClip } from '../helpers/media.js';

const _run = promisify(execFile);
const KEY = 'direct-api-test-key-0123456789';

describe('Direct API on the vidmesh 3Speak encoder', () => {
  let dir: string;
  let kubo: FastifyInstance;
  let hooks: FastifyInstance;
  let api: DirectApi;
  let kuboUrl = '';
  let hookUrl = '';
  const received: Array<{ path: string; key: unknown; body: Record<string, unknown> }> = [];
  let inputCid = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-3speak-direct-'));
    kubo = Fastify();
    await kubo.register(async (k) => kuboRpcRoutes(k, { blockstoreDir: join(dir, 'kubo'), version: 't' }));
    await kubo.listen({ port: 0, host: '127.0.0.1' });
    kuboUrl = `http://127.0.0.1:${(kubo.server.address() as { port: number }).port}`;
    hooks = Fastify();
    hooks.post('/*', async (req) => {
      received.push({
        path: req.url,
        key: req.headers['x-api-key'],
        body: req.body as Record<string, unknown>,
      });
      return { ok: true };
    });
    await hooks.listen({ port: 0, host: '127.0.0.1' });
    hookUrl = `http://127.0.0.1:${(hooks.server.address() as { port: number }).port}/hooks/encoded`;
    const clip = join(dir, 'clip.mp4');
    await makeClip(clip, { seconds: 2 });
    // The raw upload lives on IPFS (input_cid), as 3Speak's upload service leaves it.
    const form = new FormData();
    form.append('file', new Blob([await readFile(clip)]), 'clip.mp4');
    const res = await fetch(`${kuboUrl}/api/v0/add`, { method: 'POST', body: form });
    inputCid = (JSON.parse((await res.text()).trim().split('\n').pop() ?? '{}') as { Hash: string }).Hash;
    api = await startDirectApi({
      apiKey: KEY,
      port: 0,
      host: '127.0.0.1',
      encoderId: generateIdentity().did,
      workDir: join(dir, 'work'),
      kuboApiUrl: kuboUrl,
      storage: {
        localRoot: join(dir, 'local'),
        fileRoots: [],
        ssrf: {},
        ipfs: { blockstoreDir: join(dir, 'ipfs'), kuboApiUrl: kuboUrl },
      },
      speed: 'ultrafast',
      webhookPolicy: { allowHosts: ['127.0.0.1'] },
      progressIntervalMs: 100,
    });
  });
  after(async () => {
    await api?.close();
    await kubo?.close();
    await hooks?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('submits, polls and delivers the legacy completion webhook', async () => {
    assert.equal((await fetch(`${api.url}/health`)).status, 200);
    const body = {
      owner: 'erin',
      permlink: 'direct-1',
      input_cid: inputCid,
      webhook_url: hookUrl,
      api_key: 'webhook-secret',
      short: false,
      frontend_app: 'test',
    };
    const post = (headers: Record<string, string>) =>
      fetch(`${api.url}/encode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    assert.equal((await post({})).status, 401);
    assert.equal((await post({ 'x-api-key': 'wrong-key-wrong-key' })).status, 401);
    const bad = await fetch(`${api.url}/encode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ ...body, input_cid: 'not-a-cid' }),
    });
    assert.equal(bad.status, 400);
    const created = await post({ authorization: `Bearer ${KEY}` });
    assert.equal(created.status, 201);
    const { job_id: jobId, status } = (await created.json()) as { job_id: string; status: string };
    assert.equal(status, 'queued');

    const deadline = Date.now() + 45_000;
    let job: { status: string; result?: { manifest_cid: string; qualities_encoded: string[] } } = {
      status: '',
    };
    while (Date.now() < deadline) {
      job = (await (
        await fetch(`${api.url}/job/${jobId}`, { headers: { 'x-api-key': KEY } })
      ).json()) as typeof job;
      if (job.status === 'complete' || job.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(job.status, 'complete', JSON.stringify(job));
    const list = (await (await fetch(`${api.url}/jobs`, { headers: { 'x-api-key': KEY } })).json()) as {
      jobs: Array<{ job_id: string }>;
    };
    assert.ok(list.jobs.some((j) => j.job_id === jobId));

    await new Promise((r) => setTimeout(r, 300));
    const done = received.find((r) => r.path === '/hooks/encoded');
    assert.ok(done, 'completion webhook delivered');
    assert.equal(done.key, 'webhook-secret');
    const cid = String(done.body.manifest_cid);
    assert.equal(done.body.status, 'complete');
    assert.equal(done.body.video_url, `ipfs://${cid}/manifest.m3u8`);
    assert.deepEqual(done.body.qualities_encoded, ['480p'], 'non-premium: 480p only');
    assert.equal(done.body.owner, 'erin');
    assert.equal(done.body.permlink, 'direct-1');
    assert.equal(done.body.input_cid, inputCid);
    assert.equal(done.body.job_id, jobId);
    assert.equal(typeof done.body.processing_time_seconds, 'number');
    assert.ok(
      received.some((r) => r.path === '/hooks/encoded/progress' && typeof r.body.progress === 'number'),
    );
    const manifest = (await readIpfsFile(join(dir, 'kubo'), cid, 'manifest.m3u8')).toString();
    assert.match(manifest, /480p\/index\.m3u8/);
  });

  it('delivers the legacy failure webhook when the source cannot be fetched', async () => {
    // A well-formed CID that nothing ever added: the kubo node has no block for it.
    const missing = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
    const res = await fetch(`${api.url}/encode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({
        owner: 'frank',
        permlink: 'direct-fail',
        input_cid: missing,
        webhook_url: hookUrl,
        api_key: 'webhook-secret-2',
        short: true,
      }),
    });
    assert.equal(res.status, 201);
    const { job_id: jobId } = (await res.json()) as { job_id: string };
    const deadline = Date.now() + 30_000;
    let job: { status: string; error?: string } = { status: '' };
    while (Date.now() < deadline) {
      job = (await (
        await fetch(`${api.url}/job/${jobId}`, { headers: { 'x-api-key': KEY } })
      ).json()) as typeof job;
      if (job.status === 'complete' || job.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(job.status, 'failed', JSON.stringify(job));
    assert.ok(job.error, 'the poll view names the error');
    let hook: (typeof received)[number] | undefined;
    while (!hook && Date.now() < deadline) {
      hook = received.find((r) => r.path === '/hooks/encoded' && r.body.job_id === jobId);
      if (!hook) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(hook, 'failure webhook delivered');
    assert.equal(hook.key, 'webhook-secret-2');
    assert.equal(hook.body.status, 'failed');
    assert.equal(hook.body.owner, 'frank');
    assert.equal(hook.body.permlink, 'direct-fail');
    assert.equal(hook.body.input_cid, missing);
    assert.equal(hook.body.progress, 0);
    assert.deepEqual(hook.body.qualities_encoded, []);
    assert.equal(hook.body.error, job.error);
    assert.equal(hook.body.manifest_cid, undefined, 'no result on failure');
    assert.equal(typeof hook.body.processing_time_seconds, 'number');
  });
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CoordinatorRejectedError,
  CoordinatorUnavailableError,
  LeaseLostError,
} from '../../src/encoder/errors.js';
import { createHttpTransport } from '../../src/encoder/http-transport.js';
import {
  createMemoryNonceStore,
  generateIdentity,
  signRequest,
  verifySignedRequest,
} from '../../src/identity/index.js';
import { startStandIn } from './stand-in.js';

const KEY = 'test-key-0123456789abcdef';
const lease = { jobId: 'job1', leaseToken: 'tok1' };
let standIn: Awaited<ReturnType<typeof startStandIn>>;

before(async () => {
  standIn = await startStandIn({
    'POST /api/v1/encoders/register': () => ({ status: 200, body: { encoder: { id: 'enc-1', name: 'x' } } }),
    'POST /api/v1/encoders/heartbeat': () => ({ status: 200, body: { ok: true } }),
    'POST /api/v1/agent/claim': () => ({
      status: 200,
      body: {
        job: {
          id: 'job1',
          spec: { source: { type: 'http', url: 'http://x/' } },
          renditions: ['720p'],
          attempt: 1,
        },
        leaseToken: 'tok1',
        leaseExpiresAt: '2030-01-01T00:00:00.000Z',
        secretField: 'ignored',
      },
    }),
    'POST /api/v1/agent/progress': () => ({
      status: 409,
      body: {
        type: 'about:blank',
        title: 'Conflict',
        status: 409,
        code: 'lease_lost',
        detail: 'stale token',
      },
    }),
    'POST /api/v1/agent/complete': () => ({ status: 503, body: { code: 'unavailable', detail: 'db down' } }),
    'POST /api/v1/agent/fail': () => ({ status: 401, body: { code: 'unauthorized', detail: 'bad key' } }),
    'POST /api/v1/agent/release': () => ({ status: 200, body: {} }),
  });
});
after(() => standIn.close());

test('register, heartbeat and claim speak the contract with Bearer auth', async () => {
  const t = createHttpTransport({ url: standIn.url + '/', apiKey: KEY });
  assert.deepEqual(
    await t.register({
      name: 'n',
      kind: 'community',
      version: '0.1.0',
      capabilities: { codecs: ['h264'], hwaccel: ['libx264'], maxHeight: 1080, concurrency: 1, tags: [] },
    }),
    { encoderId: 'enc-1' },
  );
  await t.heartbeat('enc-1', ['job1']);
  const job = await t.claim('enc-1', 1000);
  assert.ok(job);
  assert.equal(job.id, 'job1');
  assert.equal(job.leaseToken, 'tok1');
  assert.deepEqual(job.renditions, ['720p']);
  assert.equal((job as unknown as Record<string, unknown>).secretField, undefined);
  const seen = standIn.seen.slice(-3);
  for (const r of seen) assert.equal(r.headers.authorization, `Bearer ${KEY}`);
  assert.deepEqual(seen[1]?.body, { encoderId: 'enc-1', activeJobs: ['job1'] });
  assert.deepEqual(seen[2]?.body, { encoderId: 'enc-1', waitMs: 1000 });
});

test('409 becomes LeaseLostError, 5xx unavailable (retryable), 401 rejected', async () => {
  const t = createHttpTransport({ url: standIn.url, apiKey: KEY });
  await assert.rejects(t.progress('enc-1', lease, { stage: 'encoding', progress: 5 }), (err: unknown) => {
    assert.ok(err instanceof LeaseLostError);
    assert.equal(err.code, 'lease_lost');
    return true;
  });
  await assert.rejects(
    t.complete('enc-1', lease, {
      renditions: [],
      masterUrl: 'x',
      publish: {},
      encode: { backend: 'libx264', fallbacks: [], wallS: 1, speed: 1 },
    }),
    (err: unknown) => err instanceof CoordinatorUnavailableError && err.retryable,
  );
  await assert.rejects(
    t.fail('enc-1', lease, { error: { code: 'x', message: 'y' }, retryable: true }),
    (err: unknown) => err instanceof CoordinatorRejectedError && err.details?.code === 'unauthorized',
  );
  await t.release('enc-1', lease, 'shutdown');
  assert.deepEqual(standIn.seen.at(-1)?.body, {
    encoderId: 'enc-1',
    jobId: 'job1',
    leaseToken: 'tok1',
    reason: 'shutdown',
  });
});

test('204 claim is null; an aborted long-poll returns null at once', async () => {
  standIn.routes['POST /api/v1/agent/claim'] = async (r) => {
    const waitMs = (r.body as { waitMs: number }).waitMs;
    await new Promise((res) => setTimeout(res, Math.min(waitMs, 3000)));
    return { status: 204 };
  };
  const t = createHttpTransport({ url: standIn.url, apiKey: KEY });
  assert.equal(await t.claim('enc-1', 50), null);
  const controller = new AbortController();
  const started = Date.now();
  const pending = t.claim('enc-1', 3000, controller.signal);
  setTimeout(() => controller.abort(), 100);
  assert.equal(await pending, null);
  assert.ok(Date.now() - started < 2000, 'abort ends the long-poll early');
});

test('unreachable coordinator is a retryable CoordinatorUnavailableError', async () => {
  const t = createHttpTransport({ url: 'http://127.0.0.1:1', apiKey: KEY, timeoutMs: 2000 });
  await assert.rejects(t.heartbeat('e', []), (err: unknown) => err instanceof CoordinatorUnavailableError);
});

test('a pluggable authenticator sees the exact method, path and body sent', async () => {
  const signed: Array<{ method: string; path: string; body: string }> = [];
  const t = createHttpTransport({
    url: standIn.url,
    authenticate: (req) => {
      signed.push(req);
      return { authorization: `DIDJWS sig-of-${req.body.length}` };
    },
  });
  await t.heartbeat('enc-9', []);
  const last = standIn.seen.at(-1)!;
  assert.equal(signed[0]?.path, '/api/v1/encoders/heartbeat');
  assert.equal(signed[0]?.method, 'POST');
  assert.deepEqual(JSON.parse(signed[0]!.body), last.body);
  assert.equal(last.headers.authorization, `DIDJWS sig-of-${signed[0]!.body.length}`);
});

test('remote outputs and uploads carry auth and the lease token', () => {
  const t = createHttpTransport({ url: standIn.url + '/base/', apiKey: KEY });
  const out = t.remoteOutputs!({ jobId: 'j/1', leaseToken: 'tok' });
  assert.equal(out.baseUrl, `${standIn.url}/base/api/v1/agent/outputs/j%2F1/`);
  assert.deepEqual(out.headers, { authorization: `Bearer ${KEY}`, 'x-lease-token': 'tok' });
  assert.equal(t.remoteUploads!().baseUrl, `${standIn.url}/base`);
  assert.throws(() => createHttpTransport({ url: 'file:///etc/passwd' }));
});

test('did:key request signing plugs in: every call verifies on the receiving side, replays do not', async () => {
  const identity = generateIdentity();
  const t = createHttpTransport({ url: standIn.url, authenticate: (req) => signRequest(identity, req) });
  await t.heartbeat('enc-1', ['job1']);
  await t.release('enc-1', lease, 'shutdown');
  const nonceStore = createMemoryNonceStore();
  for (const r of standIn.seen.slice(-2)) {
    const incoming = { method: r.method, path: r.path, body: r.raw, headers: r.headers };
    const { did } = await verifySignedRequest(incoming, { nonceStore });
    assert.equal(did, identity.did);
    await assert.rejects(verifySignedRequest(incoming, { nonceStore }), /replay|nonce/i);
    // The signature binds the body: a tampered body is refused.
    const tampered = { ...incoming, body: Buffer.from(r.raw.toString().replace('enc-1', 'enc-2')) };
    await assert.rejects(verifySignedRequest(tampered, { nonceStore: createMemoryNonceStore() }));
  }
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signUploadGrant } from '../../src/coordinator/plugins/identity.js';
import { createHttpTransport } from '../../src/encoder/http-transport.js';
import { generateIdentity, type Identity, signRequest } from '../../src/identity/index.js';
import { withTestDatabase } from '../helpers/db.js';
import { ADMIN, bearer, CAPS, type HttpAnswer, http, type SecurityApp, startSecurityApp } from './harness.js';

const REGISTER = '/api/v1/encoders/register';

/** Sends a signed JSON request (or with `tamper`, a different body than the one signed). */
async function signed(
  s: SecurityApp,
  id: Identity,
  method: string,
  path: string,
  json: unknown,
  o: { now?: Date; signPath?: string; sendBody?: string; ttlS?: number } = {},
) {
  const body = JSON.stringify(json);
  const h = await signRequest(id, {
    method,
    path: o.signPath ?? path,
    body,
    ...(o.now ? { now: o.now } : {}),
    ...(o.ttlS ? { ttlS: o.ttlS } : {}),
  });
  return http(s.url, method, path, {
    body: o.sendBody ?? body,
    headers: { 'content-type': 'application/json', ...h },
  });
}

const registration = (name: string) => ({ name, kind: 'community', version: '1.0.0', capabilities: CAPS });

describe('did:key signed requests over HTTP', () => {
  const tdb = withTestDatabase();
  let s: SecurityApp;
  const a = generateIdentity();
  const b = generateIdentity();
  let encA = '';
  let encB = '';

  before(async () => {
    s = await startSecurityApp(tdb.current.db);
  });
  after(async () => s?.close());

  test('valid: registers keyed by DID; re-registering updates the same row', async () => {
    const r = await signed(s, a, 'POST', REGISTER, registration('node-a'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.encoder.did, a.did);
    encA = r.body.encoder.id;
    const again = await signed(s, a, 'POST', REGISTER, registration('node-a-renamed'));
    assert.equal(again.status, 200);
    assert.equal(again.body.encoder.id, encA);
    assert.equal(again.body.encoder.name, 'node-a-renamed');
    const rb = await signed(s, b, 'POST', REGISTER, registration('node-b'));
    encB = rb.body.encoder.id;
    const list = await http(s.url, 'GET', '/api/v1/encoders', { headers: bearer(ADMIN) });
    assert.equal(list.body.encoders.filter((e: { did: string }) => e.did === a.did).length, 1);
  });

  test('refusals: each with 401 and its code', async () => {
    const cases: Array<[string, () => Promise<HttpAnswer>, string]> = [
      [
        'wrong key (B signs with kid of A)',
        async () => {
          const body = JSON.stringify(registration('x'));
          const ha = await signRequest(a, { method: 'POST', path: REGISTER, body });
          const hb = await signRequest(b, { method: 'POST', path: REGISTER, body });
          const [prot, payload] = ha.authorization.slice(7).split('.');
          const sigB = hb.authorization.split('.')[2];
          return http(s.url, 'POST', REGISTER, {
            body,
            headers: {
              'content-type': 'application/json',
              authorization: `DIDJWS ${prot}.${payload}.${sigB}`,
            },
          });
        },
        'signature_invalid',
      ],
      [
        'tampered payload claims',
        async () => {
          const body = JSON.stringify(registration('x'));
          const h = await signRequest(a, { method: 'POST', path: REGISTER, body });
          const [prot, payload, sig] = h.authorization.slice(7).split('.') as [string, string, string];
          const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
          claims.exp += 3600;
          const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
          return http(s.url, 'POST', REGISTER, {
            body,
            headers: { 'content-type': 'application/json', authorization: `DIDJWS ${prot}.${forged}.${sig}` },
          });
        },
        'signature_invalid',
      ],
      [
        'tampered body',
        () =>
          signed(s, a, 'POST', REGISTER, registration('x'), {
            sendBody: JSON.stringify(registration('evil')),
          }),
        'body_mismatch',
      ],
      [
        'expired',
        () => signed(s, a, 'POST', REGISTER, registration('x'), { now: new Date(Date.now() - 10 * 60_000) }),
        'request_expired',
      ],
      [
        'future iat',
        () => signed(s, a, 'POST', REGISTER, registration('x'), { now: new Date(Date.now() + 10 * 60_000) }),
        'request_not_yet_valid',
      ],
      [
        'wrong path binding',
        () => signed(s, a, 'POST', REGISTER, registration('x'), { signPath: '/api/v1/encoders/heartbeat' }),
        'path_mismatch',
      ],
      [
        'malformed header',
        () =>
          http(s.url, 'POST', REGISTER, {
            json: registration('x'),
            headers: { authorization: 'DIDJWS not-a-jws' },
          }),
        'jws_malformed',
      ],
    ];
    for (const [name, run, code] of cases) {
      const r = await run();
      assert.equal(r.status, 401, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, code, name);
    }
  });

  test('replayed nonce: the same signed request is accepted once', async () => {
    const body = JSON.stringify({ encoderId: encA, activeJobs: [] });
    const h = await signRequest(a, { method: 'POST', path: '/api/v1/encoders/heartbeat', body });
    const send = () =>
      http(s.url, 'POST', '/api/v1/encoders/heartbeat', {
        body,
        headers: { 'content-type': 'application/json', ...h },
      });
    assert.equal((await send()).status, 200);
    const replay = await send();
    assert.equal(replay.status, 401);
    assert.equal(replay.body.code, 'nonce_replayed');
  });

  test('a lease is usable only by the DID that holds it (403), a lease token alone never', async () => {
    const sub = await http(s.url, 'POST', '/api/v1/jobs', {
      json: { source: { type: 'http', url: 'https://example.com/a.mp4' }, network: 'community' },
      headers: bearer(ADMIN),
    });
    assert.equal(sub.status, 202, sub.text);
    const claim = await signed(s, a, 'POST', '/api/v1/agent/claim', { encoderId: encA, waitMs: 0 });
    assert.equal(claim.status, 200, claim.text);
    const jobId = claim.body.job.id as string;
    const leaseToken = claim.body.leaseToken as string;
    const progress = { jobId, leaseToken, stage: 'encoding', progress: 10 };

    const asA = await signed(s, b, 'POST', '/api/v1/agent/progress', { ...progress, encoderId: encA });
    assert.equal(asA.status, 403, 'B acting as A');
    assert.equal(asA.body.code, 'not_lease_holder');
    const asB = await signed(s, b, 'POST', '/api/v1/agent/progress', { ...progress, encoderId: encB });
    assert.equal(asB.status, 409, 'B does not hold the lease');
    for (const path of ['/api/v1/agent/complete', '/api/v1/agent/fail', '/api/v1/agent/release']) {
      const extra = path.endsWith('fail')
        ? { error: { code: 'x', message: 'x' }, retryable: false }
        : path.endsWith('complete')
          ? {
              result: {
                renditions: [],
                masterUrl: 'x',
                publish: {},
                encode: { backend: 'x', fallbacks: [], wallS: 0, speed: 0 },
              },
            }
          : {};
      const r = await signed(s, b, 'POST', path, { jobId, leaseToken, encoderId: encA, ...extra });
      assert.equal(r.status, 403, path);
    }
    // An operator key with the encoder scope cannot act for a did:key encoder either.
    const { plaintext } = await s.keys.create({ scopes: ['encoder'] });
    const viaKey = await http(s.url, 'POST', '/api/v1/agent/progress', {
      json: { ...progress, encoderId: encA },
      headers: bearer(plaintext),
    });
    assert.equal(viaKey.status, 403);

    // Output PUTs: lease token alone 401; B's grant 403; A's grant for another lease 403; A's grant 201.
    const put = (headers: Record<string, string>) =>
      http(s.url, 'PUT', `/api/v1/agent/outputs/${jobId}/720p/seg0.ts`, {
        body: Buffer.from('segment'),
        headers: { 'content-type': 'video/mp2t', 'x-lease-token': leaseToken, ...headers },
      });
    assert.equal((await put({})).status, 401);
    assert.equal((await put({ authorization: await signUploadGrant(b, { jobId, leaseToken }) })).status, 403);
    const other = await signUploadGrant(a, { jobId, leaseToken: 'another-lease' });
    assert.equal((await put({ authorization: other })).status, 403);
    const ok = await put({ authorization: await signUploadGrant(a, { jobId, leaseToken }) });
    assert.equal(ok.status, 201, ok.text);
    // A grant is not a general credential.
    const grantElsewhere = await http(s.url, 'GET', '/api/v1/jobs', {
      headers: { authorization: await signUploadGrant(a, { jobId, leaseToken }) },
    });
    assert.equal(grantElsewhere.status, 401);

    const good = await signed(s, a, 'POST', '/api/v1/agent/progress', { ...progress, encoderId: encA });
    assert.equal(good.status, 200, good.text);
    const rel = await signed(s, a, 'POST', '/api/v1/agent/release', { jobId, leaseToken, encoderId: encA });
    assert.equal(rel.status, 200, rel.text);
  });

  test('an API key cannot register as a DID; a DID has only the encoder scope', async () => {
    const { plaintext } = await s.keys.create({ scopes: ['encoder'] });
    const r = await http(s.url, 'POST', REGISTER, {
      json: { ...registration('spoof'), did: a.did },
      headers: bearer(plaintext),
    });
    assert.equal(r.status, 403);
    const jobs = await signed(s, a, 'GET', '/api/v1/jobs', undefined);
    assert.equal(jobs.status, 403);
  });

  test('the signing HTTP transport registers, claims, reports and completes', async () => {
    const c = generateIdentity();
    const t = createHttpTransport({ url: s.url, identity: c });
    const { encoderId } = await t.register({
      name: 'transport-node',
      kind: 'community',
      version: '1.0.0',
      capabilities: CAPS,
    } as never);
    const sub = await http(s.url, 'POST', '/api/v1/jobs', {
      json: { source: { type: 'http', url: 'https://example.com/b.mp4' }, network: 'community' },
      headers: bearer(ADMIN),
    });
    assert.equal(sub.status, 202);
    const job = await t.claim(encoderId, 0);
    assert.ok(job, 'claimed');
    const lease = { jobId: job.id, leaseToken: job.leaseToken };
    const ack = await t.progress(encoderId, lease, { stage: 'encoding', progress: 50 } as never);
    assert.equal(ack.cancelled, false);
    const target = t.remoteOutputs?.(lease);
    assert.match(target?.headers.authorization ?? '', /^DIDGRANT /);
    const up = await http(s.url, 'PUT', `${new URL(target!.baseUrl).pathname}master.m3u8`, {
      body: '#EXTM3U\n',
      headers: { ...target!.headers, 'content-type': 'application/vnd.apple.mpegurl' },
    });
    assert.equal(up.status, 201, up.text);
    await t.complete(encoderId, lease, {
      renditions: [{ name: '720p' }],
      masterUrl: `${s.url}/media/${job.id}/master.m3u8`,
      publish: {},
      encode: { backend: 'libx264', fallbacks: [], wallS: 1, speed: 1 },
    } as never);
    const done = await http(s.url, 'GET', `/api/v1/jobs/${job.id}`, { headers: bearer(ADMIN) });
    assert.equal(done.body.job.status, 'completed');
    await t.close?.();
  });
  test('a signing node downloads an upload source with its grant; other DIDs and uploads are refused', async () => {
    const up = await http(s.url, 'POST', '/api/v1/uploads', {
      body: Buffer.from('source bytes'),
      headers: { ...bearer(ADMIN), 'content-type': 'application/octet-stream' },
    });
    assert.equal(up.status, 201, up.text);
    const other = await http(s.url, 'POST', '/api/v1/uploads', {
      body: Buffer.from('someone else'),
      headers: { ...bearer(ADMIN), 'content-type': 'application/octet-stream' },
    });
    // Only this job is queued, so the claim below gets it.
    const queued = await http(s.url, 'GET', '/api/v1/jobs?status=queued', { headers: bearer(ADMIN) });
    for (const j of queued.body.jobs as Array<{ id: string }>) {
      await http(s.url, 'DELETE', `/api/v1/jobs/${j.id}`, { headers: bearer(ADMIN) });
    }
    const sub = await http(s.url, 'POST', '/api/v1/jobs', {
      json: { source: { type: 'upload', id: up.body.upload.id }, network: 'community' },
      headers: bearer(ADMIN),
    });
    assert.equal(sub.status, 202, sub.text);
    const d = generateIdentity();
    const t = createHttpTransport({ url: s.url, identity: d });
    const { encoderId } = await t.register({
      name: 'dl-node',
      kind: 'community',
      version: '1',
      capabilities: CAPS,
    } as never);
    const job = await t.claim(encoderId, 0);
    assert.equal(job?.id, sub.body.job.id);
    const lease = { jobId: job!.id, leaseToken: job!.leaseToken };
    const u = t.remoteUploads?.(lease);
    const get = (id: string, headers: Record<string, string>) =>
      http(s.url, 'GET', `/api/v1/uploads/${id}/content`, { headers });
    const ok = await get(up.body.upload.id, u!.headers);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.text, 'source bytes');
    assert.equal((await get(other.body.upload.id, u!.headers)).status, 403, 'another upload');
    const foreign = await signUploadGrant(b, lease);
    assert.equal(
      (await get(up.body.upload.id, { ...u!.headers, authorization: foreign })).status,
      403,
      'another DID',
    );
    assert.equal(
      (await get(up.body.upload.id, { 'x-lease-token': lease.leaseToken })).status,
      401,
      'token alone',
    );
    await t.release(encoderId, lease, 'test done');
  });
});

describe('registration policies', () => {
  const tdb = withTestDatabase();
  const listed = generateIdentity();
  const stranger = generateIdentity();

  test('allowlist: only listed DIDs register (403 encoder_not_allowed)', async () => {
    const s = await startSecurityApp(tdb.current.db, {
      registration: { policy: 'allowlist', allowlist: [listed.did] },
    });
    try {
      assert.equal((await signed(s, listed, 'POST', REGISTER, registration('ok'))).status, 200);
      const r = await signed(s, stranger, 'POST', REGISTER, registration('no'));
      assert.equal(r.status, 403);
      assert.equal(r.body.code, 'encoder_not_allowed');
    } finally {
      await s.close();
    }
  });

  test('approval: a new DID is pending (claims 403) until approved; a ban sticks across re-registration', async () => {
    const s = await startSecurityApp(tdb.current.db, { registration: { policy: 'approval' } });
    try {
      const id = generateIdentity();
      const r = await signed(s, id, 'POST', REGISTER, registration('wait'));
      assert.equal(r.status, 200);
      assert.equal(r.body.encoder.approval, 'pending');
      const enc = r.body.encoder.id;
      const claim = await signed(s, id, 'POST', '/api/v1/agent/claim', { encoderId: enc, waitMs: 0 });
      assert.equal(claim.status, 403);
      assert.equal(claim.body.code, 'encoder_pending_approval');
      const hb = await signed(s, id, 'POST', '/api/v1/encoders/heartbeat', { encoderId: enc });
      assert.equal(hb.status, 200, 'heartbeats allowed while pending');
      const ok = await http(s.url, 'POST', `/api/v1/encoders/${enc}/approve`, { headers: bearer(ADMIN) });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.encoder.approval, 'approved');
      const claim2 = await signed(s, id, 'POST', '/api/v1/agent/claim', { encoderId: enc, waitMs: 0 });
      assert.ok([200, 204].includes(claim2.status), claim2.text);
      const ban = await http(s.url, 'POST', `/api/v1/encoders/${encodeURIComponent(id.did)}/ban`, {
        headers: bearer(ADMIN),
      });
      assert.equal(ban.body.encoder.approval, 'banned');
      const again = await signed(s, id, 'POST', REGISTER, registration('wait'));
      assert.equal(again.status, 403);
      assert.equal(again.body.code, 'encoder_not_allowed');
    } finally {
      await s.close();
    }
  });
});

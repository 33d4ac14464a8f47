import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateIdentity, type Identity, signRequest, signUploadGrant } from '../../src/identity/index.js';
import { createTestDatabase, type TestDatabase, type TestDriver } from '../helpers/db.js';
import { ADMIN, bearer, CAPS, type HttpAnswer, http, type SecurityApp, startSecurityApp } from './harness.js';

/**
 * The trust boundary (issue 12), each numbered failure of the security review as a test, on both
 * drivers: encoders are bound to their tenant (the operator's to the operator), claims stay inside a
 * tenant unless the job allows the open network, untrusted encoders never see a credential, uploads
 * and served media are safe, and hostile input is a 4xx problem.
 */

const SOURCE_SECRET = 'Bearer tenant-a-source-secret-9f2c';
const S3_SECRET = 'tenant-a-s3-secret-key-77d1';
const S3_KEY_ID = 'AKIATENANTAKEY0001';
const WEBHOOK_SECRET = 'tenant-a-webhook-secret-0123456789';

async function signed(s: SecurityApp, id: Identity, method: string, path: string, json?: unknown) {
  const body = json === undefined ? '' : JSON.stringify(json);
  const h = await signRequest(id, { method, path, body });
  return http(s.url, method, path, {
    ...(json === undefined ? {} : { body }),
    headers: { ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...h },
  });
}

const registration = (name: string, kind = 'community') => ({
  name,
  kind,
  version: '1.0.0',
  capabilities: CAPS,
});

function ok(r: HttpAnswer, status: number, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.text}`);
}

for (const driver of ['postgres', 'pglite'] as TestDriver[]) {
  describe(`trust boundary (${driver})`, () => {
    let tdb: TestDatabase;
    let s: SecurityApp;
    const key: Record<string, string> = {};
    let operatorEncoder = '';
    const stranger = generateIdentity();
    let strangerEncoder = '';

    const submitAs = async (k: string, spec: Record<string, unknown>) => {
      const r = await http(s.url, 'POST', '/api/v1/jobs', { json: spec, headers: bearer(key[k]!) });
      ok(r, 202, 'submit');
      return r.body.job.id as string;
    };
    const register = async (k: string, name: string) => {
      const r = await http(s.url, 'POST', '/api/v1/encoders/register', {
        json: registration(name, 'infrastructure'),
        headers: bearer(k),
      });
      ok(r, 200, `register ${name}`);
      return r.body.encoder.id as string;
    };

    before(async () => {
      tdb = await createTestDatabase({ driver });
      s = await startSecurityApp(tdb.db, { webhooks: true });
      const mk = async (name: string, scopes: string[], tenant: string) => {
        const r = await http(s.url, 'POST', '/api/v1/keys', {
          json: { scopes, name, tenant },
          headers: bearer(ADMIN),
        });
        ok(r, 201, `key ${name}`);
        key[name] = r.body.plaintext;
      };
      await mk('a-submit', ['submit', 'read'], 'acme');
      await mk('a-enc', ['encoder'], 'acme');
      await mk('b-enc', ['encoder'], 'globex');
      // The operator's own encoder, as `vidmesh serve` or an admin-key node registers it: no tenant.
      operatorEncoder = await register(ADMIN, 'host-serve-1');
      const r = await signed(s, stranger, 'POST', '/api/v1/encoders/register', registration('stranger'));
      ok(r, 200, 'stranger registers');
      strangerEncoder = r.body.encoder.id;
    });
    after(async () => {
      await s?.close();
      await tdb?.drop();
    });

    test("1: a tenant's encoder key cannot act for the operator's encoder, nor re-register over it", async () => {
      const jobId = await submitAs('a-submit', {
        source: { type: 'http', url: 'https://example.com/a.mp4', headers: { authorization: SOURCE_SECRET } },
      });
      const asB = bearer(key['b-enc']!);
      const hb = await http(s.url, 'POST', '/api/v1/encoders/heartbeat', {
        json: { encoderId: operatorEncoder },
        headers: asB,
      });
      ok(hb, 403, 'heartbeat for the operator encoder');
      assert.equal(hb.body.code, 'not_lease_holder');
      const claim = await http(s.url, 'POST', '/api/v1/agent/claim', {
        json: { encoderId: operatorEncoder, waitMs: 0 },
        headers: asB,
      });
      ok(claim, 403, 'claim as the operator encoder');
      assert.doesNotMatch(claim.text, /tenant-a-source-secret/);
      const fake = await http(s.url, 'POST', '/api/v1/agent/complete', {
        json: {
          encoderId: operatorEncoder,
          jobId,
          leaseToken: 'guessed',
          result: {
            renditions: [],
            masterUrl: 'x',
            publish: {},
            encode: { backend: 'x', fallbacks: [], wallS: 0, speed: 0 },
          },
        },
        headers: asB,
      });
      ok(fake, 403, 'complete as the operator encoder');
      // The same name and kind under tenant B is another encoder, and the operator's row is untouched.
      const bSame = await register(key['b-enc']!, 'host-serve-1');
      assert.notEqual(bSame, operatorEncoder);
      const list = await http(s.url, 'GET', '/api/v1/encoders', { headers: bearer(ADMIN) });
      const op = (list.body.encoders as Array<{ id: string; tenant?: string | null }>).find(
        (e) => e.id === operatorEncoder,
      );
      assert.ok(op, 'operator encoder still listed');
      const seenByA = await http(s.url, 'GET', '/api/v1/encoders', { headers: bearer(key['a-submit']!) });
      const ids = (seenByA.body.encoders as Array<{ id: string }>).map((e) => e.id);
      assert.ok(!ids.includes(bSame), "tenant A never sees tenant B's encoder");
      assert.ok(ids.includes(operatorEncoder), "the operator's encoders serve every tenant");
      const job = await http(s.url, 'GET', `/api/v1/jobs/${jobId}`, { headers: bearer(key['a-submit']!) });
      assert.equal(job.body.job.status, 'queued', 'the job was never leased or completed');
      // The operator's own key still drives it.
      ok(
        await http(s.url, 'POST', '/api/v1/encoders/heartbeat', {
          json: { encoderId: operatorEncoder },
          headers: bearer(ADMIN),
        }),
        200,
        'operator heartbeat',
      );
      await http(s.url, 'DELETE', `/api/v1/jobs/${jobId}`, { headers: bearer(key['a-submit']!) });
    });

    test('4: private jobs stay inside their tenant; open-network jobs reach others without a credential', async () => {
      const privateJob = await submitAs('a-submit', {
        source: { type: 'http', url: 'https://example.com/p.mp4', headers: { authorization: SOURCE_SECRET } },
      });
      const bEnc = await register(key['b-enc']!, 'globex-node');
      const aEnc = await register(key['a-enc']!, 'acme-node');
      const claimAs = (k: Record<string, string>, encoderId: string) =>
        http(s.url, 'POST', '/api/v1/agent/claim', { json: { encoderId, waitMs: 0 }, headers: k });
      ok(await claimAs(bearer(key['b-enc']!), bEnc), 204, "another tenant's encoder gets no private job");
      ok(
        await signed(s, stranger, 'POST', '/api/v1/agent/claim', { encoderId: strangerEncoder, waitMs: 0 }),
        204,
        'a community DID gets no private job',
      );
      const own = await claimAs(bearer(key['a-enc']!), aEnc);
      ok(own, 200, "the tenant's own encoder claims it");
      assert.equal(own.body.job.id, privateJob);
      assert.equal(
        own.body.job.spec.source.headers.authorization,
        SOURCE_SECRET,
        'own tenant: secrets opened',
      );
      assert.deepEqual(own.body.transfer, { source: 'direct', output: 'direct' });
      assert.equal(own.body.trust, 'tenant');
      await http(s.url, 'POST', '/api/v1/agent/release', {
        json: { encoderId: aEnc, jobId: privateJob, leaseToken: own.body.leaseToken },
        headers: bearer(key['a-enc']!),
      });
      await http(s.url, 'DELETE', `/api/v1/jobs/${privateJob}`, { headers: bearer(key['a-submit']!) });

      const credentials = { accessKeyId: S3_KEY_ID, secretAccessKey: S3_SECRET };
      const openJob = await submitAs('a-submit', {
        source: { type: 's3', bucket: 'src', key: 'in.mp4', endpoint: 'https://s3.example.com', credentials },
        destination: { type: 's3', bucket: 'out', endpoint: 'https://s3.example.com', credentials },
        webhook: { url: 'https://example.com/hook', secret: WEBHOOK_SECRET },
        network: 'community',
      });
      const viaDid = await signed(s, stranger, 'POST', '/api/v1/agent/claim', {
        encoderId: strangerEncoder,
        waitMs: 0,
      });
      ok(viaDid, 200, 'a community DID claims an open-network job');
      assert.equal(viaDid.body.job.id, openJob);
      for (const secret of [S3_SECRET, S3_KEY_ID, WEBHOOK_SECRET]) {
        assert.ok(!viaDid.text.includes(secret), `the community hand-out holds no ${secret}`);
      }
      assert.deepEqual(viaDid.body.transfer, { source: 'coordinator', output: 'coordinator' });
      assert.equal(viaDid.body.trust, 'community');
      assert.equal(viaDid.body.job.spec.webhook, undefined);
      await signed(s, stranger, 'POST', '/api/v1/agent/release', {
        encoderId: strangerEncoder,
        jobId: openJob,
        leaseToken: viaDid.body.leaseToken,
      });
      const viaB = await claimAs(bearer(key['b-enc']!), bEnc);
      ok(viaB, 200, "another tenant's encoder claims an open-network job");
      assert.ok(
        !viaB.text.includes(S3_SECRET) && !viaB.text.includes(S3_KEY_ID),
        'no credential for tenant B',
      );
      assert.deepEqual(viaB.body.transfer, { source: 'coordinator', output: 'coordinator' });
      await http(s.url, 'POST', '/api/v1/agent/release', {
        json: { encoderId: bEnc, jobId: openJob, leaseToken: viaB.body.leaseToken },
        headers: bearer(key['b-enc']!),
      });
      await http(s.url, 'DELETE', `/api/v1/jobs/${openJob}`, { headers: bearer(key['a-submit']!) });
    });

    test('3: upload contents are readable by their tenant only, never by a signature alone', async () => {
      const up = await http(s.url, 'POST', '/api/v1/uploads', {
        body: Buffer.from('tenant a source bytes'),
        headers: { ...bearer(key['a-submit']!), 'content-type': 'application/octet-stream' },
      });
      ok(up, 201, 'upload');
      const path = `/api/v1/uploads/${up.body.upload.id}/content`;
      ok(await http(s.url, 'GET', path, { headers: bearer(key['b-enc']!) }), 404, "another tenant's key");
      ok(await signed(s, generateIdentity(), 'GET', path), 404, 'a never-registered did:key');
      ok(await signed(s, stranger, 'GET', path), 404, 'a registered did:key without a lease');
      const own = await http(s.url, 'GET', path, { headers: bearer(key['a-enc']!) });
      ok(own, 200, "the tenant's encoder key");
      assert.equal(own.text, 'tenant a source bytes');
      ok(await http(s.url, 'GET', path, { headers: bearer(ADMIN) }), 200, 'the operator');
    });

    test('2: output uploads take media files only, staged; /media serves nothing else inline', async () => {
      const jobId = await submitAs('a-submit', {
        source: { type: 'http', url: 'https://example.com/c.mp4' },
        network: 'community',
      });
      const claim = await signed(s, stranger, 'POST', '/api/v1/agent/claim', {
        encoderId: strangerEncoder,
        waitMs: 0,
      });
      ok(claim, 200, 'claim');
      assert.equal(claim.body.job.id, jobId);
      const leaseToken = claim.body.leaseToken as string;
      const grant = await signUploadGrant(stranger, { jobId, leaseToken });
      const put = (file: string, body: string, type: string) =>
        http(s.url, 'PUT', `/api/v1/agent/outputs/${jobId}/${file}`, {
          body,
          headers: { authorization: grant, 'x-lease-token': leaseToken, 'content-type': type },
        });
      for (const [file, type] of [
        ['evil.html', 'text/html'],
        ['evil.svg', 'image/svg+xml'],
        ['720p/x.js', 'text/javascript'],
        ['evil.HTM', 'text/html'],
      ] as const) {
        const r = await put(file, '<script>fetch("/api/v1/keys")</script>', type);
        ok(r, 415, file);
        assert.equal(r.body.code, 'unsupported_media_type');
      }
      ok(await put('master.m3u8', '#EXTM3U\n', 'application/vnd.apple.mpegurl'), 201, 'a playlist');
      // A community encoder's files are staged, not served, until the coordinator publishes them.
      ok(await http(s.url, 'GET', `/media/${jobId}/master.m3u8`), 404, 'staged, not served');

      // Whatever lands in the media folder by other means is served safely.
      const dir = join(s.dir, 'media', 'planted');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'evil.html'), '<script>alert(1)</script>');
      await writeFile(join(dir, 'master.m3u8'), '#EXTM3U\n');
      const html = await http(s.url, 'GET', '/media/planted/evil.html');
      ok(html, 200, 'planted html');
      assert.equal(html.headers.get('content-type'), 'application/octet-stream');
      assert.equal(html.headers.get('content-disposition'), 'attachment');
      assert.equal(html.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(html.headers.get('content-security-policy'), "default-src 'none'; sandbox");
      const m3u8 = await http(s.url, 'GET', '/media/planted/master.m3u8');
      assert.equal(m3u8.headers.get('content-type'), 'application/vnd.apple.mpegurl');
      assert.equal(m3u8.headers.get('content-security-policy'), "default-src 'none'; sandbox");
      assert.equal(m3u8.headers.get('x-content-type-options'), 'nosniff');
      await signed(s, stranger, 'POST', '/api/v1/agent/release', {
        encoderId: strangerEncoder,
        jobId,
        leaseToken,
      });
      await http(s.url, 'DELETE', `/api/v1/jobs/${jobId}`, { headers: bearer(key['a-submit']!) });
    });

    test('5: a lone surrogate and an unresolvable webhook host are 4xx problems, not 500', async () => {
      const surrogate = await http(s.url, 'POST', '/api/v1/jobs', {
        body: '{"source":{"type":"http","url":"https://example.com/a.mp4"},"metadata":{"t":"\\ud800"}}',
        headers: { ...bearer(key['a-submit']!), 'content-type': 'application/json' },
      });
      ok(surrogate, 400, 'lone surrogate');
      assert.equal(surrogate.body.code, 'invalid_text');
      assert.match(surrogate.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const nul = await http(s.url, 'GET', '/api/v1/jobs?search=%00x', { headers: bearer(key['a-submit']!) });
      assert.ok(nul.status >= 400 && nul.status < 500, `NUL in a query: ${nul.status}`);
      const hook = await http(s.url, 'POST', '/api/v1/webhooks/subscriptions', {
        json: { url: 'https://no-such-host.invalid/hook' },
        headers: bearer(ADMIN),
      });
      assert.ok(hook.status >= 400 && hook.status < 500, `unresolvable host: ${hook.status} ${hook.text}`);
      assert.equal(hook.body.code, 'host_not_found');
      // A tenant subscription may ask for job.dead, as a per-job webhook can.
      const dead = await http(s.url, 'POST', '/api/v1/webhooks/subscriptions', {
        json: { url: 'https://93.184.216.34/hook', events: ['job.dead'] },
        headers: bearer(key['a-submit']!),
      });
      ok(dead, 201, 'job.dead subscription');
    });
  });
}

describe('failed logins, content types and /metrics', () => {
  let tdb: TestDatabase;
  let s: SecurityApp;
  const TOKEN = 'scrape-token-0123456789abcdef';
  before(async () => {
    tdb = await createTestDatabase({ driver: 'postgres' });
    s = await startSecurityApp(tdb.db, {
      rateLimit: { perKey: 10_000, perIp: 10_000, windowMs: 60_000, authFailuresPerIp: 5 },
      metrics: { token: TOKEN },
    });
  });
  after(async () => {
    await s?.close();
    await tdb?.drop();
  });

  test('/metrics answers the scrape token and operator keys only', async () => {
    ok(await http(s.url, 'GET', '/metrics'), 401, 'anonymous');
    const tenantKey = await s.keys.create({ scopes: ['read', 'submit'], tenant: 'acme' });
    ok(await http(s.url, 'GET', '/metrics', { headers: bearer(tenantKey.plaintext) }), 401, 'tenant key');
    const byToken = await http(s.url, 'GET', '/metrics', { headers: bearer(TOKEN) });
    ok(byToken, 200, 'scrape token');
    assert.match(byToken.text, /vidmesh_/);
    ok(await http(s.url, 'GET', '/metrics', { headers: bearer(ADMIN) }), 200, 'operator key');
  });

  test('a JSON route answers 415 to text/plain', async () => {
    const r = await http(s.url, 'POST', '/api/v1/jobs', {
      body: '{"source":{"type":"http","url":"https://example.com/a.mp4"}}',
      headers: { ...bearer(ADMIN), 'content-type': 'text/plain' },
    });
    ok(r, 415, 'text/plain');
    assert.equal(r.body.code, 'unsupported_media_type');
  });

  test('6: failed authentications from one address are limited before auth runs (429)', async () => {
    for (let i = 0; i < 5; i++) {
      ok(
        await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(`vmk_0123456789ab_wrong${i}`) }),
        401,
        'guess',
      );
    }
    const limited = await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer('vmk_0123456789ab_wrong9') });
    ok(limited, 429, 'past the limit');
    assert.equal(limited.body.code, 'rate_limited');
    // Before auth: even the right key from that address waits out the window.
    ok(await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(ADMIN) }), 429, 'valid key too');
  });
});

describe('media on its own origin (VIDMESH_MEDIA_ORIGIN)', () => {
  let tdb: TestDatabase;
  let s: SecurityApp;
  before(async () => {
    tdb = await createTestDatabase({ driver: 'postgres' });
    s = await startSecurityApp(tdb.db, { mediaOrigin: 'https://media.example.net' });
  });
  after(async () => {
    await s?.close();
    await tdb?.drop();
  });

  test("a finished job's playback URLs point at the media origin, its API link at the public URL", async () => {
    const sub = await http(s.url, 'POST', '/api/v1/jobs', {
      json: {
        source: { type: 'http', url: 'https://example.com/a.mp4' },
        destination: { type: 'local', prefix: 'v' },
      },
      headers: bearer(ADMIN),
    });
    ok(sub, 202, 'submit');
    const reg = await http(s.url, 'POST', '/api/v1/encoders/register', {
      json: registration('op-node', 'infrastructure'),
      headers: bearer(ADMIN),
    });
    const encoderId = reg.body.encoder.id as string;
    const claim = await http(s.url, 'POST', '/api/v1/agent/claim', {
      json: { encoderId, waitMs: 0 },
      headers: bearer(ADMIN),
    });
    ok(claim, 200, 'claim');
    const done = await http(s.url, 'POST', '/api/v1/agent/complete', {
      json: {
        encoderId,
        jobId: claim.body.job.id,
        leaseToken: claim.body.leaseToken,
        result: {
          renditions: [{ name: '720p', playlist: '720p/index.m3u8' }],
          masterUrl: 'http://whatever/master.m3u8',
          publish: {},
          encode: { backend: 'libx264', fallbacks: [], wallS: 1, speed: 1 },
        },
      },
      headers: bearer(ADMIN),
    });
    ok(done, 200, 'complete');
    const job = (await http(s.url, 'GET', `/api/v1/jobs/${claim.body.job.id}`, { headers: bearer(ADMIN) }))
      .body.job;
    assert.equal(job.result.masterUrl, `https://media.example.net/media/${job.id}/v/master.m3u8`);
    assert.equal(job.result.renditions[0].url, `https://media.example.net/media/${job.id}/v/720p/index.m3u8`);
  });
});

describe("a job's minScore (verified encoders' reputation)", () => {
  let tdb: TestDatabase;
  let s: SecurityApp;
  before(async () => {
    tdb = await createTestDatabase({ driver: 'pglite' });
    s = await startSecurityApp(tdb.db, { verification: true });
  });
  after(async () => {
    await s?.close();
    await tdb?.drop();
  });

  test('a new community encoder (score 0.5) skips jobs asking more; a trusted encoder never does', async () => {
    const submit = async (minScore: number) => {
      const r = await http(s.url, 'POST', '/api/v1/jobs', {
        json: { source: { type: 'http', url: 'https://example.com/a.mp4' }, network: 'community', minScore },
        headers: bearer(ADMIN),
      });
      ok(r, 202, 'submit');
      return r.body.job.id as string;
    };
    const strict = await submit(0.9);
    const id = generateIdentity();
    const reg = await signed(s, id, 'POST', '/api/v1/encoders/register', registration('newcomer'));
    const encoderId = reg.body.encoder.id as string;
    const claim = () => signed(s, id, 'POST', '/api/v1/agent/claim', { encoderId, waitMs: 0 });
    ok(await claim(), 204, 'minScore 0.9 is above a newcomer');
    const lenient = await submit(0.4);
    const got = await claim();
    ok(got, 200, 'minScore 0.4 is below it');
    assert.equal(got.body.job.id, lenient);
    const op = await http(s.url, 'POST', '/api/v1/encoders/register', {
      json: registration('op', 'infrastructure'),
      headers: bearer(ADMIN),
    });
    const opClaim = await http(s.url, 'POST', '/api/v1/agent/claim', {
      json: { encoderId: op.body.encoder.id, waitMs: 0 },
      headers: bearer(ADMIN),
    });
    ok(opClaim, 200, 'an operator encoder takes the strict job');
    assert.equal(opClaim.body.job.id, strict);
  });
});

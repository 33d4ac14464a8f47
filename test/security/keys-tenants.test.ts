import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createKeysCommand } from '../../src/cli/keys.js';
import { isSealed } from '../../src/identity/index.js';
import { withTestDatabase } from '../helpers/db.js';
import { ADMIN, bearer, CAPS, type HttpAnswer, http, type SecurityApp, startSecurityApp } from './harness.js';

const SPEC = { source: { type: 'http', url: 'https://example.com/in.mp4' } };

describe('API keys, scopes and tenants', () => {
  const tdb = withTestDatabase();
  let s: SecurityApp;
  const key: Record<string, string> = {};

  before(async () => {
    s = await startSecurityApp(tdb.current.db);
    const mk = async (name: string, scopes: string[], tenant?: string) => {
      const r = await http(s.url, 'POST', '/api/v1/keys', {
        json: { scopes, name, ...(tenant ? { tenant } : {}) },
        headers: bearer(ADMIN),
      });
      assert.equal(r.status, 201, r.text);
      key[name] = r.body.plaintext;
    };
    await mk('a-submit', ['submit', 'read'], 'acme');
    await mk('a-read', ['read'], 'acme');
    await mk('b-submit', ['submit', 'read'], 'globex');
    await mk('enc', ['encoder']);
  });
  after(async () => s?.close());

  test('create shows the plaintext once; list never shows hashes; revoke takes effect at once', async () => {
    const list = await http(s.url, 'GET', '/api/v1/keys', { headers: bearer(ADMIN) });
    assert.equal(list.status, 200);
    assert.equal(list.body.keys.length, 4);
    assert.doesNotMatch(list.text, /sha256:|vmk_[0-9a-f]{12}_/, 'no hash or plaintext in listings');
    const rows = await tdb.current.db.query<{ hash: string }>('SELECT hash FROM api_keys');
    assert.ok(
      rows.rows.every((r) => /^sha256:[0-9a-f]{64}$/.test(r.hash)),
      'stored hashed',
    );
    const tmp = await http(s.url, 'POST', '/api/v1/keys', {
      json: { scopes: ['read'] },
      headers: bearer(ADMIN),
    });
    assert.equal(
      (await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(tmp.body.plaintext) })).status,
      200,
    );
    const rev = await http(s.url, 'DELETE', `/api/v1/keys/${tmp.body.key.prefix}`, {
      headers: bearer(ADMIN),
    });
    assert.equal(rev.status, 200);
    const after = await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(tmp.body.plaintext) });
    assert.equal(after.status, 401);
    assert.equal(after.body.code, 'api_key_revoked');
    const forged = `${tmp.body.plaintext.slice(0, -4)}aaaa`;
    const bad = await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(forged) });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.code, 'api_key_invalid');
  });

  test('scopes: read-only cannot submit, cancel, retry, approve or manage keys; no key can reach admin routes', async () => {
    const sub = await http(s.url, 'POST', '/api/v1/jobs', { json: SPEC, headers: bearer(key['a-submit']!) });
    assert.equal(sub.status, 202, sub.text);
    const id = sub.body.job.id;
    const ro = bearer(key['a-read']!);
    const denied: Array<[string, string, unknown?]> = [
      ['POST', '/api/v1/jobs', SPEC],
      ['DELETE', `/api/v1/jobs/${id}`],
      ['POST', `/api/v1/jobs/${id}/retry`, {}],
      ['POST', '/api/v1/encoders/x/approve'],
      ['POST', '/api/v1/keys', { scopes: ['admin'] }],
      ['GET', '/api/v1/keys'],
      ['POST', '/api/v1/agent/claim', { encoderId: 'x' }],
    ];
    for (const [method, path, json] of denied) {
      const r = await http(s.url, method, path, { ...(json === undefined ? {} : { json }), headers: ro });
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
    }
    assert.equal((await http(s.url, 'GET', `/api/v1/jobs/${id}`, { headers: ro })).status, 200);
    // A submit key cannot mint keys either.
    const mint = await http(s.url, 'POST', '/api/v1/keys', {
      json: { scopes: ['admin'] },
      headers: bearer(key['a-submit']!),
    });
    assert.equal(mint.status, 403);
  });

  test('tenants: another tenant’s job is 404 on every route; lists are filtered', async () => {
    const mine = await http(s.url, 'POST', '/api/v1/jobs', { json: SPEC, headers: bearer(key['a-submit']!) });
    const id = mine.body.job.id;
    const other = bearer(key['b-submit']!);
    for (const [method, path, json] of [
      ['GET', `/api/v1/jobs/${id}`],
      ['DELETE', `/api/v1/jobs/${id}`],
      ['POST', `/api/v1/jobs/${id}/retry`, {}],
      ['GET', `/api/v1/jobs/${id}/logs`],
      ['GET', `/api/v1/jobs/${id}/history`],
      ['GET', `/api/v1/jobs/${id}/events`],
    ] as Array<[string, string, unknown?]>) {
      const r = await http(s.url, method, path, { ...(json === undefined ? {} : { json }), headers: other });
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.body.code, 'job_not_found');
    }
    const unknown = await http(s.url, 'GET', '/api/v1/jobs/00000000-0000-0000-0000-000000000000', {
      headers: other,
    });
    assert.equal(unknown.body.code, 'job_not_found', 'same answer as an unknown id');
    const listB = await http(s.url, 'GET', '/api/v1/jobs', { headers: other });
    assert.ok(listB.body.jobs.every((j: { id: string }) => j.id !== id));
    const listA = await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(key['a-read']!) });
    assert.ok(listA.body.jobs.some((j: { id: string }) => j.id === id));
    const still = await http(s.url, 'GET', `/api/v1/jobs/${id}`, { headers: bearer(ADMIN) });
    assert.equal(still.body.job.status, 'queued', 'the other tenant did not cancel it');
  });

  test('tenants: another tenant’s upload is 404 to read and cannot be used as a source', async () => {
    const up = await http(s.url, 'POST', '/api/v1/uploads', {
      body: Buffer.from('acme bytes'),
      headers: { ...bearer(key['a-submit']!), 'content-type': 'application/octet-stream' },
    });
    assert.equal(up.status, 201, up.text);
    assert.equal(up.body.upload.tenant, undefined, 'the tenant is not echoed');
    const id = up.body.upload.id;
    assert.equal(
      (await http(s.url, 'GET', `/api/v1/uploads/${id}`, { headers: bearer(key['a-read']!) })).status,
      200,
    );
    const other = await http(s.url, 'GET', `/api/v1/uploads/${id}`, { headers: bearer(key['b-submit']!) });
    assert.equal(other.status, 404);
    const steal = await http(s.url, 'POST', '/api/v1/jobs', {
      json: { source: { type: 'upload', id } },
      headers: bearer(key['b-submit']!),
    });
    assert.equal(steal.status, 400, steal.text);
    const own = await http(s.url, 'POST', '/api/v1/jobs', {
      json: { source: { type: 'upload', id } },
      headers: bearer(key['a-submit']!),
    });
    assert.equal(own.status, 202, own.text);
  });

  test('spec secrets are sealed at rest, redacted in views, opened for the lease holder only', async () => {
    const secretKey = 'AKIA-super-secret-value-123';
    const spec = {
      source: {
        type: 'http',
        url: 'https://example.com/in.mp4',
        headers: { authorization: 'Bearer src-token-xyz' },
      },
      destination: {
        type: 's3',
        bucket: 'out-bucket',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secretKey },
      },
      webhook: { url: 'https://hooks.example.com/x', secret: 'whsec-0123456789abcdef' },
      tags: ['sealed-test'],
    };
    const sub = await http(s.url, 'POST', '/api/v1/jobs', { json: spec, headers: bearer(ADMIN) });
    assert.equal(sub.status, 202, sub.text);
    assert.doesNotMatch(sub.text, /super-secret|src-token|whsec-/);
    const row = await tdb.current.db.query<{ spec: HttpAnswer['body'] }>(
      'SELECT spec FROM jobs WHERE id = $1',
      [sub.body.job.id],
    );
    const stored = row.rows[0]!.spec;
    assert.ok(isSealed(stored.destination.credentials.secretAccessKey), 'sealed in the database');
    assert.ok(isSealed(stored.source.headers.authorization));
    assert.ok(isSealed(stored.webhook.secret));
    assert.doesNotMatch(JSON.stringify(stored), /super-secret|src-token|whsec-/);

    const reg = await http(s.url, 'POST', '/api/v1/encoders/register', {
      json: {
        name: 'sealed-node',
        kind: 'infrastructure',
        version: '1',
        capabilities: { ...CAPS, tags: ['sealed-test'] },
      },
      headers: bearer(key.enc!),
    });
    assert.equal(reg.status, 200, reg.text);
    // Other tests' queued jobs would be claimed first (older): cancel them.
    const queued = await http(s.url, 'GET', '/api/v1/jobs?status=queued&limit=100', {
      headers: bearer(ADMIN),
    });
    for (const j of queued.body.jobs as Array<{ id: string }>) {
      if (j.id !== sub.body.job.id)
        await http(s.url, 'DELETE', `/api/v1/jobs/${j.id}`, { headers: bearer(ADMIN) });
    }
    const claim = await http(s.url, 'POST', '/api/v1/agent/claim', {
      json: { encoderId: reg.body.encoder.id, waitMs: 0 },
      headers: bearer(key.enc!),
    });
    assert.equal(claim?.body.job.id, sub.body.job.id, claim?.text);
    assert.equal(claim?.body.job.spec.destination.credentials.secretAccessKey, secretKey);
    assert.equal(claim?.body.job.spec.webhook.secret, 'whsec-0123456789abcdef');
  });

  test('vidmesh keys create|list|revoke talk to the API when a coordinator URL is given', async () => {
    let out = '';
    const run = async (...args: string[]) => {
      out = '';
      const cmd = createKeysCommand({ out: (t) => (out += t) });
      cmd.exitOverride();
      await cmd.parseAsync([...args, '--url', s.url, '--api-key', ADMIN, '--json'], { from: 'user' });
      return JSON.parse(out);
    };
    const created = await run(
      'create',
      '--scope',
      'read',
      '--tenant',
      'cli-t',
      '--name',
      'cli key',
      '--expires',
      '30d',
    );
    assert.match(created.key, /^vmk_[0-9a-f]{12}_/);
    assert.equal((await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(created.key) })).status, 200);
    const listed = await run('list', '--tenant', 'cli-t');
    assert.equal(listed.length, 1);
    assert.equal(listed[0].name, 'cli key');
    assert.equal(listed[0].hash, undefined);
    await run('revoke', created.prefix);
    assert.equal((await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(created.key) })).status, 401);
  });
});

describe('hardening: rate limits and secure headers', () => {
  const tdb = withTestDatabase();

  test('per key and per IP limits answer 429 problem details with Retry-After', async () => {
    const s = await startSecurityApp(tdb.current.db, {
      rateLimit: { perKey: 5, perIp: 3, windowMs: 60_000 },
    });
    try {
      let last = await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(ADMIN) });
      for (let i = 0; i < 5; i++) last = await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(ADMIN) });
      assert.equal(last.status, 429);
      assert.equal(last.body.code, 'rate_limited');
      assert.match(last.headers.get('content-type') ?? '', /problem\+json/);
      assert.ok(Number(last.headers.get('retry-after')) > 0);
      const { plaintext } = await s.keys.create({ scopes: ['read'] });
      assert.equal(
        (await http(s.url, 'GET', '/api/v1/jobs', { headers: bearer(plaintext) })).status,
        200,
        'per key',
      );
      assert.equal((await http(s.url, 'GET', '/health')).status, 200, 'health is not limited');
      // The admin key is over its budget, but the encoder work API (lease-fenced) is not throttled.
      const heartbeat = await http(s.url, 'POST', '/api/v1/encoders/heartbeat', {
        headers: bearer(ADMIN),
        json: { encoderId: 'enc-unknown', activeJobs: [] },
      });
      assert.notEqual(heartbeat.status, 429, 'encoder routes are not rate limited');
    } finally {
      await s.close();
    }
  });

  test('a slow-drip JSON body gets 408 request_timeout; long-polls are not cut', async () => {
    const s = await startSecurityApp(tdb.current.db);
    try {
      const { port } = new URL(s.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const sock = connect(Number(port), '127.0.0.1', () => {
          sock.write(
            `POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\n` +
              'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"source":',
          );
        });
        let got = '';
        sock.on('data', (c) => {
          got += c.toString();
          if (got.includes('\r\n\r\n')) sock.destroy();
        });
        sock.on('close', () => resolve(got));
        sock.on('error', reject);
      });
      assert.match(answer, /^HTTP\/1\.1 408/, answer.slice(0, 200));
      assert.match(answer, /problem\+json/);
      // A long-poll claim that waits longer than the body timeout still answers 204.
      const { plaintext } = await s.keys.create({ scopes: ['encoder'] });
      const reg = await http(s.url, 'POST', '/api/v1/encoders/register', {
        json: {
          name: 'poller',
          kind: 'infrastructure',
          version: '1',
          capabilities: { ...CAPS, tags: ['nothing-matches'] },
        },
        headers: bearer(plaintext),
      });
      const started = Date.now();
      const poll = await http(s.url, 'POST', '/api/v1/agent/claim', {
        json: { encoderId: reg.body.encoder.id, waitMs: 1500 },
        headers: bearer(plaintext),
      });
      assert.ok([200, 204].includes(poll.status), poll.text);
      assert.ok(Date.now() - started >= 1000 || poll.status === 200);
    } finally {
      await s.close();
    }
  });

  test('secure headers on API, docs and media answers', async () => {
    const s = await startSecurityApp(tdb.current.db);
    try {
      for (const path of ['/health', '/docs/', '/api/v1/jobs']) {
        const r = await http(s.url, 'GET', path, { headers: bearer(ADMIN) });
        assert.ok(r.status < 500, path);
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
        assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
        assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors/, path);
        assert.equal(r.headers.get('strict-transport-security'), null, 'no HSTS without TLS');
      }
    } finally {
      await s.close();
    }
  });
});

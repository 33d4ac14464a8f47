import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { signInLink } from '../../src/coordinator/app.js';
import { staticKeyAuthenticator } from '../../src/coordinator/plugins/auth.js';
import { apiKeyAuthenticator } from '../../src/coordinator/plugins/identity.js';
import { createMemoryApiKeyStore } from '../../src/identity/index.js';
import { injectableApp } from './inject-app.js';

/**
 * Session cookies, CSRF and dashboard serving through `app.inject()` on the real app (PGlite store,
 * hashed keys in a memory key store): sealing, tampering, revocation of the underlying key, bearer
 * precedence, sign-out, SPA fallback and cache headers of a small built web root.
 */
describe('dashboard sessions and static serving', () => {
  let dir: string;
  let app: FastifyInstance;
  let close: (() => Promise<void>) | undefined;
  const keys = createMemoryApiKeyStore();
  const ADMIN = 'bootstrap-admin-key-for-session-test';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-session-'));
    const web = join(dir, 'web');
    await mkdir(join(web, 'assets'), { recursive: true });
    await writeFile(join(web, 'index.html'), '<!doctype html><title>vidmesh</title><div id="root"></div>');
    await writeFile(join(web, 'assets', 'index-abc123.js'), 'console.log(1)');
    ({ app, close } = await injectableApp(dir, {
      authenticators: [
        staticKeyAuthenticator(ADMIN, { id: 'api_key:bootstrap', scopes: ['admin'] }),
        apiKeyAuthenticator(keys),
      ],
      keys,
      webRoot: web,
    }));
  });

  after(async () => {
    await close?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const csrf = { 'x-vidmesh-csrf': '1' };
  async function signIn(apiKey: string): Promise<string> {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: csrf,
      payload: { apiKey },
    });
    assert.equal(res.statusCode, 200, res.body);
    const set = String(res.headers['set-cookie']);
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.doesNotMatch(set, /Secure/, 'plain HTTP: no Secure flag');
    assert.ok(!set.includes(apiKey), 'the key is sealed');
    return set.split(';')[0];
  }

  test('sign-in needs a valid key and the CSRF header; GET /session names the principal', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: csrf,
      payload: { apiKey: 'nope' },
    });
    assert.equal(bad.statusCode, 401);
    const noCsrf = await app.inject({ method: 'POST', url: '/api/v1/session', payload: { apiKey: ADMIN } });
    assert.equal(noCsrf.statusCode, 403);
    assert.equal(noCsrf.json().code, 'csrf_header_missing');
    const cookie = await signIn(ADMIN);
    const who = await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie } });
    assert.deepEqual(who.json().principal, { id: 'api_key:bootstrap', scopes: ['admin'], tenant: null });
    const anon = await app.inject({ method: 'GET', url: '/api/v1/session' });
    assert.equal(anon.json().principal, null);
  });

  test('cookie authenticates reads; mutations need the CSRF header; tampered cookies are refused', async () => {
    const cookie = await signIn(ADMIN);
    assert.equal(
      (await app.inject({ method: 'GET', url: '/api/v1/jobs', headers: { cookie } })).statusCode,
      200,
    );
    const mutate = (headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/jobs/00000000-0000-0000-0000-000000000000/retry',
        headers,
        payload: {},
      });
    const refused = await mutate({ cookie });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().code, 'csrf_header_missing');
    assert.equal(
      (await mutate({ cookie, ...csrf })).statusCode,
      404,
      'past auth and CSRF: the job is unknown',
    );
    // Bearer requests (CLI, services) need no CSRF header.
    assert.equal((await mutate({ authorization: `Bearer ${ADMIN}` })).statusCode, 404);

    const value = cookie.split('=')[1];
    const flipped = `${value.slice(0, -2)}${value.endsWith('A') ? 'B' : 'A'}${value.slice(-1)}`;
    const tampered = await app.inject({
      method: 'GET',
      url: '/api/v1/jobs',
      headers: { cookie: `vidmesh_session=${flipped}` },
    });
    assert.equal(tampered.statusCode, 401);
  });

  test('a session follows its key: read-only scope enforced, revocation ends it, sign-out kills the cookie', async () => {
    const { key, plaintext } = await keys.create({ name: 'reader', scopes: ['read'] });
    const cookie = await signIn(plaintext);
    const h = { cookie, ...csrf };
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/jobs', headers: h })).statusCode, 200);
    const submit = await app.inject({
      method: 'POST',
      url: '/api/v1/uploads',
      headers: { ...h, 'content-type': 'application/octet-stream' },
      payload: Buffer.from('x'),
    });
    assert.equal(submit.statusCode, 403);
    assert.equal(submit.json().code, 'forbidden');
    const ban = await app.inject({ method: 'POST', url: '/api/v1/encoders/x/ban', headers: h });
    assert.equal(ban.statusCode, 403);

    assert.ok(await keys.revoke(key.id));
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/jobs', headers: h })).statusCode, 401);

    const admin = await signIn(ADMIN);
    const out = await app.inject({
      method: 'DELETE',
      url: '/api/v1/session',
      headers: { cookie: admin, ...csrf },
    });
    assert.equal(out.statusCode, 204);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    assert.equal(
      (await app.inject({ method: 'GET', url: '/api/v1/jobs', headers: { cookie: admin } })).statusCode,
      401,
    );
  });

  test('web: index.html for client routes, immutable hashed assets, JSON 404 elsewhere', async () => {
    for (const url of ['/', '/jobs', '/jobs/abc-123', '/encoders', '/submit', '/jobs?status=dead']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), /text\/html/);
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.match(String(res.headers['content-security-policy']), /script-src 'self'/);
      assert.match(res.body, /id="root"/);
    }
    const asset = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    assert.equal(asset.statusCode, 200);
    assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
    for (const url of ['/nope', '/api/v1/nope', '/assets/missing.js', '/../package.json']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.match(String(res.headers['content-type']), /problem\+json/);
    }
  });

  test('a one-time sign-in link sets the session once; a used, expired or wrong token is 401', async () => {
    const link = signInLink(app, 'http://coordinator.test/', ADMIN);
    assert.match(link, /^http:\/\/coordinator\.test\/api\/v1\/session\/link\?token=[\w-]{43}$/);
    const path = link.slice('http://coordinator.test'.length);
    const first = await app.inject({ method: 'GET', url: path });
    assert.equal(first.statusCode, 200, first.body);
    assert.match(first.body, /url=\//, 'continues to the dashboard');
    assert.equal(first.headers['referrer-policy'], 'no-referrer');
    const cookie = String(first.headers['set-cookie']).split(';')[0];
    const who = await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie } });
    assert.equal((who.json() as { principal: { id: string } }).principal.id, 'api_key:bootstrap');

    const again = await app.inject({ method: 'GET', url: path });
    assert.equal(again.statusCode, 401, 'single use');
    assert.equal(again.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(again.headers['set-cookie'], undefined);

    const expired = signInLink(app, 'http://coordinator.test', ADMIN, 0).slice(
      'http://coordinator.test'.length,
    );
    assert.equal((await app.inject({ method: 'GET', url: expired })).statusCode, 401, 'expired');
    const wrong = await app.inject({ method: 'GET', url: '/api/v1/session/link?token=not-a-token' });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'unauthorized');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../errors.js';
import { authenticateApiKey, createMemoryApiKeyStore } from './apikey-store.js';
import {
  type ApiKeyRecord,
  apiKeyFromHeaders,
  generateApiKey,
  hashApiKey,
  hasScope,
  parseScopes,
  requireScope,
  type Scope,
  verifyApiKey,
} from './apikeys.js';
import { ApiKeyError, type ApiKeyErrorCode, ScopeError } from './errors.js';

const T0 = new Date('2025-06-01T00:00:00Z');
const refused = (c: ApiKeyErrorCode) => (e: unknown) =>
  e instanceof ApiKeyError && e.code === c && e.status === 401;

function recordOf(key: ReturnType<typeof generateApiKey>, over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: 'k1',
    name: 'ci',
    prefix: key.prefix,
    hash: key.hash,
    scopes: key.scopes,
    tenant: key.tenant,
    createdAt: T0,
    expiresAt: key.expiresAt,
    revokedAt: null,
    lastUsedAt: null,
    ...over,
  };
}

describe('API keys', () => {
  it('generates vmk_<prefix>_<secret> keys, stores only a SHA-256 hash', () => {
    const key = generateApiKey({ scopes: ['read', 'submit', 'read'], tenant: 'acme' });
    assert.match(key.plaintext, /^vmk_[0-9a-f]{12}_[1-9A-HJ-NP-Za-km-z]{40,46}$/);
    assert.equal(key.plaintext.split('_')[1], key.prefix);
    assert.match(key.hash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(key.hash, hashApiKey(key.plaintext));
    assert.ok(!key.hash.includes(key.plaintext.split('_')[2]!));
    assert.deepEqual(key.scopes, ['submit', 'read']);
    assert.notEqual(generateApiKey({ scopes: ['read'] }).plaintext, key.plaintext);
  });

  it('verifies the right key and refuses the others with distinct codes', async () => {
    const key = generateApiKey({
      scopes: ['submit'],
      tenant: 'acme',
      expiresAt: new Date(T0.getTime() + 3600_000),
    });
    const lookup = async (prefix: string) => (prefix === key.prefix ? recordOf(key) : undefined);
    const info = await verifyApiKey(key.plaintext, lookup, { now: T0 });
    assert.equal(info.tenant, 'acme');
    assert.ok(!('hash' in info));

    const secret = key.plaintext.split('_')[2]!;
    const flipped = key.plaintext.slice(0, -1) + (key.plaintext.endsWith('2') ? '3' : '2');
    const rows: Array<[string, string | undefined, ApiKeyErrorCode, Date?]> = [
      ['missing', undefined, 'api_key_missing'],
      ['empty', '', 'api_key_missing'],
      ['no prefix', secret, 'api_key_malformed'],
      ['upper-case prefix', `vmk_${key.prefix.toUpperCase()}_${secret}`, 'api_key_malformed'],
      ['SQL-looking', "vmk_' OR 1=1 --_x", 'api_key_malformed'],
      ['unknown prefix', `vmk_000000000000_${secret}`, 'api_key_invalid'],
      ['wrong secret', flipped, 'api_key_invalid'],
      ['expired', key.plaintext, 'api_key_expired', new Date(T0.getTime() + 3600_000)],
    ];
    for (const [name, plaintext, code, now] of rows) {
      await assert.rejects(verifyApiKey(plaintext, lookup, { now: now ?? T0 }), refused(code), name);
    }
    const revoked = async () => recordOf(key, { revokedAt: T0 });
    await assert.rejects(verifyApiKey(key.plaintext, revoked, { now: T0 }), refused('api_key_revoked'));
    // A revoked key with a wrong secret says only "invalid": state is revealed to key holders only.
    await assert.rejects(verifyApiKey(flipped, revoked, { now: T0 }), refused('api_key_invalid'));
  });

  it('applies the scope rule: each scope covers itself, admin covers all', () => {
    const all: Scope[] = ['submit', 'read', 'admin', 'encoder'];
    for (const needed of all) {
      assert.equal(hasScope(['admin'], needed), true);
      for (const granted of all.filter((s) => s !== 'admin'))
        assert.equal(hasScope([granted], needed), granted === needed);
    }
    assert.equal(hasScope([], 'read'), false);
    assert.throws(
      () => requireScope(['read'], 'submit'),
      (e: unknown) => e instanceof ScopeError && e.status === 403 && e.code === 'insufficient_scope',
    );
    assert.deepEqual(parseScopes('submit, read'), ['submit', 'read']);
    for (const bad of ['', 'root', 'read,ADMIN', ' , '])
      assert.throws(() => parseScopes(bad), ValidationError, bad);
  });

  it('reads keys from Bearer or X-Api-Key headers', () => {
    assert.equal(apiKeyFromHeaders({ authorization: 'Bearer vmk_a_b' }), 'vmk_a_b');
    assert.equal(apiKeyFromHeaders({ 'x-api-key': 'vmk_c_d' }), 'vmk_c_d');
    assert.equal(apiKeyFromHeaders({ authorization: 'DIDJWS x.y.z' }), undefined);
    assert.equal(apiKeyFromHeaders({}), undefined);
  });

  it('memory store: create, list without hashes, tenant filter, revoke, touch at most once a minute', async () => {
    const store = createMemoryApiKeyStore();
    const a = await store.create({ name: 'a', scopes: ['submit', 'read'], tenant: 'acme' }, T0);
    const b = await store.create({ scopes: ['admin'] }, new Date(T0.getTime() + 1000));
    assert.equal((await store.list()).length, 2);
    assert.deepEqual(
      (await store.list({ tenant: 'acme' })).map((k) => k.prefix),
      [a.key.prefix],
    );
    assert.ok((await store.list()).every((k) => !('hash' in k)));
    assert.ok(!JSON.stringify(await store.list()).includes(a.plaintext.split('_')[2]!));

    const info = await authenticateApiKey(store, a.plaintext, { now: T0 });
    assert.equal(info.id, a.key.id);
    assert.deepEqual((await store.findByPrefix(a.key.prefix))?.lastUsedAt, T0);
    await authenticateApiKey(store, a.plaintext, { now: new Date(T0.getTime() + 30_000) });
    assert.deepEqual((await store.findByPrefix(a.key.prefix))?.lastUsedAt, T0);
    await authenticateApiKey(store, a.plaintext, { now: new Date(T0.getTime() + 61_000) });
    assert.deepEqual((await store.findByPrefix(a.key.prefix))?.lastUsedAt, new Date(T0.getTime() + 61_000));

    assert.equal(await store.revoke(b.key.prefix, { tenant: 'acme' }), false);
    assert.equal(await store.revoke(a.key.prefix, { tenant: 'acme', now: T0 }), true);
    assert.equal(await store.revoke(a.key.id), false);
    await assert.rejects(authenticateApiKey(store, a.plaintext, { now: T0 }), refused('api_key_revoked'));
    assert.deepEqual(
      (await store.list()).map((k) => k.id),
      [b.key.id],
    );
    assert.equal((await store.list({ includeRevoked: true })).length, 2);
  });
});

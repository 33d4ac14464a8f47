// The identity stores on the job store's real schema (migrations of src/jobs), on PostgreSQL and on
// PGlite: the same SQL must behave the same on both drivers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ApiKeyError,
  authenticateApiKey,
  createSqlApiKeyStore,
  createSqlNonceStore,
  generateIdentity,
  SignatureError,
  signRequest,
  verifySignedRequest,
} from '../../src/identity/index.js';
import { type TestDriver, withTestDatabase } from '../helpers/db.js';

const T0 = new Date('2025-06-01T12:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

for (const driver of ['postgres', 'pglite'] as TestDriver[]) {
  describe(`identity stores on ${driver}`, () => {
    const t = withTestDatabase({ driver });

    it('nonce store: first claim wins, live duplicates lose, expired rows are replaced and purged', async () => {
      const store = createSqlNonceStore(t.current.db);
      const did = generateIdentity().did;
      assert.equal(await store.claim(did, 'nonce-a', at(90), at(0)), true);
      assert.equal(await store.claim(did, 'nonce-a', at(90), at(10)), false);
      assert.equal(await store.claim('did:key:other', 'nonce-a', at(90), at(10)), true);
      // Expired but not purged yet: the pair may be used again (the old request is dead by its exp).
      assert.equal(await store.claim(did, 'nonce-a', at(300), at(100)), true);
      assert.equal(await store.claim(did, 'nonce-a', at(300), at(101)), false);
      // The claim at +100 s also purged (at most once a minute) the other DID's expired row.
      const { rows } = await t.current.db.query<{ did: string }>('SELECT did FROM request_nonces');
      assert.deepEqual(
        rows.map((r) => r.did),
        [did],
      );
      assert.equal(await store.purgeExpired(at(200)), 0);
      assert.equal(await store.purgeExpired(at(400)), 1);
    });

    it('signed requests: a replay is refused through the database', async () => {
      const nonceStore = createSqlNonceStore(t.current.db);
      const id = generateIdentity();
      const body = '{"done":true}';
      const headers = await signRequest(id, { method: 'POST', path: '/v1/jobs/j9/complete', body, now: T0 });
      const request = { method: 'POST', path: '/v1/jobs/j9/complete', body, headers };
      assert.equal((await verifySignedRequest(request, { nonceStore, now: at(1) })).did, id.did);
      await assert.rejects(
        verifySignedRequest(request, { nonceStore, now: at(2) }),
        (e: unknown) => e instanceof SignatureError && e.code === 'nonce_replayed',
      );
    });

    it('API key store: create, authenticate, touch, list without hashes, tenant-scoped revoke', async () => {
      const store = createSqlApiKeyStore(t.current.db);
      const a = await store.create(
        { name: 'ci', scopes: ['submit', 'read'], tenant: 'acme', expiresAt: at(3600) },
        T0,
      );
      const b = await store.create({ scopes: ['admin'] }, at(1));
      assert.equal(b.key.tenant, 'default');

      const info = await authenticateApiKey(store, a.plaintext, { now: at(5) });
      assert.deepEqual(
        { id: info.id, scopes: info.scopes, tenant: info.tenant },
        { id: a.key.id, scopes: ['submit', 'read'], tenant: 'acme' },
      );
      assert.deepEqual((await store.findByPrefix(a.key.prefix))?.lastUsedAt, at(5));
      await authenticateApiKey(store, a.plaintext, { now: at(30) });
      assert.deepEqual((await store.findByPrefix(a.key.prefix))?.lastUsedAt, at(5));
      await assert.rejects(authenticateApiKey(store, a.plaintext, { now: at(3600) }), (e: unknown) => {
        return e instanceof ApiKeyError && e.code === 'api_key_expired';
      });
      await assert.rejects(
        // A different last character (replacing it with a fixed one fails 1 time in 58).
        authenticateApiKey(
          store,
          a.plaintext.replace(/.$/, (c) => (c === 'x' ? 'y' : 'x')),
          { now: at(5) },
        ),
        ApiKeyError,
      );

      const all = await store.list();
      assert.deepEqual(
        all.map((k) => k.prefix),
        [b.key.prefix, a.key.prefix],
      );
      assert.ok(all.every((k) => !('hash' in k)));
      assert.deepEqual(
        (await store.list({ tenant: 'acme' })).map((k) => k.id),
        [a.key.id],
      );

      assert.equal(await store.revoke(a.key.prefix, { tenant: 'other', now: at(6) }), false);
      assert.equal(await store.revoke(a.key.id, { tenant: 'acme', now: at(6) }), true);
      assert.equal(await store.revoke(a.key.prefix, { now: at(7) }), false);
      await assert.rejects(
        authenticateApiKey(store, a.plaintext, { now: at(8) }),
        (e: unknown) => e instanceof ApiKeyError && e.code === 'api_key_revoked',
      );
      assert.deepEqual(
        (await store.list()).map((k) => k.id),
        [b.key.id],
      );
      assert.equal((await store.list({ includeRevoked: true })).length, 2);
      // Hostile lookups are bound parameters, never SQL.
      assert.equal(await store.findByPrefix("' OR '1'='1"), undefined);
      assert.equal(await store.revoke("x' OR '1'='1"), false);
    });
  });
}

describe('nonce store under concurrency (postgres, two pools)', () => {
  const t = withTestDatabase({ driver: 'postgres' });
  it('accepts one of 20 concurrent claims of the same nonce', async () => {
    const other = await t.current.open({ poolSize: 5 });
    const stores = [createSqlNonceStore(t.current.db), createSqlNonceStore(other)];
    const did = generateIdentity().did;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => stores[i % 2]!.claim(did, 'race', at(60), at(0))),
    );
    assert.equal(results.filter(Boolean).length, 1);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createKeysCommand, parseExpiry } from '../../src/cli/keys.js';
import { ValidationError } from '../../src/errors.js';
import { authenticateApiKey, createSqlApiKeyStore } from '../../src/identity/index.js';
import { withTestDatabase } from '../helpers/db.js';

const T0 = new Date('2025-06-01T00:00:00Z');

/** Runs `vidmesh keys …args` in process against the test database; resolves what it printed. */
async function keys(url: string, ...args: string[]): Promise<string> {
  let out = '';
  const cmd = createKeysCommand({ out: (t) => (out += t) });
  cmd.exitOverride();
  const sub = args[0]!;
  await cmd.parseAsync([sub, ...args.slice(1), '--database-url', url], { from: 'user' });
  return out;
}

describe('vidmesh keys', () => {
  const t = withTestDatabase({ driver: 'postgres' });

  it('creates a key shown once, lists it without secrets, revokes it', async () => {
    const url = t.current.url!;
    const created = JSON.parse(
      await keys(
        url,
        'create',
        '--scope',
        'submit,read',
        '--tenant',
        'acme',
        '--expires',
        '30d',
        '--name',
        'ci',
        '--json',
      ),
    );
    assert.match(created.key, /^vmk_[0-9a-f]{12}_/);
    assert.deepEqual(created.scopes, ['submit', 'read']);
    const store = createSqlApiKeyStore(t.current.db);
    assert.equal((await authenticateApiKey(store, created.key)).tenant, 'acme');

    const listed = await keys(url, 'list', '--tenant', 'acme');
    assert.match(listed, new RegExp(`^${created.prefix}\\s+ci\\s+acme\\s+submit,read\\s+active`));
    assert.ok(!listed.includes(created.key.split('_')[2]));
    assert.ok(!(await keys(url, 'list', '--json')).includes('sha256:'));

    assert.equal(await keys(url, 'revoke', created.prefix), `revoked ${created.prefix}\n`);
    await assert.rejects(
      keys(url, 'revoke', created.prefix),
      (e: unknown) => (e as { status?: number }).status === 404,
    );
    assert.equal(await keys(url, 'list', '--tenant', 'acme'), '');
    assert.match(await keys(url, 'list', '--all'), /revoked/);
  });

  it('refuses bad scopes, names and expiries before touching the database', async () => {
    const url = t.current.url!;
    for (const args of [
      ['create', '--scope', 'root'],
      ['create', '--scope', 'read', '--name', "x'; DROP TABLE api_keys; --"],
      ['create', '--scope', 'read', '--expires', 'tomorrow'],
      ['create', '--scope', 'read', '--tenant', '../other'],
    ]) {
      await assert.rejects(keys(url, ...args), ValidationError, args.join(' '));
    }
  });

  it('parses expiries as durations or ISO dates in the future', () => {
    assert.deepEqual(parseExpiry('30d', T0), new Date('2025-07-01T00:00:00Z'));
    assert.deepEqual(parseExpiry('12h', T0), new Date('2025-06-01T12:00:00Z'));
    assert.deepEqual(parseExpiry('2026-01-01', T0), new Date('2026-01-01T00:00:00Z'));
    for (const bad of ['0d', '2024-01-01', '1', 'abc', '99999w', '30 d']) {
      assert.throws(() => parseExpiry(bad, T0), ValidationError, bad);
    }
  });
});

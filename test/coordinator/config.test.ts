import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, resolveClientTarget, settings } from '../../src/config.js';
import { packageRoot } from '../../src/paths.js';

test('defaults, env coercion, flags over env', () => {
  const d = loadConfig({ env: {} });
  assert.equal(d.port, 8080);
  assert.equal(d.dataDir, resolve('./.vidmesh'));
  assert.equal(d.encoders, 1);
  assert.equal(d.databaseUrl, undefined);
  const e = loadConfig({
    env: { PORT: '9000', VIDMESH_ENCODERS: '0', VIDMESH_ALLOW_PRIVATE_NETWORKS: 'true' },
  });
  assert.equal(e.port, 9000);
  assert.equal(e.encoders, 0);
  assert.equal(e.allowPrivateNetworks, true);
  assert.equal(loadConfig({ env: { PORT: '9000' }, flags: { port: '7000' } }).port, 7000);
  assert.equal(loadConfig({ env: { PORT: '' } }).port, 8080, 'empty variables count as unset');
  assert.deepEqual(loadConfig({ env: { VIDMESH_FILE_ROOTS: '/a, /b/' } }).fileRoots, ['/a', '/b']);
  assert.equal(loadConfig({ env: { VIDMESH_URL: 'http://h:1/' } }).url, 'http://h:1');
});

test('a bad value fails naming the variable or flag, never echoing secrets', () => {
  assert.throws(
    () => loadConfig({ env: { PORT: '70000' } }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'invalid_config');
      assert.match(e.message, /^PORT: /);
      return true;
    },
  );
  assert.throws(() => loadConfig({ env: {}, flags: { port: 'abc' } }), /^ConfigError: --port: /);
  assert.throws(() => loadConfig({ env: { VIDMESH_URL: 'ftp://x' } }), /VIDMESH_URL/);
  assert.throws(() => loadConfig({ env: { VIDMESH_HWACCEL: 'cuda' } }), /VIDMESH_HWACCEL/);
  assert.throws(
    () => loadConfig({ env: { DATABASE_URL: 'mysql://user:hunter2@db/x' } }),
    (e: unknown) => e instanceof ConfigError && /DATABASE_URL/.test(e.message) && !/hunter2/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ env: { VIDMESH_API_KEY: 'short-secret' } }),
    (e: unknown) => e instanceof ConfigError && !/short-secret/.test(e.message),
  );
});

test('client target: flags/env, then client.json; the saved key only goes to its own URL', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-config-'));
  try {
    await writeFile(
      join(dir, 'client.json'),
      JSON.stringify({ url: 'http://127.0.0.1:1234', apiKey: 'saved-key' }),
    );
    const fromFile = resolveClientTarget(loadConfig({ env: { VIDMESH_DATA_DIR: dir } }));
    assert.deepEqual(fromFile, {
      url: 'http://127.0.0.1:1234',
      apiKey: 'saved-key',
      origin: join(dir, 'client.json'),
    });
    const env = { VIDMESH_DATA_DIR: dir, VIDMESH_URL: 'http://evil.example' };
    const other = resolveClientTarget(loadConfig({ env }), env);
    assert.deepEqual(other, { url: 'http://evil.example', apiKey: undefined, origin: 'VIDMESH_URL' });
    const none = resolveClientTarget(loadConfig({ env: { VIDMESH_DATA_DIR: join(dir, 'missing') } }));
    assert.equal(none.url, 'http://127.0.0.1:8080');
    assert.equal(none.apiKey, undefined);
    assert.match(none.origin, /^the default/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('docs/configuration.md lists every setting', async () => {
  const doc = await readFile(join(packageRoot(), 'docs', 'configuration.md'), 'utf8');
  for (const s of Object.values(settings)) {
    assert.match(doc, new RegExp(`^\\|\\s*\`${s.env}\`\\s*\\|`, 'm'), `${s.env} documented`);
  }
});

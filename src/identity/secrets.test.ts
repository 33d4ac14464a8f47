import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KeyMaterialError, SecretBoxError } from './errors.js';
import { DEFAULT_SECRET_PATHS, REDACTED, redact } from './redact.js';
import {
  createSecretBox,
  isSealed,
  loadOrCreateServerKey,
  resolveServerKey,
  serverKeyFromEnv,
} from './secrets.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-identity-secrets-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('secret box', () => {
  const key = randomBytes(32);
  const box = createSecretBox(key);

  it('seals with a fresh IV into a v1 envelope and opens it again', () => {
    const secret = 'AKIA…/wJalrXUtnFEMI/K7MDENG+bPxRfiCY 🔑';
    const a = box.seal(secret);
    const b = box.seal(secret);
    assert.notEqual(a, b);
    assert.match(a, /^v1\.[\w-]{16}\.[\w-]+$/);
    assert.ok(isSealed(a) && !isSealed(secret));
    assert.ok(!a.includes('wJalr'));
    assert.equal(box.open(a), secret);
    assert.equal(box.open(box.seal('')), '');
  });

  it('binds the context and refuses altered envelopes, wrong keys and junk', () => {
    const sealed = box.seal('s3cret', 'job:1:destination');
    assert.equal(box.open(sealed, 'job:1:destination'), 's3cret');
    const [v, iv, body] = sealed.split('.') as [string, string, string];
    const flipped = Buffer.from(body, 'base64url');
    flipped[0]! ^= 1;
    const bad = [
      () => box.open(sealed, 'job:2:destination'),
      () => box.open(sealed),
      () => createSecretBox(randomBytes(32)).open(sealed, 'job:1:destination'),
      () => box.open(`${v}.${iv}.${flipped.toString('base64url')}`, 'job:1:destination'),
      () => box.open(`v2.${iv}.${body}`, 'job:1:destination'),
      () => box.open('plain text'),
      () => box.open(`v1.${iv}.AAAA`),
    ];
    for (const f of bad)
      assert.throws(f, (e: unknown) => e instanceof SecretBoxError && e.code === 'secret_unsealable');
  });

  it('opens values sealed under a previous key', () => {
    const oldKey = randomBytes(32);
    const sealed = createSecretBox(oldKey).seal('legacy');
    assert.throws(() => box.open(sealed), SecretBoxError);
    const rotated = createSecretBox(key, { previousKeys: [oldKey] });
    assert.equal(rotated.open(sealed), 'legacy');
    assert.equal(rotated.open(box.seal('current')), 'current');
    assert.equal(box.open(rotated.seal('new')), 'new');
    assert.throws(() => createSecretBox(randomBytes(16)), KeyMaterialError);
  });

  it('loads the server key from VIDMESH_SECRET_KEY or a 0600 file created once', async () => {
    const envKey = randomBytes(32);
    assert.deepEqual(
      Buffer.from(serverKeyFromEnv({ VIDMESH_SECRET_KEY: envKey.toString('base64') })!),
      envKey,
    );
    assert.equal(serverKeyFromEnv({}), undefined);
    assert.throws(
      () => serverKeyFromEnv({ VIDMESH_SECRET_KEY: 'short' }),
      (e: unknown) => e instanceof KeyMaterialError && e.code === 'invalid_key',
    );
    const file = join(dir, 'keys', 'secret-key');
    const first = await loadOrCreateServerKey(file);
    assert.equal(first.length, 32);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await loadOrCreateServerKey(file), first);
    assert.deepEqual(
      Buffer.from(
        await resolveServerKey({ keyFile: file, env: { VIDMESH_SECRET_KEY: envKey.toString('base64') } }),
      ),
      envKey,
    );
    assert.deepEqual(await resolveServerKey({ keyFile: file, env: {} }), first);
    await chmod(file, 0o604);
    await assert.rejects(
      loadOrCreateServerKey(file),
      (e: unknown) => e instanceof KeyMaterialError && e.code === 'key_file_insecure',
    );
    const junk = join(dir, 'junk');
    await writeFile(junk, 'xyz', { mode: 0o600 });
    await assert.rejects(
      loadOrCreateServerKey(junk),
      (e: unknown) => e instanceof KeyMaterialError && e.code === 'key_file_invalid',
    );
  });
});

describe('redact', () => {
  it('blanks secret paths in a copy and leaves the original alone', () => {
    const spec = {
      source: { url: 'https://example.com/a.mp4', headers: { authorization: 'Bearer x' } },
      destination: { type: 's3', bucket: 'b', credentials: { accessKeyId: 'AKIA', secretAccessKey: 'sk' } },
      webhooks: [
        { url: 'https://hooks.example', secret: 'whsec_1' },
        { url: 'https://h2', secret: null },
      ],
      name: 'secret', // a value, not a secret field
    };
    const out = redact(spec);
    assert.equal(out.destination.credentials, REDACTED as unknown);
    assert.equal(out.webhooks[0]!.secret, REDACTED);
    assert.equal(out.webhooks[1]!.secret, null);
    assert.equal(out.source.headers.authorization, REDACTED);
    assert.equal(out.name, 'secret');
    assert.equal(spec.destination.credentials.secretAccessKey, 'sk');
    assert.ok(!JSON.stringify(out).includes('whsec_1') && !JSON.stringify(out).includes('AKIA'));
  });

  it('supports exact paths, * and ** patterns', () => {
    const v = { a: { b: 1, c: { b: 2 } }, list: [{ k: 1 }, { k: 2 }], b: 3 };
    assert.deepEqual(redact(v, ['a.b']), {
      a: { b: REDACTED, c: { b: 2 } },
      list: [{ k: 1 }, { k: 2 }],
      b: 3,
    });
    assert.deepEqual(redact(v, ['list.*.k']), { ...v, list: [{ k: REDACTED }, { k: REDACTED }] });
    assert.deepEqual(redact(v, ['**.b']), {
      a: { b: REDACTED, c: { b: REDACTED } },
      list: v.list,
      b: REDACTED,
    });
    assert.ok(DEFAULT_SECRET_PATHS.includes('**.password'));
  });

  it('survives cycles, deep nesting and __proto__ keys', () => {
    const cyclic: Record<string, unknown> = { password: 'p' };
    cyclic.self = cyclic;
    assert.deepEqual(redact(cyclic), { password: REDACTED, self: '[circular]' });
    let deep: Record<string, unknown> = { secret: 's' };
    for (let i = 0; i < 10_000; i++) deep = { d: deep };
    assert.ok(JSON.stringify(redact(deep)).includes('[too deep]'));
    const hostile = JSON.parse('{"__proto__": {"secret": "x"}}');
    const out = redact(hostile) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { secret: REDACTED });
    assert.equal(({} as Record<string, unknown>).secret, undefined);
  });
});

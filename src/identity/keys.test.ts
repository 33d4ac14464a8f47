import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { KeyMaterialError } from './errors.js';
import {
  generateIdentity,
  generateSeed,
  identityFromSeed,
  loadOrCreateIdentity,
  resolveEncoderIdentity,
} from './keys.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-identity-keys-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const isCode = (code: string) => (e: unknown) => e instanceof KeyMaterialError && e.code === code;

describe('encoder identity', () => {
  it('creates a 0600 key file in a 0700 directory on first start and reuses it after', async () => {
    const file = join(dir, 'nested', 'encoder-key');
    const first = await loadOrCreateIdentity(file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'nested'))).mode & 0o777, 0o700);
    const again = await loadOrCreateIdentity(file);
    assert.equal(again.did, first.did);
    assert.equal(identityFromSeed(await readFile(file, 'utf8')).did, first.did);
  });

  it('gives one identity to concurrent first starts', async () => {
    const file = join(dir, 'race', 'encoder-key');
    const ids = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity(file)));
    assert.equal(new Set(ids.map((i) => i.did)).size, 1);
  });

  it('refuses a key file readable by group or others, and a file without a seed', async () => {
    const file = join(dir, 'loose-key');
    await writeFile(file, generateSeed(), { mode: 0o600 });
    await chmod(file, 0o644);
    await assert.rejects(loadOrCreateIdentity(file), isCode('key_file_insecure'));
    await chmod(file, 0o640);
    await assert.rejects(loadOrCreateIdentity(file), isCode('key_file_insecure'));
    const junk = join(dir, 'junk-key');
    await writeFile(junk, 'not a key\n', { mode: 0o600 });
    await assert.rejects(loadOrCreateIdentity(junk), isCode('key_file_invalid'));
  });

  it('accepts ENCODER_PRIVATE_KEY before the key file and validates it', async () => {
    const seed = generateSeed();
    const file = join(dir, 'unused-key');
    const id = await resolveEncoderIdentity({ keyFile: file, env: { ENCODER_PRIVATE_KEY: seed } });
    assert.equal(id.did, identityFromSeed(seed).did);
    await assert.rejects(stat(file));
    const fromFile = await resolveEncoderIdentity({ keyFile: file, env: {} });
    assert.equal(fromFile.did, (await loadOrCreateIdentity(file)).did);
    for (const bad of [
      '',
      'abc',
      Buffer.alloc(31).toString('base64'),
      Buffer.alloc(33).toString('base64'),
      '!!!!',
    ]) {
      assert.throws(() => identityFromSeed(bad), isCode('invalid_key'), bad);
    }
    // Unpadded base64 of a 32-byte seed is the same key.
    assert.equal(identityFromSeed(seed.replace(/=+$/, '')).did, identityFromSeed(seed).did);
  });

  it('keeps the private key out of JSON and inspect output', () => {
    const seed = generateSeed();
    const id = identityFromSeed(seed);
    const seedHex = Buffer.from(seed, 'base64').toString('hex');
    for (const text of [JSON.stringify(id), inspect(id, { depth: 10, showHidden: true })]) {
      assert.ok(!text.includes(seed) && !text.includes(seedHex));
    }
    assert.notEqual(generateIdentity().did, generateIdentity().did);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { b64url } from './encoding.js';
import { SignatureError, type SignatureErrorCode } from './errors.js';
import { type GeneralJws, signJws, toCompactJws, verifyJws } from './jws.js';
import { generateIdentity } from './keys.js';

const alice = generateIdentity();
const mallory = generateIdentity();
const code = (c: SignatureErrorCode) => (e: unknown) =>
  e instanceof SignatureError && e.code === c && e.status === 401;

/** A JWS with an arbitrary protected header, signed by `signer` (to forge kid/alg combinations). */
async function forge(signer = alice, header: Record<string, unknown>, payload: unknown): Promise<GeneralJws> {
  const p = b64url(JSON.stringify(header));
  const body = b64url(JSON.stringify(payload));
  const sig = await signer.sign(Buffer.from(`${p}.${body}`));
  return { payload: body, signatures: [{ protected: p, signature: b64url(sig) }] };
}

describe('JWS', () => {
  it('signs a General JWS with the 3Speak header and sorted-key payload, and verifies it', async () => {
    const jws = await signJws(alice, { timestamp: '2025-01-01T00:00:00Z', b: [2, 1], a: { z: 1, y: null } });
    const header = JSON.parse(Buffer.from(jws.signatures[0]!.protected, 'base64url').toString());
    assert.deepEqual(Object.keys(header), ['alg', 'kid']);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.kid, alice.kid);
    assert.equal(
      Buffer.from(jws.payload, 'base64url').toString(),
      '{"a":{"y":null,"z":1},"b":[2,1],"timestamp":"2025-01-01T00:00:00Z"}',
    );
    for (const form of [jws, JSON.stringify(jws), toCompactJws(jws)]) {
      const v = await verifyJws(form);
      assert.equal(v.did, alice.did);
      assert.deepEqual(v.payload, { a: { y: null, z: 1 }, b: [2, 1], timestamp: '2025-01-01T00:00:00Z' });
    }
  });

  it('refuses payloads JSON cannot carry', async () => {
    await assert.rejects(signJws(alice, { n: Number.NaN }), TypeError);
    await assert.rejects(signJws(alice, { n: 1n }), TypeError);
  });

  const cases: Array<[string, () => Promise<unknown>, SignatureErrorCode]> = [
    [
      'wrong key (kid names alice, mallory signs)',
      async () => forge(mallory, { alg: 'EdDSA', kid: alice.kid }, { a: 1 }),
      'signature_invalid',
    ],
    [
      'tampered payload',
      async () => {
        const j = await signJws(alice, { amount: 1 });
        return { ...j, payload: b64url('{"amount":1000}') };
      },
      'signature_invalid',
    ],
    [
      'tampered signature',
      async () => {
        const j = await signJws(alice, { a: 1 });
        const s = Buffer.from(j.signatures[0]!.signature, 'base64url');
        s[0]! ^= 1;
        return { ...j, signatures: [{ ...j.signatures[0]!, signature: b64url(s) }] };
      },
      'signature_invalid',
    ],
    ['alg none', async () => forge(alice, { alg: 'none', kid: alice.kid }, { a: 1 }), 'jws_malformed'],
    ['alg HS256', async () => forge(alice, { alg: 'HS256', kid: alice.kid }, { a: 1 }), 'jws_malformed'],
    ['no kid', async () => forge(alice, { alg: 'EdDSA' }, { a: 1 }), 'kid_mismatch'],
    [
      'kid without fragment',
      async () => forge(alice, { alg: 'EdDSA', kid: alice.did }, { a: 1 }),
      'kid_mismatch',
    ],
    [
      'kid fragment of another key',
      async () => forge(alice, { alg: 'EdDSA', kid: `${alice.did}#${mallory.did.slice(8)}` }, { a: 1 }),
      'kid_mismatch',
    ],
    [
      'did:web kid',
      async () => forge(alice, { alg: 'EdDSA', kid: 'did:web:evil.example#key' }, { a: 1 }),
      'kid_mismatch',
    ],
    [
      'unknown crit header',
      async () => forge(alice, { alg: 'EdDSA', kid: alice.kid, crit: ['exp'], exp: 1 }, { a: 1 }),
      'jws_malformed',
    ],
    [
      'two signatures',
      async () => {
        const j = await signJws(alice, { a: 1 });
        return { ...j, signatures: [j.signatures[0], j.signatures[0]] };
      },
      'jws_malformed',
    ],
    [
      'unprotected header',
      async () => {
        const j = await signJws(alice, { a: 1 });
        return { ...j, signatures: [{ ...j.signatures[0], header: { kid: mallory.kid } }] };
      },
      'jws_malformed',
    ],
    [
      'payload not JSON',
      async () => {
        const p = b64url(JSON.stringify({ alg: 'EdDSA', kid: alice.kid }));
        const body = b64url('not json');
        return {
          payload: body,
          signatures: [{ protected: p, signature: b64url(await alice.sign(Buffer.from(`${p}.${body}`))) }],
        };
      },
      'jws_malformed',
    ],
    [
      'not base64url',
      async () => ({ payload: 'a+b/', signatures: [{ protected: 'x', signature: 'y' }] }),
      'jws_malformed',
    ],
    ['compact with 2 parts', async () => 'abc.def', 'jws_malformed'],
    ['oversized', async () => 'a'.repeat(70_000), 'jws_malformed'],
    ['JSON array', async () => '[1,2]', 'jws_malformed'],
    ['null', async () => null, 'jws_malformed'],
  ];
  for (const [name, make, expected] of cases) {
    it(`refuses ${name} with ${expected}`, async () => {
      await assert.rejects(verifyJws((await make()) as GeneralJws), code(expected));
    });
  }

  it('refuses a valid signature by another DID than expected', async () => {
    const j = await signJws(mallory, { a: 1 });
    await assert.rejects(verifyJws(j, { expectedDid: alice.did }), code('kid_mismatch'));
    assert.equal((await verifyJws(j, { expectedDid: mallory.did })).did, mallory.did);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { base58btc } from 'multiformats/bases/base58';
import { didFromKid, didFromPublicKey, isDidKey, kidForDid, publicKeyFromDid } from './did.js';
import { DidError } from './errors.js';
import { identityFromSeed } from './keys.js';

// RFC 8032 §7.1 TEST 1: secret key (seed), public key and the signature of the empty message.
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC8032_PUB = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC8032_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

describe('did:key', () => {
  it('derives the RFC 8032 public key and signature from a base64 seed', async () => {
    const id = identityFromSeed(Buffer.from(RFC8032_SEED, 'hex').toString('base64'));
    assert.equal(Buffer.from(id.publicKey).toString('hex'), RFC8032_PUB);
    assert.equal(Buffer.from(await id.sign(new Uint8Array())).toString('hex'), RFC8032_SIG);
    assert.match(id.did, /^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]+$/);
    assert.equal(id.kid, `${id.did}#${id.did.slice('did:key:'.length)}`);
  });

  it('round-trips public key <-> DID with the 0xed01 multicodec prefix', () => {
    const pub = Buffer.from(RFC8032_PUB, 'hex');
    const did = didFromPublicKey(pub);
    const raw = base58btc.decode(did.slice('did:key:'.length));
    assert.deepEqual([...raw.slice(0, 2)], [0xed, 0x01]);
    assert.deepEqual(Buffer.from(publicKeyFromDid(did)), pub);
    assert.equal(didFromKid(kidForDid(did)), did);
    assert.ok(isDidKey(did));
  });

  const pub = Buffer.from(RFC8032_PUB, 'hex');
  const secp = base58btc.encode(Uint8Array.from([0xe7, 0x01, ...new Uint8Array(33).fill(2)]));
  const short = base58btc.encode(Uint8Array.from([0xed, 0x01, ...pub.subarray(0, 31)]));
  const long = base58btc.encode(Uint8Array.from([0xed, 0x01, ...pub, 0]));
  const bad: Array<[string, string]> = [
    ['empty', ''],
    ['other method', 'did:web:example.com'],
    ['no multibase', 'did:key:'],
    ['base64 multibase', 'did:key:m7QH' + pub.toString('base64')],
    ['not base58', 'did:key:z0OIl'],
    ['secp256k1 key', `did:key:${secp}`],
    ['31-byte key', `did:key:${short}`],
    ['33-byte key', `did:key:${long}`],
    ['with fragment', `${didFromPublicKey(pub)}#x`],
    ['very long', `did:key:z${'1'.repeat(5000)}`],
  ];
  for (const [name, did] of bad) {
    it(`refuses ${name} with invalid_did`, () => {
      assert.throws(
        () => publicKeyFromDid(did),
        (e: unknown) => e instanceof DidError && e.code === 'invalid_did' && e.status === 400,
      );
      assert.equal(isDidKey(did), false);
    });
  }

  it('refuses kids whose fragment does not repeat the key', () => {
    const did = didFromPublicKey(pub);
    for (const kid of [
      did,
      `${did}#`,
      `${did}#keys-1`,
      `${did}#${didFromPublicKey(Buffer.alloc(32, 1)).slice(8)}`,
    ]) {
      assert.throws(() => didFromKid(kid), DidError, kid);
    }
  });

  it('refuses public keys of the wrong length', () => {
    assert.throws(() => didFromPublicKey(new Uint8Array(33)), DidError);
  });
});

// Compatibility proof of issue 6: vidmesh's JWS and the 3Speak encoder's own library stack
// (dids + key-did-provider-ed25519 + key-did-resolver, dev dependencies used only here) accept each
// other's signatures, and produce the same bytes for the same seed and payload.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DID } from 'dids';
import { Ed25519Provider } from 'key-did-provider-ed25519';
import * as KeyResolver from 'key-did-resolver';
import {
  createMemoryNonceStore,
  fromCompactJws,
  identityFromSeed,
  SignatureError,
  signJws,
  signRequest,
  toCompactJws,
  verifyJws,
  verifySignedRequest,
} from '../../src/identity/index.js';

/** A DID authenticated the way the 3Speak encoder's IdentityService does it. */
async function threeSpeakDid(seed: Uint8Array): Promise<DID> {
  const did = new DID({ provider: new Ed25519Provider(seed), resolver: KeyResolver.getResolver() });
  await did.authenticate();
  return did;
}

describe('3Speak dids stack compatibility', () => {
  const seed = randomBytes(32);
  const seedB64 = seed.toString('base64'); // what ENCODER_PRIVATE_KEY holds
  const ours = identityFromSeed(seedB64);

  it('derives the same DID from ENCODER_PRIVATE_KEY', async () => {
    const theirs = await threeSpeakDid(seed);
    assert.equal(ours.did, theirs.id);
  });

  it('verifies a JWS made by dids.createJWS (the payloads the 3Speak encoder posts)', async () => {
    const theirs = await threeSpeakDid(seed);
    const payloads = [
      { node_info: { name: 'enc-1', cryptoAccounts: { hive: 'alice' }, commit_hash: 'abc123' } },
      { timestamp: new Date().toISOString(), version: '2.1.0' },
      { z: 1, a: [3, { y: 'é', b: null }], m: 'tab\tquote"' },
    ];
    for (const payload of payloads) {
      const jws = await theirs.createJWS(payload);
      const body = JSON.parse(JSON.stringify({ jws })); // as it arrives in a POST body
      const verified = await verifyJws(body.jws);
      assert.equal(verified.did, theirs.id);
      assert.deepEqual(verified.payload, payload);
      // Same seed, same payload: Ed25519 is deterministic, so the bytes match exactly.
      assert.deepEqual(await signJws(ours, payload), { payload: jws.payload, signatures: jws.signatures });
    }
  });

  it('refuses a dids-made JWS whose payload was altered', async () => {
    const theirs = await threeSpeakDid(seed);
    const jws = await theirs.createJWS({ amount: 1 });
    const altered = { ...jws, payload: Buffer.from('{"amount":2}').toString('base64url') };
    await assert.rejects(
      verifyJws(altered),
      (e: unknown) => e instanceof SignatureError && e.code === 'signature_invalid',
    );
  });

  it("vidmesh's JWS verifies with dids.verifyJWS, in general and compact form", async () => {
    const verifier = new DID({ resolver: KeyResolver.getResolver() });
    const payload = {
      timestamp: '2025-01-01T00:00:00.000Z',
      job: { id: 'j1', renditions: ['720p', '480p'] },
    };
    const jws = await signJws(ours, payload);
    const general = await verifier.verifyJWS({ payload: jws.payload, signatures: jws.signatures });
    assert.equal(general.kid, ours.kid);
    assert.deepEqual(general.payload, payload);
    const compact = await verifier.verifyJWS(toCompactJws(jws));
    assert.equal(compact.kid, ours.kid);

    const forged = { ...jws, payload: Buffer.from('{"job":"other"}').toString('base64url') };
    await assert.rejects(verifier.verifyJWS(forged));
  });

  it('signed request headers verify with the dids stack, and dids-signed claims pass verifySignedRequest', async () => {
    const verifier = new DID({ resolver: KeyResolver.getResolver() });
    const body = '{"progress":50}';
    const headers = await signRequest(ours, { method: 'POST', path: '/v1/jobs/j1/progress', body });
    const fromUs = await verifier.verifyJWS(headers.authorization.slice('DIDJWS '.length));
    assert.equal(fromUs.kid, ours.kid);
    assert.equal(fromUs.payload?.path, '/v1/jobs/j1/progress');

    // An encoder built on the dids library can sign vidmesh requests: same claims, its createJWS.
    const theirs = await threeSpeakDid(seed);
    const claims = JSON.parse(
      Buffer.from(fromCompactJws(headers.authorization.slice(7)).payload, 'base64url').toString(),
    );
    const jws = await theirs.createJWS({ ...claims, nonce: randomBytes(16).toString('base64url') });
    const theirHeaders = {
      authorization: `DIDJWS ${toCompactJws({ payload: jws.payload, signatures: jws.signatures })}`,
    };
    const nonceStore = createMemoryNonceStore();
    const request = { method: 'POST', path: '/v1/jobs/j1/progress', body, headers: theirHeaders };
    assert.equal((await verifySignedRequest(request, { nonceStore })).did, theirs.id);
    await assert.rejects(
      verifySignedRequest(request, { nonceStore }),
      (e: unknown) => e instanceof SignatureError && e.code === 'nonce_replayed',
    );
  });
});

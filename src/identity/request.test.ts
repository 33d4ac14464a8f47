import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { b64url } from './encoding.js';
import { SignatureError, type SignatureErrorCode } from './errors.js';
import { signJws, toCompactJws } from './jws.js';
import { generateIdentity, type Identity } from './keys.js';
import { createMemoryNonceStore } from './nonces.js';
import { bodySha256, type IncomingSignedRequest, signRequest, verifySignedRequest } from './request.js';

const encoder = generateIdentity();
const other = generateIdentity();
const T0 = new Date('2025-06-01T12:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const BODY = JSON.stringify({ lease: 'tok_1', progress: 42 });
const PATH = '/v1/jobs/0b4e/progress?x=1';

async function signed(
  opts: {
    signer?: Identity;
    method?: string;
    path?: string;
    body?: string;
    now?: Date;
    ttlS?: number;
    audience?: string;
  } = {},
) {
  return signRequest(opts.signer ?? encoder, {
    method: opts.method ?? 'POST',
    path: opts.path ?? PATH,
    body: opts.body ?? BODY,
    now: opts.now ?? T0,
    ...(opts.ttlS === undefined ? {} : { ttlS: opts.ttlS }),
    ...(opts.audience === undefined ? {} : { audience: opts.audience }),
  });
}

/** Signs arbitrary claims (to make what signRequest refuses to make: long lifetimes, bad fields). */
async function signedClaims(claims: Record<string, unknown>, signer = encoder) {
  const base = {
    body_sha256: bodySha256(BODY),
    exp: 1_748_779_260,
    iat: 1_748_779_200,
    method: 'POST',
    nonce: 'n'.repeat(22),
    path: PATH,
  };
  return { authorization: `DIDJWS ${toCompactJws(await signJws(signer, { ...base, ...claims }))}` };
}

const req = (
  headers: IncomingSignedRequest['headers'],
  over: Partial<IncomingSignedRequest> = {},
): IncomingSignedRequest => ({
  method: 'POST',
  path: PATH,
  body: BODY,
  headers,
  ...over,
});

const refused = (c: SignatureErrorCode) => (e: unknown) =>
  e instanceof SignatureError && e.code === c && e.status === 401;

describe('signed requests', () => {
  it('accepts a valid request once and binds the DID', async () => {
    const nonceStore = createMemoryNonceStore();
    const headers = await signed();
    assert.match(headers.authorization, /^DIDJWS [\w-]+\.[\w-]+\.[\w-]+$/);
    const { did, claims } = await verifySignedRequest(req(headers), { nonceStore, now: at(1) });
    assert.equal(did, encoder.did);
    assert.equal(claims.exp - claims.iat, 60);
    assert.equal(claims.body_sha256, bodySha256(Buffer.from(BODY)));
    await assert.rejects(
      verifySignedRequest(req(headers), { nonceStore, now: at(2) }),
      refused('nonce_replayed'),
    );
    // A replay from another process sharing nothing but the store is refused the same way.
    assert.equal(nonceStore.size, 1);
  });

  // The signature suite of issue 6: each row is one hostile or broken request and the code it gets.
  const suite: Array<{
    name: string;
    headers: () => Promise<IncomingSignedRequest['headers']>;
    over?: Partial<IncomingSignedRequest>;
    now?: Date;
    options?: { audience?: string; expectedDid?: string; maxSkewS?: number };
    expect: SignatureErrorCode;
  }> = [
    { name: 'no Authorization header', headers: async () => ({}), expect: 'auth_missing' },
    {
      name: 'other scheme',
      headers: async () => ({ authorization: `Bearer ${(await signed()).authorization.slice(7)}` }),
      expect: 'jws_malformed',
    },
    {
      name: 'garbage token',
      headers: async () => ({ authorization: 'DIDJWS a.b' }),
      expect: 'jws_malformed',
    },
    {
      name: 'wrong key: kid names the encoder, another key signed',
      headers: async () => {
        const [h, p] = (await signed()).authorization.slice(7).split('.');
        const sig = await other.sign(Buffer.from(`${h}.${p}`));
        return { authorization: `DIDJWS ${h}.${p}.${b64url(sig)}` };
      },
      expect: 'signature_invalid',
    },
    {
      name: 'tampered payload (path swapped inside the signed claims)',
      headers: async () => {
        const [h, p, s] = (await signed()).authorization.slice(7).split('.');
        const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
        const forged = b64url(JSON.stringify({ ...claims, path: '/v1/admin' }));
        return { authorization: `DIDJWS ${h}.${forged}.${s}` };
      },
      over: { path: '/v1/admin' },
      expect: 'signature_invalid',
    },
    {
      name: 'signed by another DID than the lease holder',
      headers: () => signed({ signer: other }),
      options: { expectedDid: encoder.did },
      expect: 'kid_mismatch',
    },
    { name: 'expired', headers: () => signed({ now: at(-200), ttlS: 60 }), expect: 'request_expired' },
    { name: 'future iat', headers: () => signed({ now: at(120) }), expect: 'request_not_yet_valid' },
    {
      name: 'lifetime over 5 minutes',
      headers: () => signedClaims({ iat: T0.getTime() / 1000, exp: T0.getTime() / 1000 + 301 }),
      expect: 'request_lifetime_too_long',
    },
    {
      name: 'exp before iat',
      headers: () => signedClaims({ iat: T0.getTime() / 1000, exp: T0.getTime() / 1000 - 1 }),
      expect: 'request_lifetime_too_long',
    },
    {
      name: 'wrong path',
      headers: () => signed({ path: '/v1/jobs/other/progress?x=1' }),
      expect: 'path_mismatch',
    },
    {
      name: 'wrong query',
      headers: () => signed({ path: '/v1/jobs/0b4e/progress?x=2' }),
      expect: 'path_mismatch',
    },
    { name: 'wrong method', headers: () => signed({ method: 'PUT' }), expect: 'method_mismatch' },
    {
      name: 'wrong body',
      headers: () => signed(),
      over: { body: BODY.replace('42', '100') },
      expect: 'body_mismatch',
    },
    { name: 'body dropped', headers: () => signed(), over: { body: undefined }, expect: 'body_mismatch' },
    {
      name: 'wrong audience',
      headers: () => signed({ audience: 'https://other.example' }),
      options: { audience: 'https://coord.example' },
      expect: 'audience_mismatch',
    },
    {
      name: 'missing audience',
      headers: () => signed(),
      options: { audience: 'https://coord.example' },
      expect: 'audience_mismatch',
    },
    {
      name: 'claims missing nonce',
      headers: () => signedClaims({ nonce: undefined }),
      expect: 'claims_invalid',
    },
    { name: 'short nonce', headers: () => signedClaims({ nonce: 'abc' }), expect: 'claims_invalid' },
    { name: 'float iat', headers: () => signedClaims({ iat: 1.5 }), expect: 'claims_invalid' },
    { name: 'string exp', headers: () => signedClaims({ exp: '9999999999' }), expect: 'claims_invalid' },
    {
      name: 'payload is an array',
      headers: async () => ({ authorization: `DIDJWS ${toCompactJws(await signJws(encoder, [1]))}` }),
      expect: 'claims_invalid',
    },
  ];
  for (const row of suite) {
    it(`refuses ${row.name} (${row.expect})`, async () => {
      const nonceStore = createMemoryNonceStore();
      const headers = await row.headers();
      await assert.rejects(
        verifySignedRequest(req(headers, row.over), { nonceStore, now: row.now ?? at(1), ...row.options }),
        refused(row.expect),
      );
    });
  }

  it('tolerates clock skew within maxSkewS and headers as arrays or other case', async () => {
    const nonceStore = createMemoryNonceStore();
    const early = await signed({ now: at(20) });
    assert.equal((await verifySignedRequest(req(early), { nonceStore, now: T0 })).did, encoder.did);
    const late = await signed({ now: at(-85), ttlS: 60 });
    await verifySignedRequest(req({ Authorization: [late.authorization] }), { nonceStore, now: T0 });
    await assert.rejects(
      verifySignedRequest(req(await signed({ now: at(20) })), { nonceStore, now: T0, maxSkewS: 10 }),
      refused('request_not_yet_valid'),
    );
  });

  it('does not use up the nonce of a request it refused for binding', async () => {
    const nonceStore = createMemoryNonceStore();
    const headers = await signed();
    await assert.rejects(
      verifySignedRequest(req(headers, { path: '/elsewhere' }), { nonceStore, now: at(1) }),
      refused('path_mismatch'),
    );
    assert.equal((await verifySignedRequest(req(headers), { nonceStore, now: at(1) })).did, encoder.did);
  });

  it('accepts the same nonce again only after the first request expired and was purged', async () => {
    const nonceStore = createMemoryNonceStore();
    assert.equal(await nonceStore.claim(encoder.did, 'nonce-1', at(90), at(0)), true);
    assert.equal(await nonceStore.claim(encoder.did, 'nonce-1', at(90), at(10)), false);
    assert.equal(await nonceStore.claim(other.did, 'nonce-1', at(90), at(10)), true);
    assert.equal(await nonceStore.purgeExpired(at(91)), 2);
    assert.equal(await nonceStore.claim(encoder.did, 'nonce-1', at(200), at(100)), true);
  });

  it('signRequest refuses lifetimes above 300 s', async () => {
    await assert.rejects(signed({ ttlS: 301 }), RangeError);
    const h = await signed({ ttlS: 300 });
    await verifySignedRequest(req(h), { nonceStore: createMemoryNonceStore(), now: at(299) });
  });
});

import { createPublicKey, type KeyObject } from 'node:crypto';
import { flattenedVerify, errors as joseErrors } from 'jose';
import { didFromKid, publicKeyFromDid } from './did.js';
import { b64url, fromB64url } from './encoding.js';
import { SignatureError } from './errors.js';
import { type GeneralJws, JWS_ALG, signJws, toCompactJws } from './signing.js';

export { type GeneralJws, signJws, toCompactJws };

/** What a verified JWS proves: who signed (`did`, `kid` from the protected header) and what. */
export interface VerifiedJws {
  did: string;
  kid: string;
  /** The payload, parsed from JSON. */
  payload: unknown;
}

/** The only algorithm accepted: Ed25519 (RFC 8037 §3.1; `EdDSA` as the 3Speak stack writes it). */
const ALG = JWS_ALG;
/** Upper bound on a serialized JWS; request claims are ~300 bytes, 3Speak node_info well under 4 KiB. */
export const MAX_JWS_LENGTH = 64 * 1024;

/** Parses a compact JWS string into the general form; throws {@link SignatureError} `jws_malformed`. */
export function fromCompactJws(compact: string): GeneralJws {
  const parts = compact.split('.');
  if (parts.length !== 3) throw new SignatureError('jws_malformed', 'compact JWS must have three parts');
  const [protectedB64, payload, signature] = parts as [string, string, string];
  return { payload, signatures: [{ protected: protectedB64, signature }] };
}

/**
 * Verifies a one-signature EdDSA JWS whose `kid` is a did:key, given in compact or General JSON
 * form (a parsed object or its JSON text is accepted, as bodies carry it). The key comes from the
 * `kid` itself: no resolver, no network. Checks, in order: shape and size (`jws_malformed`),
 * `alg` = EdDSA (`jws_malformed`), `kid` = `did:key:<id>#<id>` and equal to `expectedDid` when given
 * (`kid_mismatch`), the Ed25519 signature via jose (`signature_invalid`), payload is JSON
 * (`jws_malformed`). All failures are {@link SignatureError} (401). It does not look at payload
 * times or nonces: {@link verifySignedRequest} does, for requests.
 */
export async function verifyJws(
  jws: GeneralJws | string,
  options: { expectedDid?: string } = {},
): Promise<VerifiedJws> {
  const general = parseJwsInput(jws);
  const sig = general.signatures[0]!;
  const header = parseJsonB64(sig.protected, 'protected header');
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new SignatureError('jws_malformed', 'protected header must be a JSON object');
  }
  const { alg, kid } = header as Record<string, unknown>;
  if (alg !== ALG) throw new SignatureError('jws_malformed', `alg must be ${ALG}`);
  if (typeof kid !== 'string') throw new SignatureError('kid_mismatch', 'protected header has no kid');
  let did: string;
  try {
    did = didFromKid(kid);
  } catch (cause) {
    throw new SignatureError('kid_mismatch', 'kid is not did:key:<id>#<id> of an Ed25519 key', { cause });
  }
  if (options.expectedDid !== undefined && did !== options.expectedDid) {
    throw new SignatureError('kid_mismatch', 'signed by another DID than expected');
  }
  let verified: Uint8Array;
  try {
    ({ payload: verified } = await flattenedVerify(
      { protected: sig.protected, payload: general.payload, signature: sig.signature },
      publicKeyObject(did),
      { algorithms: [ALG] },
    ));
  } catch (cause) {
    if (cause instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new SignatureError('signature_invalid', 'signature does not verify for the kid', { cause });
    }
    throw new SignatureError('jws_malformed', 'JWS refused by the verifier', { cause });
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(verified).toString('utf8'));
  } catch (cause) {
    throw new SignatureError('jws_malformed', 'payload is not JSON', { cause });
  }
  return { did, kid, payload };
}

function parseJwsInput(input: unknown): GeneralJws {
  let value = input;
  if (typeof value === 'string') {
    if (value.length > MAX_JWS_LENGTH) throw new SignatureError('jws_malformed', 'JWS too large');
    const text = value.trim();
    if (!text.startsWith('{')) return checkGeneral(fromCompactJws(text));
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new SignatureError('jws_malformed', 'JWS is not valid JSON', { cause });
    }
  }
  return checkGeneral(value);
}

function checkGeneral(value: unknown): GeneralJws {
  if (value === null || typeof value !== 'object') throw new SignatureError('jws_malformed', 'not a JWS');
  const { payload, signatures } = value as Record<string, unknown>;
  if (typeof payload !== 'string' || !Array.isArray(signatures) || signatures.length !== 1) {
    throw new SignatureError(
      'jws_malformed',
      'general JWS with a payload and exactly one signature expected',
    );
  }
  const sig = signatures[0] as Record<string, unknown> | null;
  if (sig === null || typeof sig !== 'object' || typeof sig.protected !== 'string') {
    throw new SignatureError('jws_malformed', 'signature must have a protected header');
  }
  if (typeof sig.signature !== 'string' || 'header' in sig) {
    throw new SignatureError('jws_malformed', 'signature must be base64url, with no unprotected header');
  }
  const total = payload.length + sig.protected.length + sig.signature.length;
  if (total > MAX_JWS_LENGTH) throw new SignatureError('jws_malformed', 'JWS too large');
  for (const part of [payload, sig.protected, sig.signature]) {
    if (fromB64url(part) === undefined)
      throw new SignatureError('jws_malformed', 'JWS part is not base64url');
  }
  return { payload, signatures: [{ protected: sig.protected, signature: sig.signature }] };
}

function parseJsonB64(part: string, what: string): unknown {
  try {
    return JSON.parse(fromB64url(part)!.toString('utf8'));
  } catch (cause) {
    throw new SignatureError('jws_malformed', `${what} is not base64url JSON`, { cause });
  }
}

/** Imported keys by DID: encoders sign many requests, and importing a JWK costs more than verifying. */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_SIZE = 1024;

/** Node KeyObject of a did:key's public key (jose verifies with KeyObjects on Node). */
function publicKeyObject(did: string): KeyObject {
  let key = keyCache.get(did);
  if (key === undefined) {
    const x = b64url(publicKeyFromDid(did));
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    // Oldest-first eviction (Map keeps insertion order); a flood of fresh DIDs cannot grow memory.
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(did, key);
  }
  return key;
}

import { base58btc } from 'multiformats/bases/base58';
import { DidError } from './errors.js';

/**
 * did:key for Ed25519 public keys (W3C CCG did:key method, https://w3c-ccg.github.io/did-method-key/):
 * `did:key:` + multibase base58btc (`z`) of the unsigned-varint multicodec `ed25519-pub` (0xed,
 * varint bytes `0xed 0x01`, https://github.com/multiformats/multicodec) followed by the 32-byte key.
 * Every such DID starts with `did:key:z6Mk`.
 */
const ED25519_PUB_PREFIX = Uint8Array.of(0xed, 0x01);
const DID_KEY = 'did:key:';
/** Longest string worth decoding: 34 bytes encode to at most 47 base58 characters. */
const MAX_ID_LENGTH = 60;

/** Ed25519 public key length in bytes (RFC 8032 §5.1.5). */
export const ED25519_PUBLIC_KEY_BYTES = 32;

/** `did:key:z6Mk…` of a 32-byte Ed25519 public key. Throws {@link DidError} for another length. */
export function didFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new DidError(`an Ed25519 public key has 32 bytes, got ${publicKey.length}`);
  }
  const bytes = new Uint8Array(ED25519_PUB_PREFIX.length + publicKey.length);
  bytes.set(ED25519_PUB_PREFIX, 0);
  bytes.set(publicKey, ED25519_PUB_PREFIX.length);
  return DID_KEY + base58btc.encode(bytes);
}

/**
 * The 32-byte Ed25519 public key inside a `did:key`. Accepts the bare DID only (no fragment, path or
 * query). Throws {@link DidError} (`invalid_did`, 400) when the method is not `key`, the multibase is
 * not base58btc, the multicodec is not ed25519-pub, or the key length is wrong.
 */
export function publicKeyFromDid(did: string): Uint8Array {
  if (typeof did !== 'string' || !did.startsWith(DID_KEY)) throw new DidError('not a did:key identifier');
  const id = did.slice(DID_KEY.length);
  if (id.length === 0 || id.length > MAX_ID_LENGTH || !id.startsWith('z')) {
    throw new DidError('did:key must be base58btc multibase (z…)');
  }
  let bytes: Uint8Array;
  try {
    bytes = base58btc.decode(id);
  } catch (cause) {
    throw new DidError('did:key is not valid base58btc', { cause });
  }
  if (bytes[0] !== ED25519_PUB_PREFIX[0] || bytes[1] !== ED25519_PUB_PREFIX[1]) {
    throw new DidError('did:key is not an Ed25519 key (multicodec 0xed01 expected)');
  }
  if (bytes.length !== ED25519_PUB_PREFIX.length + ED25519_PUBLIC_KEY_BYTES) {
    throw new DidError('did:key Ed25519 key must be 32 bytes');
  }
  return bytes.slice(ED25519_PUB_PREFIX.length);
}

/** True when `did` is a well-formed Ed25519 `did:key`. */
export function isDidKey(did: string): boolean {
  try {
    publicKeyFromDid(did);
    return true;
  } catch {
    return false;
  }
}

/**
 * The JWS key identifier of a did:key: `did:key:z6Mk…#z6Mk…` (the verification method id; the
 * fragment repeats the multibase key, as key-did-provider-ed25519 writes it).
 */
export function kidForDid(did: string): string {
  publicKeyFromDid(did);
  return `${did}#${did.slice(DID_KEY.length)}`;
}

/**
 * The DID named by a JWS `kid`. Requires `did:key:<id>#<id>` with both ids equal; throws
 * {@link DidError} otherwise (callers verifying signatures map it to `kid_mismatch`).
 */
export function didFromKid(kid: string): string {
  if (typeof kid !== 'string') throw new DidError('kid must be a string');
  const hash = kid.indexOf('#');
  if (hash < 0) throw new DidError('kid must be did:key:<id>#<id>');
  const did = kid.slice(0, hash);
  const fragment = kid.slice(hash + 1);
  publicKeyFromDid(did);
  if (fragment !== did.slice(DID_KEY.length)) throw new DidError('kid fragment does not name the DID key');
  return did;
}

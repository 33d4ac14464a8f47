import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign } from 'node:crypto';
import { didFromPublicKey, kidForDid } from './did.js';
import { fromB64 } from './encoding.js';
import { KeyMaterialError } from './errors.js';
import { readOrCreatePrivateFile } from './keyfile.js';

/**
 * An encoder's signing identity: an Ed25519 key pair named by its did:key. The private key stays
 * inside (a Node KeyObject in a closure: it does not appear in JSON, logs or `util.inspect`).
 */
export interface Identity {
  /** `did:key:z6Mk…` */
  readonly did: string;
  /** JWS key id, `did:key:z6Mk…#z6Mk…` */
  readonly kid: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Ed25519 signature (RFC 8032 §5.1.6, 64 bytes) of `data`. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** Name of the environment variable holding a base64 32-byte Ed25519 seed (the 3Speak encoder's). */
export const ENCODER_PRIVATE_KEY_ENV = 'ENCODER_PRIVATE_KEY';

/** Default encoder key file, relative to the working directory (DESIGN.md: `./.vidmesh/encoder-key`). */
export const DEFAULT_ENCODER_KEY_FILE = '.vidmesh/encoder-key';

const SEED_BYTES = 32;
/** DER prefix of a PKCS#8 Ed25519 private key (RFC 8410 §7) before its 32-byte seed. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function identityFromSeedBytes(seed: Uint8Array): Identity {
  const privateKey: KeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const publicKey = new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
  const did = didFromPublicKey(publicKey);
  return Object.freeze({
    did,
    kid: kidForDid(did),
    publicKey,
    async sign(data: Uint8Array): Promise<Uint8Array> {
      return new Uint8Array(sign(null, data, privateKey));
    },
  });
}

/** A fresh random Ed25519 seed, base64 (the format of `ENCODER_PRIVATE_KEY` and of the key file). */
export function generateSeed(): string {
  return randomBytes(SEED_BYTES).toString('base64');
}

/** A fresh in-memory identity (nothing written anywhere). */
export function generateIdentity(): Identity {
  return identityFromSeedBytes(randomBytes(SEED_BYTES));
}

/**
 * The identity of a base64 32-byte Ed25519 seed (RFC 8032 §5.1.5 private key), as the 3Speak encoder
 * reads `ENCODER_PRIVATE_KEY`: the same seed gives the same DID in both programs.
 * Throws {@link KeyMaterialError} `invalid_key` (400) for anything but strict base64 of 32 bytes.
 */
export function identityFromSeed(base64Seed: string): Identity {
  const seed = fromB64(base64Seed);
  if (seed === undefined || seed.length !== SEED_BYTES) {
    throw new KeyMaterialError('invalid_key', 'an Ed25519 seed must be base64 of exactly 32 bytes');
  }
  return identityFromSeedBytes(seed);
}

/**
 * Loads the identity stored in `keyFile` (one line: base64 of the 32-byte seed), creating the file
 * with a new random seed on first start (mode 0600, parent directory 0700).
 * Throws {@link KeyMaterialError}: `key_file_insecure` when the existing file is accessible by group
 * or others (refused, not fixed: see docs/identity.md), `key_file_invalid` when it holds no valid seed.
 */
export async function loadOrCreateIdentity(keyFile: string): Promise<Identity> {
  const text = await readOrCreatePrivateFile(keyFile, () => generateSeed() + '\n');
  try {
    return identityFromSeed(text);
  } catch (cause) {
    throw new KeyMaterialError(
      'key_file_invalid',
      `key file ${keyFile} does not hold a base64 32-byte seed`,
      {
        cause,
      },
    );
  }
}

/**
 * The encoder identity by the documented precedence: `ENCODER_PRIVATE_KEY` from `env` when set and
 * non-empty, else the key file (created on first start). Errors as in {@link identityFromSeed} and
 * {@link loadOrCreateIdentity}.
 */
export async function resolveEncoderIdentity(options: {
  keyFile?: string;
  env?: Record<string, string | undefined>;
}): Promise<Identity> {
  const seed = (options.env ?? process.env)[ENCODER_PRIVATE_KEY_ENV];
  if (seed !== undefined && seed.trim() !== '') return identityFromSeed(seed);
  return loadOrCreateIdentity(options.keyFile ?? DEFAULT_ENCODER_KEY_FILE);
}

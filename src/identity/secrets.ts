import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fromB64, fromB64url } from './encoding.js';
import { KeyMaterialError, SecretBoxError } from './errors.js';
import { readOrCreatePrivateFile } from './keyfile.js';

/**
 * Secrets at rest (storage credentials and webhook secrets inside job specs): AES-256-GCM
 * (NIST SP 800-38D) with a random 96-bit IV per value and a 128-bit tag. Envelope, one string:
 * `v1.<base64url IV>.<base64url ciphertext ‖ tag>`. An optional `context` string is bound as
 * additional authenticated data, so a sealed value copied to another field or job does not open.
 */
export interface SecretBox {
  /** Encrypts UTF-8 `plaintext`; every call gives a different envelope. */
  seal(plaintext: string, context?: string): string;
  /**
   * Decrypts an envelope made by `seal` with this key or one of the previous keys, with the same
   * `context`. Throws {@link SecretBoxError} (`secret_unsealable`, 500) otherwise.
   */
  open(envelope: string, context?: string): string;
}

/** Environment variable with the server key: base64 of 32 bytes. */
export const SECRET_KEY_ENV = 'VIDMESH_SECRET_KEY';
/** Default server key file, relative to the working directory. */
export const DEFAULT_SERVER_KEY_FILE = '.vidmesh/secret-key';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
const ENVELOPE = /^v1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22,})$/;

/** True when `value` looks like a sealed envelope (to avoid sealing twice or echoing plaintext). */
export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && ENVELOPE.test(value);
}

/**
 * A {@link SecretBox} with a 32-byte `key`; `previousKeys` are tried by `open` only, so a new server
 * key can be rolled out while old values are re-sealed. Throws `KeyMaterialError` `invalid_key` for a
 * key of another length.
 */
export function createSecretBox(
  key: Uint8Array,
  options: { previousKeys?: readonly Uint8Array[] } = {},
): SecretBox {
  const keys = [key, ...(options.previousKeys ?? [])].map((k) => {
    if (k.length !== KEY_BYTES) throw new KeyMaterialError('invalid_key', 'secret box keys must be 32 bytes');
    return Buffer.from(k);
  });
  const current = keys[0]!;
  return {
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv, { authTagLength: TAG_BYTES });
      if (context !== undefined) cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(envelope, context) {
      const m = typeof envelope === 'string' ? ENVELOPE.exec(envelope) : null;
      const iv = m ? fromB64url(m[1]!) : undefined;
      const body = m ? fromB64url(m[2]!) : undefined;
      if (iv === undefined || body === undefined || iv.length !== IV_BYTES || body.length < TAG_BYTES) {
        throw new SecretBoxError('not a v1 sealed secret');
      }
      const tag = body.subarray(body.length - TAG_BYTES);
      const ciphertext = body.subarray(0, body.length - TAG_BYTES);
      for (const k of keys) {
        try {
          const decipher = createDecipheriv('aes-256-gcm', k, iv, { authTagLength: TAG_BYTES });
          if (context !== undefined) decipher.setAAD(Buffer.from(context, 'utf8'));
          decipher.setAuthTag(tag);
          return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
        } catch {
          // Wrong key or altered data: GCM authentication failed; try the next key.
        }
      }
      throw new SecretBoxError('sealed secret does not authenticate with the server key');
    },
  };
}

function parseServerKey(text: string, source: string): Uint8Array {
  const key = fromB64(text);
  if (key === undefined || key.length !== KEY_BYTES) {
    throw new KeyMaterialError('invalid_key', `${source} must be base64 of exactly 32 bytes`);
  }
  return new Uint8Array(key);
}

/** The server key from `VIDMESH_SECRET_KEY` in `env`, `undefined` when unset. Throws `invalid_key`. */
export function serverKeyFromEnv(
  env: Record<string, string | undefined> = process.env,
): Uint8Array | undefined {
  const value = env[SECRET_KEY_ENV];
  return value === undefined || value.trim() === '' ? undefined : parseServerKey(value, SECRET_KEY_ENV);
}

/**
 * The server key stored in `file` (base64 of 32 bytes), created randomly on first start with mode
 * 0600 (same file policy as the encoder key: a group/other-accessible file is refused with
 * `key_file_insecure`). Throws `KeyMaterialError` `key_file_invalid` for a file without a valid key.
 */
export async function loadOrCreateServerKey(file: string): Promise<Uint8Array> {
  const text = await readOrCreatePrivateFile(file, () => randomBytes(KEY_BYTES).toString('base64') + '\n');
  try {
    return parseServerKey(text, `key file ${file}`);
  } catch (cause) {
    throw new KeyMaterialError('key_file_invalid', `key file ${file} does not hold a base64 32-byte key`, {
      cause,
    });
  }
}

/** The server key: `VIDMESH_SECRET_KEY` when set, else the key file (created on first start). */
export async function resolveServerKey(options: {
  keyFile?: string;
  env?: Record<string, string | undefined>;
}): Promise<Uint8Array> {
  return (
    serverKeyFromEnv(options.env ?? process.env) ??
    loadOrCreateServerKey(options.keyFile ?? DEFAULT_SERVER_KEY_FILE)
  );
}

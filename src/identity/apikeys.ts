import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { base58btc } from 'multiformats/bases/base58';
import { ValidationError } from '../errors.js';
import { ApiKeyError, ScopeError } from './errors.js';

/**
 * API keys for users and services.
 *
 * Format: `vmk_<prefix>_<secret>`: `prefix` is 12 lower-case hex characters (48 random bits, stored in
 * clear to find the row and to name the key in listings); `secret` is base58btc of 32 random bytes
 * (256 bits). At rest only `sha256:<hex>` of the whole plaintext is kept. A fast hash is enough here:
 * the secret is uniformly random with 256 bits, so guessing it from the hash is as hard as breaking
 * SHA-256 preimages, and no slow KDF or server pepper (one more secret that could be lost) is needed.
 */
/** Tenant of keys created without one (the `api_keys.tenant` column default of the job store). */
export const DEFAULT_TENANT = 'default';

export const API_KEY_SCOPES = ['submit', 'read', 'admin', 'encoder'] as const;
/** `submit` jobs, `read` jobs/outputs, `encoder` claim and report work, `admin` everything. */
export type Scope = (typeof API_KEY_SCOPES)[number];

/** An API key as listings show it: never the hash, never the secret. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  /** Tenant the key acts for (`default` unless given; an `admin` key is the operator's, across tenants). */
  tenant: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** An API key row including its hash: what a store's `findByPrefix` returns to {@link verifyApiKey}. */
export interface ApiKeyRecord extends ApiKeyInfo {
  hash: string;
}

const KEY_FORMAT = /^vmk_([0-9a-f]{12})_([1-9A-HJ-NP-Za-km-z]{40,46})$/;
const HASH_FORMAT = /^sha256:([0-9a-f]{64})$/;

/** The stored hash of an API key plaintext: `sha256:<hex>`. */
export function hashApiKey(plaintext: string): string {
  return 'sha256:' + createHash('sha256').update(plaintext, 'utf8').digest('hex');
}

/**
 * A new random API key. Resolves the plaintext (show it once, never store it), its prefix and its
 * hash; `scopes` are validated and deduplicated ({@link parseScopes}), `tenant`/`expiresAt` are
 * passed through for the caller's record.
 */
export function generateApiKey(input: {
  scopes: readonly string[];
  tenant?: string;
  expiresAt?: Date | null;
}): {
  plaintext: string;
  prefix: string;
  hash: string;
  scopes: Scope[];
  tenant: string;
  expiresAt: Date | null;
} {
  const scopes = parseScopes(input.scopes);
  const prefix = randomBytes(6).toString('hex');
  const secret = base58btc.encode(randomBytes(32)).slice(1);
  const plaintext = `vmk_${prefix}_${secret}`;
  return {
    plaintext,
    prefix,
    hash: hashApiKey(plaintext),
    scopes,
    tenant: validTenant(input.tenant ?? DEFAULT_TENANT),
    expiresAt: input.expiresAt ?? null,
  };
}

/** The prefix of a well-formed key plaintext, `undefined` when it is not `vmk_<prefix>_<secret>`. */
export function apiKeyPrefix(plaintext: string): string | undefined {
  return KEY_FORMAT.exec(plaintext)?.[1];
}

/** A stand-in digest compared when no row matches, so unknown prefixes take the same path. */
const DUMMY_DIGEST = createHash('sha256').update('vidmesh-no-such-key').digest();

/**
 * Checks an API key plaintext against its stored record, found with `lookupByPrefix`. Resolves the
 * key's {@link ApiKeyInfo} (without hash). The hash comparison is constant-time
 * (`crypto.timingSafeEqual`) and also runs against a dummy when the prefix is unknown. Throws
 * {@link ApiKeyError}: `api_key_missing`, `api_key_malformed`, `api_key_invalid` (unknown prefix or
 * wrong secret), then, only for a correct secret, `api_key_revoked` or `api_key_expired` (at `now`).
 */
export async function verifyApiKey(
  plaintext: string | undefined,
  lookupByPrefix: (prefix: string) => Promise<ApiKeyRecord | undefined>,
  options: { now?: Date } = {},
): Promise<ApiKeyInfo> {
  if (plaintext === undefined || plaintext === '')
    throw new ApiKeyError('api_key_missing', 'API key missing');
  const prefix = apiKeyPrefix(plaintext);
  if (prefix === undefined)
    throw new ApiKeyError('api_key_malformed', 'API key must be vmk_<prefix>_<secret>');
  const record = await lookupByPrefix(prefix);
  const presented = createHash('sha256').update(plaintext, 'utf8').digest();
  const storedHex = record === undefined ? undefined : HASH_FORMAT.exec(record.hash)?.[1];
  const stored = storedHex === undefined ? DUMMY_DIGEST : Buffer.from(storedHex, 'hex');
  const equal = timingSafeEqual(presented, stored);
  if (record === undefined || storedHex === undefined || !equal) {
    throw new ApiKeyError('api_key_invalid', 'API key not recognised');
  }
  const now = options.now ?? new Date();
  if (record.revokedAt !== null && record.revokedAt.getTime() <= now.getTime()) {
    throw new ApiKeyError('api_key_revoked', 'API key has been revoked');
  }
  if (record.expiresAt !== null && record.expiresAt.getTime() <= now.getTime()) {
    throw new ApiKeyError('api_key_expired', 'API key has expired');
  }
  const { hash: _hash, ...info } = record;
  return info;
}

/**
 * The credential of an HTTP request: `Authorization: Bearer vmk_…` or `X-Api-Key: vmk_…`
 * (`headers` as Node gives them, lower-case names). `undefined` when neither is present.
 */
export function apiKeyFromHeaders(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer +(\S+)$/i.exec(auth.trim());
    if (m !== null) return m[1];
  }
  const x = headers['x-api-key'];
  return typeof x === 'string' && x !== '' ? x.trim() : undefined;
}

/** True when `granted` covers `needed`: the scope itself, or `admin` (which implies all). */
export function hasScope(granted: readonly Scope[], needed: Scope): boolean {
  return granted.includes('admin') || granted.includes(needed);
}

/** Throws {@link ScopeError} (`insufficient_scope`, 403) unless {@link hasScope}. */
export function requireScope(granted: readonly Scope[], needed: Scope): void {
  if (!hasScope(granted, needed)) throw new ScopeError(`this action needs the ${needed} scope`);
}

/**
 * Validates scope names (an array, or a comma-separated string as the CLI takes them): deduplicated,
 * in the order of {@link API_KEY_SCOPES}. Throws `ValidationError` for an unknown or empty set.
 */
export function parseScopes(input: readonly string[] | string): Scope[] {
  const names = (typeof input === 'string' ? input.split(',') : [...input])
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(API_KEY_SCOPES as readonly string[]).includes(name)) {
      throw new ValidationError(`unknown scope "${name.slice(0, 32)}" (known: ${API_KEY_SCOPES.join(', ')})`);
    }
  }
  const scopes = API_KEY_SCOPES.filter((s) => names.includes(s));
  if (scopes.length === 0) throw new ValidationError('at least one scope is needed');
  return scopes;
}

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A tenant name: 1-64 of `A-Z a-z 0-9 . _ -`, not starting with a punctuation mark. Throws `ValidationError`. */
export function validTenant(tenant: string): string {
  if (!TENANT.test(tenant)) throw new ValidationError('tenant must be 1-64 characters of A-Z a-z 0-9 . _ -');
  return tenant;
}

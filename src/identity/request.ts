import { createHash } from 'node:crypto';
import { fromB64url } from './encoding.js';
import { SignatureError } from './errors.js';
import { fromCompactJws, verifyJws } from './jws.js';
import type { NonceStore } from './nonces.js';
import { AUTH_SCHEME, DEFAULT_REQUEST_TTL_S, MAX_REQUEST_LIFETIME_S, signRequest } from './signing.js';

export { AUTH_SCHEME, DEFAULT_REQUEST_TTL_S, MAX_REQUEST_LIFETIME_S, signRequest };

/**
 * Signed encoder → coordinator requests.
 *
 * Header: `Authorization: DIDJWS <compact JWS>` (RFC 7515 §7.1 serialization of the same JWS
 * {@link signJws} makes: EdDSA, `kid` = `did:key:z6Mk…#z6Mk…`, sorted-key JSON payload). The payload
 * is {@link RequestClaims}. The body is hashed as raw bytes, exactly as sent: a server must verify
 * against the raw body, not a re-serialization of parsed JSON.
 */

/** The signed payload of a request. Times are NumericDate: integer seconds since the epoch (RFC 7519 §2). */
export interface RequestClaims {
  /** Intended coordinator (its origin, e.g. `https://coord.example`), when the signer named one. */
  aud?: string;
  /** base64url (no padding) SHA-256 of the raw request body bytes; of zero bytes when there is no body. */
  body_sha256: string;
  exp: number;
  iat: number;
  /** Upper-case HTTP method. */
  method: string;
  /** base64url of 16+ random bytes; accepted once per DID. */
  nonce: string;
  /** Request target as sent: path plus `?query` if any, e.g. `/v1/jobs/claim?wait=30`. */
  path: string;
}

/** A request as the server saw it. `headers` may be Node's `IncomingHttpHeaders` (lower-case names). */
export interface IncomingSignedRequest {
  method: string;
  path: string;
  body?: string | Uint8Array;
  headers: Record<string, string | string[] | undefined>;
}

/** Default tolerated clock difference between encoder and coordinator (seconds). */
export const DEFAULT_MAX_SKEW_S = 30;

/** base64url SHA-256 of a body (raw bytes; a string is taken as UTF-8). */
export function bodySha256(body: string | Uint8Array | undefined): string {
  return createHash('sha256')
    .update(body ?? '')
    .digest('base64url');
}

/** Options of {@link verifySignedRequest}. */
export interface VerifyRequestOptions {
  nonceStore: NonceStore;
  /** Verifier clock; default now. */
  now?: Date;
  /** Tolerated clock difference in seconds (default 30) for `iat` in the future and `exp` in the past. */
  maxSkewS?: number;
  /** Longest accepted `exp - iat` in seconds (default and upper bound 300). */
  maxLifetimeS?: number;
  /** When set, `aud` must be present and equal (the coordinator's public origin). */
  audience?: string;
  /** When set, the signer must be this DID (`kid_mismatch` otherwise). */
  expectedDid?: string;
}

/**
 * Authenticates a signed request; resolves the signer's DID and the verified claims. Checks, in
 * order: header present (`auth_missing`) and parsable (`jws_malformed`); signature and kid
 * ({@link verifyJws}: `kid_mismatch`, `signature_invalid`); claims shape (`claims_invalid`); times
 * (`request_not_yet_valid`, `request_expired`, `request_lifetime_too_long`); binding to this request
 * (`method_mismatch`, `path_mismatch`, `body_mismatch`, `audience_mismatch`); and last the nonce
 * (`nonce_replayed`), so a refused request never uses up a nonce. All are {@link SignatureError} (401).
 */
export async function verifySignedRequest(
  request: IncomingSignedRequest,
  options: VerifyRequestOptions,
): Promise<{ did: string; claims: RequestClaims }> {
  const token = authorizationToken(request.headers);
  const { did, payload } = await verifyJws(
    fromCompactJws(token),
    options.expectedDid === undefined ? {} : { expectedDid: options.expectedDid },
  );
  const claims = parseClaims(payload);

  const nowS = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const skew = options.maxSkewS ?? DEFAULT_MAX_SKEW_S;
  const maxLifetime = Math.min(options.maxLifetimeS ?? MAX_REQUEST_LIFETIME_S, MAX_REQUEST_LIFETIME_S);
  if (claims.iat > nowS + skew) throw new SignatureError('request_not_yet_valid', 'iat is in the future');
  if (claims.exp <= nowS - skew) throw new SignatureError('request_expired', 'request has expired');
  if (claims.exp <= claims.iat || claims.exp - claims.iat > maxLifetime) {
    throw new SignatureError('request_lifetime_too_long', `exp must be within ${maxLifetime} s after iat`);
  }

  if (claims.method !== request.method.toUpperCase()) {
    throw new SignatureError('method_mismatch', 'signed for another HTTP method');
  }
  if (claims.path !== request.path) throw new SignatureError('path_mismatch', 'signed for another path');
  if (claims.body_sha256 !== bodySha256(request.body)) {
    throw new SignatureError('body_mismatch', 'body does not match the signed hash');
  }
  if (options.audience !== undefined && claims.aud !== options.audience) {
    throw new SignatureError('audience_mismatch', 'signed for another coordinator');
  }

  const expiresAt = new Date((claims.exp + skew) * 1000);
  const fresh = await options.nonceStore.claim(did, claims.nonce, expiresAt, options.now ?? new Date());
  if (!fresh) throw new SignatureError('nonce_replayed', 'request was already used (nonce replayed)');
  return { did, claims };
}

function authorizationToken(headers: IncomingSignedRequest['headers']): string {
  let value: string | string[] | undefined;
  for (const [name, v] of Object.entries(headers)) if (name.toLowerCase() === 'authorization') value = v;
  if (Array.isArray(value)) {
    if (value.length !== 1)
      throw new SignatureError('jws_malformed', 'exactly one Authorization header expected');
    value = value[0];
  }
  if (value === undefined || value === '')
    throw new SignatureError('auth_missing', 'Authorization header missing');
  const match = /^DIDJWS +([A-Za-z0-9_.-]+)$/i.exec(value.trim());
  if (match === null)
    throw new SignatureError('jws_malformed', `Authorization must be "${AUTH_SCHEME} <jws>"`);
  return match[1]!;
}

const NONCE = /^[A-Za-z0-9_-]{16,128}$/;

function parseClaims(payload: unknown): RequestClaims {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new SignatureError('claims_invalid', 'payload must be a JSON object');
  }
  const p = payload as Record<string, unknown>;
  const bad = (field: string): never => {
    throw new SignatureError('claims_invalid', `claim ${field} missing or invalid`);
  };
  if (!Number.isSafeInteger(p.iat) || (p.iat as number) < 0) bad('iat');
  if (!Number.isSafeInteger(p.exp) || (p.exp as number) < 0) bad('exp');
  if (typeof p.method !== 'string' || !/^[A-Z]{1,16}$/.test(p.method)) bad('method');
  if (typeof p.path !== 'string' || !p.path.startsWith('/') || p.path.length > 4096) bad('path');
  if (typeof p.nonce !== 'string' || !NONCE.test(p.nonce)) bad('nonce');
  if (typeof p.body_sha256 !== 'string' || fromB64url(p.body_sha256)?.length !== 32) bad('body_sha256');
  if (p.aud !== undefined && typeof p.aud !== 'string') bad('aud');
  return p as unknown as RequestClaims;
}

import { canonicalJson } from './canonical.js';
import { SignatureError } from './errors.js';

/**
 * The signing half of the did:key protocol with no Node import, so the same code signs in Node (the
 * encoder node) and in a browser (the dashboard's encoder page, web/src/encoder): JWS (RFC 7515),
 * signed requests (`Authorization: DIDJWS`, docs/identity.md) and upload grants (`DIDGRANT`). Hashes
 * use WebCrypto (`crypto.subtle`, in Node 20 and every current browser); the verifying half stays in
 * jws.ts / request.ts (Node crypto, jose).
 */

/** Who signs: a did:key `kid` and an Ed25519 signer (RFC 8032 §5.1.6, 64-byte signature). */
export interface Signer {
  /** `did:key:z6Mk…#z6Mk…` */
  readonly kid: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/**
 * A JWS in the General JSON Serialization (RFC 7515 §7.2.1) with one signature, as the 3Speak
 * encoder's `dids` library returns it from `createJWS` (its `DagJWS` type) and posts as `{ jws }`.
 * All members are base64url without padding.
 */
export interface GeneralJws {
  payload: string;
  signatures: Array<{ protected: string; signature: string }>;
}

/** The only algorithm: Ed25519 (RFC 8037 §3.1; `EdDSA` as the 3Speak stack writes it). */
export const JWS_ALG = 'EdDSA';

/** base64url without padding (RFC 4648 §5) of bytes, or of a string's UTF-8 bytes. */
export function base64url(input: Uint8Array | string): string {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** base64url SHA-256 (FIPS 180-4) of bytes, or of a string's UTF-8 bytes. */
export async function sha256Base64url(input: Uint8Array | string | undefined): Promise<string> {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : (input ?? new Uint8Array());
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

/**
 * Signs `payload` (any JSON value; serialized with sorted keys and no whitespace) as a General JWS
 * with protected header `{"alg":"EdDSA","kid":"did:key:z6Mk…#z6Mk…"}`: byte-for-byte what the dids +
 * key-did-provider-ed25519 stack produces for the same seed and payload (Ed25519 is deterministic).
 * Throws `TypeError` when the payload is not representable as JSON.
 */
export async function signJws(signer: Signer, payload: unknown): Promise<GeneralJws> {
  const protectedB64 = base64url(canonicalJson({ alg: JWS_ALG, kid: signer.kid }));
  const payloadB64 = base64url(canonicalJson(payload));
  const signature = await signer.sign(new TextEncoder().encode(`${protectedB64}.${payloadB64}`));
  return { payload: payloadB64, signatures: [{ protected: protectedB64, signature: base64url(signature) }] };
}

/** The compact serialization (RFC 7515 §7.1) `protected.payload.signature` of a one-signature JWS. */
export function toCompactJws(jws: GeneralJws): string {
  const [sig] = jws.signatures;
  if (jws.signatures.length !== 1 || sig === undefined) {
    throw new SignatureError('jws_malformed', 'exactly one signature expected');
  }
  return `${sig.protected}.${jws.payload}.${sig.signature}`;
}

/** Scheme of the `Authorization` header of a signed request. */
export const AUTH_SCHEME = 'DIDJWS';
/** Longest lifetime (`exp - iat`, seconds) a request may have. */
export const MAX_REQUEST_LIFETIME_S = 300;
/** Default lifetime of a request signed by {@link signRequest} (seconds). */
export const DEFAULT_REQUEST_TTL_S = 60;

/**
 * Signs one request. Resolves the headers to add: `{ authorization: 'DIDJWS <compact JWS>' }`.
 * `now` defaults to the current time; `ttlS` (default 60, at most 300) sets `exp = iat + ttlS`;
 * `audience` binds the coordinator origin. Each call uses a fresh 128-bit nonce, so a signed
 * request can be sent once. Throws `RangeError` for a bad `ttlS`.
 */
export async function signRequest(
  signer: Signer,
  request: {
    method: string;
    path: string;
    body?: string | Uint8Array;
    audience?: string;
    now?: Date;
    ttlS?: number;
  },
): Promise<{ authorization: string }> {
  const ttl = request.ttlS ?? DEFAULT_REQUEST_TTL_S;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_REQUEST_LIFETIME_S) {
    throw new RangeError(`ttlS must be an integer in 1..${MAX_REQUEST_LIFETIME_S}`);
  }
  const iat = Math.floor((request.now ?? new Date()).getTime() / 1000);
  const claims = {
    ...(request.audience === undefined ? {} : { aud: request.audience }),
    body_sha256: await sha256Base64url(request.body),
    exp: iat + ttl,
    iat,
    method: request.method.toUpperCase(),
    nonce: base64url(crypto.getRandomValues(new Uint8Array(16))),
    path: request.path,
  };
  const jws = await signJws(signer, claims);
  return { authorization: `${AUTH_SCHEME} ${toCompactJws(jws)}` };
}

/** Claims of an upload grant. Times are NumericDate seconds. */
export interface GrantClaims {
  typ: 'vidmesh-upload-grant';
  job: string;
  /** base64url SHA-256 of the lease token the grant is bound to. */
  lease: string;
  iat: number;
  exp: number;
}

/** Longest lifetime of an upload grant (seconds): long encodes upload late in their lease. */
export const MAX_GRANT_LIFETIME_S = 24 * 3600;

/**
 * Signs an upload grant: the DID allows streamed transfers (output PUTs, upload downloads, the source
 * relay) for one job under one lease, until `ttlS` (default 6 h). Streams cannot be body-signed per
 * request, so the grant stands in, and it still never works alone: the route checks that this DID's
 * encoder holds the job's live lease and that the request carries the very lease token the grant
 * names. Resolves the header value `DIDGRANT <compact JWS>`.
 */
export async function signUploadGrant(
  signer: Signer,
  lease: { jobId: string; leaseToken: string },
  options: { now?: Date; ttlS?: number } = {},
): Promise<string> {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims: GrantClaims = {
    typ: 'vidmesh-upload-grant',
    job: lease.jobId,
    lease: await sha256Base64url(lease.leaseToken),
    iat,
    exp: iat + Math.min(options.ttlS ?? 6 * 3600, MAX_GRANT_LIFETIME_S),
  };
  return `DIDGRANT ${toCompactJws(await signJws(signer, claims))}`;
}

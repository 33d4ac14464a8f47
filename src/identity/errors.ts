import { VidmeshError } from '../errors.js';

/**
 * Errors of the identity layer. Each class carries a union of stable codes, so routes and tests can
 * match on `code` while the compiler checks the spelling. Messages never contain key material,
 * signatures or API key secrets (they reach API responses and logs).
 */

/** A `did:key` string or key identifier is malformed or not an Ed25519 key. HTTP 400. */
export class DidError extends VidmeshError {
  override readonly code = 'invalid_did';
  override readonly status = 400;
}

/** Why a key file or key variable was refused. */
export type KeyMaterialErrorCode = 'key_file_insecure' | 'key_file_invalid' | 'invalid_key';

/**
 * A private key file or key variable (`ENCODER_PRIVATE_KEY`, `VIDMESH_SECRET_KEY`) is unusable:
 * readable by group/others (`key_file_insecure`), not a base64 32-byte value (`key_file_invalid`,
 * `invalid_key`). HTTP 400: it is the operator's input, and the CLI exits with code 2.
 */
export class KeyMaterialError extends VidmeshError {
  override readonly code: KeyMaterialErrorCode;
  override readonly status = 400;
  constructor(code: KeyMaterialErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Why a signed request (or a bare JWS) was refused. All are HTTP 401: the caller did not prove who
 * it is for this exact request.
 * - `auth_missing`: no `Authorization: DIDJWS …` header.
 * - `jws_malformed`: not a parsable compact or general JWS, wrong `alg`, not exactly one signature.
 * - `kid_mismatch`: `kid` is not `did:key:<id>#<id>` with the same key id twice, or not the DID expected.
 * - `signature_invalid`: the Ed25519 signature does not verify for the key named in `kid`
 *   (wrong key, tampered protected header or payload).
 * - `claims_invalid`: payload is not the request-claims object (missing or mistyped fields).
 * - `request_expired`: `exp` is in the past (beyond the allowed clock skew).
 * - `request_not_yet_valid`: `iat` is in the future (beyond the allowed clock skew).
 * - `request_lifetime_too_long`: `exp - iat` exceeds the maximum (300 s by default).
 * - `method_mismatch` / `path_mismatch` / `body_mismatch` / `audience_mismatch`: the signature is good
 *   but was made for another request.
 * - `nonce_replayed`: this (DID, nonce) pair was already accepted.
 */
export type SignatureErrorCode =
  | 'auth_missing'
  | 'jws_malformed'
  | 'kid_mismatch'
  | 'signature_invalid'
  | 'claims_invalid'
  | 'request_expired'
  | 'request_not_yet_valid'
  | 'request_lifetime_too_long'
  | 'method_mismatch'
  | 'path_mismatch'
  | 'body_mismatch'
  | 'audience_mismatch'
  | 'nonce_replayed';

/** A DID-signed request or JWS was refused; `code` says why (see {@link SignatureErrorCode}). HTTP 401. */
export class SignatureError extends VidmeshError {
  override readonly code: SignatureErrorCode;
  override readonly status = 401;
  constructor(code: SignatureErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Why an API key was refused. HTTP 401.
 * - `api_key_missing`: no key presented. `api_key_malformed`: not `vmk_<prefix>_<secret>`.
 * - `api_key_invalid`: unknown prefix or wrong secret (one code for both, so the answer does not
 *   reveal which prefixes exist).
 * - `api_key_revoked` / `api_key_expired`: the secret was right but the key is no longer valid.
 */
export type ApiKeyErrorCode =
  | 'api_key_missing'
  | 'api_key_malformed'
  | 'api_key_invalid'
  | 'api_key_revoked'
  | 'api_key_expired';

/** An API key was refused; `code` says why (see {@link ApiKeyErrorCode}). HTTP 401. */
export class ApiKeyError extends VidmeshError {
  override readonly code: ApiKeyErrorCode;
  override readonly status = 401;
  constructor(code: ApiKeyErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The caller is authenticated but its scopes do not cover the action. HTTP 403. */
export class ScopeError extends VidmeshError {
  override readonly code = 'insufficient_scope';
  override readonly status = 403;
}

/**
 * Why a webhook signature was refused (receiver side). HTTP 401.
 * - `webhook_signature_malformed`: header is not `t=<unix s>,v1=<hex>[,v1=<hex>…]`.
 * - `webhook_timestamp_out_of_tolerance`: `t` is further than the tolerance from now (replay guard).
 * - `webhook_signature_mismatch`: no `v1` value matches any of the receiver's secrets.
 */
export type WebhookSignatureErrorCode =
  | 'webhook_signature_malformed'
  | 'webhook_timestamp_out_of_tolerance'
  | 'webhook_signature_mismatch';

/** A webhook delivery's signature was refused; `code` says why. HTTP 401. */
export class WebhookSignatureError extends VidmeshError {
  override readonly code: WebhookSignatureErrorCode;
  override readonly status = 401;
  constructor(code: WebhookSignatureErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * A sealed secret could not be opened: malformed envelope, unknown version, or authentication failed
 * (wrong server key, or the stored value was altered). HTTP 500: the server's own data is unusable.
 */
export class SecretBoxError extends VidmeshError {
  override readonly code = 'secret_unsealable';
  override readonly status = 500;
}

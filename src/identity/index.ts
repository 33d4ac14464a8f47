/**
 * vidmesh identity and security primitives (issue 6). Terms:
 * - identity: an Ed25519 key pair named by its `did:key` (encoders sign with it).
 * - JWS: a signature envelope (RFC 7515), EdDSA, `kid` = `did:key:z6Mk…#z6Mk…` (3Speak-compatible).
 * - signed request: an HTTP request carrying `Authorization: DIDJWS <jws>` bound to its method,
 *   path, body hash, time window and a one-time nonce.
 * - API key: `vmk_<prefix>_<secret>` bearer credential of a user/service, scoped, per tenant.
 * - secret box: AES-256-GCM sealing of secrets stored in job specs.
 * See docs/identity.md for formats, headers and error codes.
 */
export {
  type ApiKeyStore,
  authenticateApiKey,
  createMemoryApiKeyStore,
  createSqlApiKeyStore,
  type NewApiKey,
} from './apikey-store.js';
export {
  API_KEY_SCOPES,
  type ApiKeyInfo,
  type ApiKeyRecord,
  apiKeyFromHeaders,
  apiKeyPrefix,
  DEFAULT_TENANT,
  generateApiKey,
  hashApiKey,
  hasScope,
  parseScopes,
  requireScope,
  type Scope,
  validTenant,
  verifyApiKey,
} from './apikeys.js';
export { didFromKid, didFromPublicKey, isDidKey, kidForDid, publicKeyFromDid } from './did.js';
export { canonicalJson } from './encoding.js';
export {
  ApiKeyError,
  type ApiKeyErrorCode,
  DidError,
  KeyMaterialError,
  type KeyMaterialErrorCode,
  ScopeError,
  SecretBoxError,
  SignatureError,
  type SignatureErrorCode,
  WebhookSignatureError,
  type WebhookSignatureErrorCode,
} from './errors.js';
export { type GrantClaims, leaseSha256, MAX_GRANT_LIFETIME_S, signUploadGrant } from './grant.js';
export {
  fromCompactJws,
  type GeneralJws,
  signJws,
  toCompactJws,
  type VerifiedJws,
  verifyJws,
} from './jws.js';
export {
  DEFAULT_ENCODER_KEY_FILE,
  ENCODER_PRIVATE_KEY_ENV,
  generateIdentity,
  generateSeed,
  type Identity,
  identityFromSeed,
  loadOrCreateIdentity,
  resolveEncoderIdentity,
} from './keys.js';
export { createMemoryNonceStore, createSqlNonceStore, type NonceStore } from './nonces.js';
export {
  MAX_PAIRING_LIFETIME_S,
  type PairingClaims,
  PairingTenantMismatchError,
  signPairingProof,
  verifyPairingProof,
} from './pairing.js';
export { DEFAULT_SECRET_PATHS, REDACTED, redact } from './redact.js';
export {
  AUTH_SCHEME,
  bodySha256,
  DEFAULT_MAX_SKEW_S,
  DEFAULT_REQUEST_TTL_S,
  type IncomingSignedRequest,
  MAX_REQUEST_LIFETIME_S,
  type RequestClaims,
  signRequest,
  type VerifyRequestOptions,
  verifySignedRequest,
} from './request.js';
export {
  createSecretBox,
  DEFAULT_SERVER_KEY_FILE,
  isSealed,
  loadOrCreateServerKey,
  resolveServerKey,
  SECRET_KEY_ENV,
  type SecretBox,
  serverKeyFromEnv,
} from './secrets.js';
export type { SqlClient } from './sql.js';
export {
  DEFAULT_WEBHOOK_TOLERANCE_S,
  generateWebhookSecret,
  signWebhook,
  verifyWebhookSignature,
  WEBHOOK_SIGNATURE_HEADER,
} from './webhook.js';

import { createHash } from 'node:crypto';

export { type GrantClaims, MAX_GRANT_LIFETIME_S, signUploadGrant } from './signing.js';

/** base64url SHA-256 of a lease token, as grants carry it (synchronous, for verifiers). */
export function leaseSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

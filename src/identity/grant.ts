import { createHash } from 'node:crypto';
import { signJws, toCompactJws } from './jws.js';
import type { Identity } from './keys.js';

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

/** base64url SHA-256 of a lease token, as grants carry it. */
export function leaseSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/**
 * Signs an upload grant: the DID allows streamed transfers (output PUTs, upload downloads) for one
 * job under one lease, until `ttlS` (default 6 h). Streams cannot be body-signed per request, so the
 * grant stands in, and it still never works alone: the route checks that this DID's encoder holds the
 * job's live lease and that the request carries the very lease token the grant names.
 * Resolves the header value `DIDGRANT <compact JWS>`.
 */
export async function signUploadGrant(
  identity: Identity,
  lease: { jobId: string; leaseToken: string },
  options: { now?: Date; ttlS?: number } = {},
): Promise<string> {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims: GrantClaims = {
    typ: 'vidmesh-upload-grant',
    job: lease.jobId,
    lease: leaseSha256(lease.leaseToken),
    iat,
    exp: iat + Math.min(options.ttlS ?? 6 * 3600, MAX_GRANT_LIFETIME_S),
  };
  return `DIDGRANT ${toCompactJws(await signJws(identity, claims))}`;
}

import { VidmeshError } from '../errors.js';
import { SignatureError } from './errors.js';
import { signJws, toCompactJws, verifyJws } from './jws.js';
import type { Identity } from './keys.js';

/**
 * A pairing proof: the agent's did:key signs `{typ: 'vidmesh-agent-pairing', tenant, user, iat, exp}`
 * (NumericDate seconds) so that whoever pairs a DID with a user shows they run that agent. It never works
 * alone: the coordinator's pairing route also needs a key of the tenant the proof names
 * (docs/encoders.md). A replayed proof can only pair the same DID with the same user of the same tenant
 * again: a key of another tenant that sees it first cannot use it.
 */
export interface PairingClaims {
  typ: 'vidmesh-agent-pairing';
  /** The tenant the user belongs to (`default` for operator keys), as `GET /agent/pairings/claims` says. */
  tenant: string;
  user: string;
  iat: number;
  exp: number;
}

/** Longest lifetime of a pairing proof, seconds. */
export const MAX_PAIRING_LIFETIME_S = 600;

/**
 * Signs a pairing proof for `user` of `tenant`, valid `ttlS` seconds (default 300); resolves the compact
 * JWS.
 */
export async function signPairingProof(
  identity: Identity,
  target: { tenant: string; user: string },
  options: { now?: Date; ttlS?: number } = {},
): Promise<string> {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims: PairingClaims = {
    typ: 'vidmesh-agent-pairing',
    tenant: target.tenant,
    user: target.user,
    iat,
    exp: iat + Math.min(options.ttlS ?? 300, MAX_PAIRING_LIFETIME_S),
  };
  return toCompactJws(await signJws(identity, claims));
}

/**
 * Verifies a pairing proof of `did` for `user` of `tenant` at `now` (30 s clock skew allowed).
 * @throws SignatureError (401): `jws_malformed`, `kid_mismatch`, `signature_invalid`, `claims_invalid`
 * (wrong typ or user, lifetime over {@link MAX_PAIRING_LIFETIME_S}), `request_expired`,
 * `request_not_yet_valid`; PairingTenantMismatchError (403 `pairing_tenant_mismatch`): a valid proof
 * that names another tenant (or none: a proof of an older agent).
 */
export async function verifyPairingProof(
  proof: string,
  expected: { did: string; tenant: string; user: string; now?: Date },
): Promise<void> {
  const { payload } = await verifyJws(proof, { expectedDid: expected.did });
  const c = payload as Partial<PairingClaims> | null;
  if (
    c?.typ !== 'vidmesh-agent-pairing' ||
    c.user !== expected.user ||
    !Number.isInteger(c.iat) ||
    !Number.isInteger(c.exp) ||
    (c.exp as number) - (c.iat as number) > MAX_PAIRING_LIFETIME_S
  ) {
    throw new SignatureError('claims_invalid', 'not a pairing proof for this user');
  }
  const now = Math.floor((expected.now ?? new Date()).getTime() / 1000);
  if ((c.exp as number) + 30 < now) throw new SignatureError('request_expired', 'pairing proof expired');
  if ((c.iat as number) - 30 > now)
    throw new SignatureError('request_not_yet_valid', 'pairing proof from the future');
  if (c.tenant !== expected.tenant) {
    throw new PairingTenantMismatchError(
      typeof c.tenant === 'string'
        ? `this pairing proof was signed for tenant ${JSON.stringify(c.tenant)}, not the caller's`
        : "this pairing proof names no tenant: sign it for the caller's (GET /api/v1/agent/pairings/claims)",
    );
  }
}

/** A valid pairing proof signed for another tenant than the pairing key's. HTTP 403. */
export class PairingTenantMismatchError extends VidmeshError {
  override readonly code: string = 'pairing_tenant_mismatch';
  override readonly status: number = 403;
}

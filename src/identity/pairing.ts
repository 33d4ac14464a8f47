import { SignatureError } from './errors.js';
import { signJws, toCompactJws, verifyJws } from './jws.js';
import type { Identity } from './keys.js';

/**
 * A pairing proof: the agent's did:key signs `{typ: 'vidmesh-agent-pairing', user, iat, exp}` (NumericDate
 * seconds) so that whoever pairs a DID with a user shows they run that agent. It never works alone: the
 * coordinator's pairing route also needs a key of the user's tenant (docs/encoders.md). A replayed
 * proof can only pair the same DID with the same user again.
 */
export interface PairingClaims {
  typ: 'vidmesh-agent-pairing';
  user: string;
  iat: number;
  exp: number;
}

/** Longest lifetime of a pairing proof, seconds. */
export const MAX_PAIRING_LIFETIME_S = 600;

/** Signs a pairing proof for `user`, valid `ttlS` seconds (default 300); resolves the compact JWS. */
export async function signPairingProof(
  identity: Identity,
  user: string,
  options: { now?: Date; ttlS?: number } = {},
): Promise<string> {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims: PairingClaims = {
    typ: 'vidmesh-agent-pairing',
    user,
    iat,
    exp: iat + Math.min(options.ttlS ?? 300, MAX_PAIRING_LIFETIME_S),
  };
  return toCompactJws(await signJws(identity, claims));
}

/**
 * Verifies a pairing proof of `did` for `user` at `now` (30 s clock skew allowed).
 * @throws SignatureError (401): `jws_malformed`, `kid_mismatch`, `signature_invalid`, `claims_invalid`
 * (wrong typ or user, lifetime over {@link MAX_PAIRING_LIFETIME_S}), `request_expired`,
 * `request_not_yet_valid`.
 */
export async function verifyPairingProof(
  proof: string,
  expected: { did: string; user: string; now?: Date },
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
}

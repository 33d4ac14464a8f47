/**
 * Gateway Aid authentication for the real 3Speak client. Its `GatewayAidService` (Mantequilla-Soft/
 * 3speakencoder fdf0111) signs nothing: every POST is a plain JSON body with an `X-Encoder-DID`
 * header, which anyone can forge. What it can carry is a secret in `GATEWAY_AID_BASE_URL`'s user-info
 * (`https://aid:<secret>@host/aid/v1`): axios sends a URL's user-info as `Authorization: Basic`. So
 * vidmesh accepts an unsigned Aid request only when that header (or `Bearer <secret>`) proves the
 * secret the operator registered for the DID named in `X-Encoder-DID`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The secret an `Authorization` header presents: `Bearer <secret>`, or `Basic base64(user:secret)`
 * (any user name); null for anything else.
 */
export function presentedAidSecret(authorization: unknown): string | null {
  if (typeof authorization !== 'string') return null;
  const m = /^(basic|bearer)\s+(\S+)\s*$/i.exec(authorization);
  if (!m?.[1] || !m[2]) return null;
  if (m[1].toLowerCase() === 'bearer') return m[2];
  const decoded = Buffer.from(m[2], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1) || null;
}

export interface AidSecrets {
  /** True when `authorization` presents the secret registered for `did` (constant-time compare). */
  verify(did: string, authorization: unknown): boolean;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Keeps only SHA-256 digests of the `[did, secret]` pairs. */
export function createAidSecrets(pairs: readonly (readonly [string, string])[]): AidSecrets {
  const byDid = new Map(pairs.map(([did, secret]) => [did, digest(secret)] as const));
  const none = digest('');
  return {
    verify(did, authorization) {
      const secret = presentedAidSecret(authorization);
      const want = byDid.get(did);
      // Compare even for an unknown DID, so timing tells nothing about which DIDs have secrets.
      const same = timingSafeEqual(digest(secret ?? ''), want ?? none);
      return same && want !== undefined && secret !== null;
    },
  };
}

import type { FastifyRequest } from 'fastify';
import {
  type ApiKeyStore,
  apiKeyFromHeaders,
  apiKeyPrefix,
  authenticateApiKey,
  DEFAULT_MAX_SKEW_S,
  fromCompactJws,
  type GrantClaims,
  leaseSha256,
  MAX_GRANT_LIFETIME_S,
  type NonceStore,
  SignatureError,
  verifyJws,
  verifySignedRequest,
} from '../../identity/index.js';
import type { JobStore } from '../../jobs/index.js';
import { NotLeaseHolderError } from '../errors.js';
import type { Authenticator, Principal, SignedRequestAuthenticator } from './auth.js';

/** Upload grants are signed by encoders (src/identity/grant.ts); re-exported for existing callers. */
export { leaseSha256, MAX_GRANT_LIFETIME_S, signUploadGrant } from '../../identity/index.js';

/**
 * Authenticators of the identity layer (docs/identity.md):
 * - hashed, scoped API keys `vmk_<prefix>_<secret>` (`Authorization: Bearer` or `X-Api-Key`);
 * - did:key signed requests `Authorization: DIDJWS <compact JWS>` (body-bound, one-time nonce);
 * - lease-bound upload grants `Authorization: DIDGRANT <compact JWS>` for streamed transfers.
 */

/**
 * Hashed API keys from `store`. Requests without a `vmk_<12 hex>_…` credential pass to the next
 * authenticator (the bootstrap key has another shape). A wrong, revoked or expired key is 401
 * (`api_key_invalid|revoked|expired`). A key with `admin` is the operator's and acts across tenants
 * (no tenant on the principal); any other key acts only for its tenant.
 */
export function apiKeyAuthenticator(store: Pick<ApiKeyStore, 'findByPrefix' | 'touch'>): Authenticator {
  return async (req) => {
    const presented = apiKeyFromHeaders(req.headers);
    if (presented === undefined || apiKeyPrefix(presented) === undefined) return undefined;
    const info = await authenticateApiKey(store, presented);
    const admin = info.scopes.includes('admin');
    return {
      id: `api_key:${info.prefix}`,
      scheme: 'api_key',
      scopes: info.scopes,
      ...(admin ? {} : { tenant: info.tenant }),
    };
  };
}

const DIDJWS = /^DIDJWS\s/i;

/**
 * did:key signed requests, verified against the raw body bytes with a one-time nonce per DID
 * (`verifySignedRequest`). The principal has only the `encoder` scope. `audience`, when it resolves a
 * value, must equal the request's `aud` claim (signers that name none are refused then).
 */
export function didRequestAuthenticator(options: {
  nonceStore: NonceStore;
  audience?: () => string | undefined;
  maxSkewS?: number;
}): SignedRequestAuthenticator {
  return {
    matches: (req) => typeof req.headers.authorization === 'string' && DIDJWS.test(req.headers.authorization),
    async authenticate(req, rawBody) {
      const audience = options.audience?.();
      const { did } = await verifySignedRequest(
        { method: req.method, path: req.url, body: rawBody, headers: req.headers },
        {
          nonceStore: options.nonceStore,
          ...(audience ? { audience } : {}),
          maxSkewS: options.maxSkewS ?? DEFAULT_MAX_SKEW_S,
        },
      );
      return didPrincipal(did);
    },
  };
}

function didPrincipal(did: string): Principal {
  return { id: did, scheme: 'did', scopes: ['encoder'], did };
}

/**
 * Upload grants (`Authorization: DIDGRANT <jws>`): signature and kid checked, claims checked for type,
 * time window ({@link MAX_GRANT_LIFETIME_S}) and shape. The principal carries `grant`; the auth hook
 * admits it only on routes with `config.acceptsGrant`, and those routes bind it to the live lease.
 * Throws `SignatureError` (401).
 */
export function uploadGrantAuthenticator(options: { maxSkewS?: number } = {}): Authenticator {
  const skew = options.maxSkewS ?? DEFAULT_MAX_SKEW_S;
  return async (req: FastifyRequest) => {
    const h = req.headers.authorization;
    if (typeof h !== 'string') return undefined;
    const m = /^DIDGRANT\s+([A-Za-z0-9_.-]+)\s*$/i.exec(h);
    if (m === null) return undefined;
    const { did, payload } = await verifyJws(fromCompactJws(m[1]!));
    const c = payload as Partial<GrantClaims> | null;
    const nowS = Math.floor(Date.now() / 1000);
    if (
      c === null ||
      typeof c !== 'object' ||
      c.typ !== 'vidmesh-upload-grant' ||
      typeof c.job !== 'string' ||
      typeof c.lease !== 'string' ||
      !Number.isSafeInteger(c.iat) ||
      !Number.isSafeInteger(c.exp)
    ) {
      throw new SignatureError('claims_invalid', 'not a vidmesh upload grant');
    }
    const iat = c.iat as number;
    const exp = c.exp as number;
    if (iat > nowS + skew) throw new SignatureError('request_not_yet_valid', 'grant iat is in the future');
    if (exp <= nowS - skew) throw new SignatureError('request_expired', 'grant has expired');
    if (exp <= iat || exp - iat > MAX_GRANT_LIFETIME_S) {
      throw new SignatureError(
        'request_lifetime_too_long',
        `a grant lives at most ${MAX_GRANT_LIFETIME_S} s`,
      );
    }
    return { ...didPrincipal(did), grant: { jobId: c.job, leaseSha256: c.lease } };
  };
}

/**
 * Binds an upload grant to a download of upload `uploadId`: the grant names a job whose live lease is
 * held by the encoder registered with the grant's DID, the request carries that lease's token, and the
 * job's source is this upload. Throws `NotLeaseHolderError` (403) otherwise.
 */
export async function assertGrantCoversUpload(
  store: Pick<JobStore, 'get' | 'getEncoder'>,
  principal: Principal,
  uploadId: string,
  leaseToken: string | undefined,
): Promise<void> {
  const grant = principal.grant;
  const refuse = () => new NotLeaseHolderError('the upload grant does not cover this upload');
  if (!grant || leaseToken === undefined || leaseSha256(leaseToken) !== grant.leaseSha256) throw refuse();
  const job = await store.get(grant.jobId).catch(() => undefined);
  const holder = job?.lease?.encoderId;
  if (!job || !holder) throw refuse();
  const encoder = await store.getEncoder(holder).catch(() => undefined);
  const source = (job.spec as { source?: { type?: unknown; id?: unknown } } | null)?.source;
  if (encoder?.did !== principal.did || source?.type !== 'upload' || source.id !== uploadId) throw refuse();
}

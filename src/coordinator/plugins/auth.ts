import { createHash, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isVidmeshError } from '../../errors.js';
import { ForbiddenError, PayloadTooLargeError, RateLimitedError, UnauthorizedError } from '../errors.js';

/**
 * Scopes a credential grants: `submit` (create/cancel/retry jobs, upload), `read` (jobs, logs,
 * encoders, monitor), `encoder` (register, heartbeat, agent work API, upload content), `admin` (all).
 */
export type Scope = 'submit' | 'read' | 'encoder' | 'admin';

/** Who made a request, as established by one {@link Authenticator}. */
export interface Principal {
  /** Stable id for audit trails, e.g. `api_key:bootstrap` or `did:key:z6Mk…`. */
  id: string;
  /** `hive`: a dashboard session signed in with Hive Keychain (src/market, docs/marketplace.md). */
  scheme: 'api_key' | 'did' | 'hive';
  scopes: readonly Scope[];
  tenant?: string;
  did?: string;
  /**
   * Set for an upload grant (`Authorization: DIDGRANT …`): the signer allowed streamed transfers for
   * one job and lease only. Valid only on routes with `config.acceptsGrant`.
   */
  grant?: { jobId: string; leaseSha256: string };
}

/**
 * One authentication scheme. Returns the principal when the request carries this scheme's credentials
 * and they are valid, `undefined` when the request does not use this scheme (the next one is tried), and
 * throws {@link UnauthorizedError} when it uses this scheme with bad credentials.
 *
 * The seam for the identity engineer: hashed scoped API keys (`api_keys` table) and did:key signed
 * requests (`Authorization: DIDJWS …`, needs the raw body: add a preParsing hook in that authenticator's
 * plugin) are added as further authenticators in {@link AuthOptions.authenticators}.
 */
export type Authenticator = (req: FastifyRequest) => Promise<Principal | undefined> | Principal | undefined;

/**
 * A scheme that signs the request body (did:key `DIDJWS`): it cannot run in `onRequest`, where the body
 * is not read yet. The auth hook defers it: a `preParsing` hook keeps the raw body bytes (bounded by the
 * route's body limit), a `preValidation` hook verifies them before any handler runs.
 */
export interface SignedRequestAuthenticator {
  /** True when the request uses this scheme (a header test, no I/O). */
  matches(req: FastifyRequest): boolean;
  /** Verifies the request against its raw body; throws 401 errors, resolves the principal. */
  authenticate(req: FastifyRequest, rawBody: Buffer): Promise<Principal>;
}

export interface AuthOptions {
  /** Tried in order; the first that returns a principal wins. */
  authenticators: Authenticator[];
  /** Body-signing schemes (did:key requests), tried before {@link authenticators} by header. */
  signed?: SignedRequestAuthenticator;
  /**
   * Failed authentications (401) allowed per client address per window (ms); past it, that address
   * gets 429 `rate_limited` before any credential is checked, so keys cannot be guessed at speed.
   */
  failureLimit?: { perIp: number; windowMs: number };
}

/**
 * Counts failed authentications per client address in fixed windows (in memory, per process: behind
 * N coordinators an address gets N × the limit). Bounded: past 50 000 addresses, expired windows are
 * dropped, then the oldest.
 */
function createFailureCounter(limit: { perIp: number; windowMs: number }) {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    /** Throws 429 when `ip` used up its failures in the current window. */
    check(ip: string): void {
      const w = windows.get(ip);
      if (w && w.resetAt > Date.now() && w.count >= limit.perIp) {
        const retryAfterS = Math.ceil((w.resetAt - Date.now()) / 1000);
        throw new RateLimitedError(`too many failed authentications: retry in ${retryAfterS} s`, {
          details: { retryAfterS },
        });
      }
    },
    record(ip: string): void {
      const now = Date.now();
      let w = windows.get(ip);
      if (!w || w.resetAt <= now) {
        if (windows.size >= 50_000) {
          for (const [k, v] of windows) if (v.resetAt <= now) windows.delete(k);
          if (windows.size >= 50_000) windows.delete(windows.keys().next().value as string);
        }
        w = { count: 0, resetAt: now + limit.windowMs };
        windows.set(ip, w);
      }
      w.count += 1;
    },
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** Raw body bytes of a body-signed request (kept only for those). */
    signedRawBody?: Buffer;
    signedAuthPending?: boolean;
  }
  interface FastifyContextConfig {
    /** Scope the route needs; `public` routes (health, media, docs) need no credentials. */
    scope?: Scope | 'public';
    /** The route accepts lease-bound upload grants (streamed output PUTs, upload downloads). */
    acceptsGrant?: boolean;
  }
}

/** True when `granted` allows `needed` (admin implies every scope). */
export function hasScope(granted: readonly Scope[], needed: Scope): boolean {
  return granted.includes('admin') || granted.includes(needed);
}

/** The bearer token of `Authorization: Bearer <token>` (RFC 6750 §2.1), or undefined. */
export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+([\x21-\x7e]+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

/**
 * The bootstrap admin key (`VIDMESH_API_KEY`): compared in constant time over SHA-256 digests, so
 * neither content nor length leaks through timing.
 */
export function staticKeyAuthenticator(key: string, principal: Omit<Principal, 'scheme'>): Authenticator {
  const expected = createHash('sha256').update(key).digest();
  return (req) => {
    const token = bearerToken(req);
    if (token === undefined) return undefined;
    const got = createHash('sha256').update(token).digest();
    return timingSafeEqual(got, expected) ? { ...principal, scheme: 'api_key' } : undefined;
  };
}

/**
 * Registers the auth hooks: every route declares `config.scope` (missing = `admin`, so a route that
 * forgets fails closed). Credentials present but unknown to every authenticator → 401; a principal
 * without the scope → 403. Body-signed requests ({@link AuthOptions.signed}) are verified after the raw
 * body is read and before validation and the handler.
 */
export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  const signed = options.signed;
  const failures = options.failureLimit ? createFailureCounter(options.failureLimit) : undefined;
  // Every 401 of this context counts against the client's address, whichever scheme failed.
  const counted = async <T>(req: FastifyRequest, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (failures && isVidmeshError(err) && err.status === 401) failures.record(req.ip);
      throw err;
    }
  };
  const admit = (req: FastifyRequest, principal: Principal, scope: Scope) => {
    if (principal.grant && !req.routeOptions.config?.acceptsGrant) {
      throw new UnauthorizedError('an upload grant is valid only for output and upload transfers');
    }
    if (!hasScope(principal.scopes, scope)) throw new ForbiddenError(`this key lacks the ${scope} scope`);
    req.principal = principal;
  };
  app.addHook('onRequest', async (req) => {
    const scope = req.routeOptions.config?.scope ?? 'admin';
    if (scope === 'public') return;
    failures?.check(req.ip);
    await counted(req, () => authenticateRequest(req, scope));
  });
  const authenticateRequest = async (req: FastifyRequest, scope: Scope) => {
    if (signed?.matches(req)) {
      req.signedAuthPending = true;
      return;
    }
    let principal: Principal | undefined;
    for (const auth of options.authenticators) {
      principal = await auth(req);
      if (principal) break;
    }
    if (!principal) {
      throw new UnauthorizedError(
        req.headers.authorization ? 'invalid credentials' : 'missing Authorization: Bearer <API key>',
      );
    }
    admit(req, principal, scope);
  };
  if (!signed) return;
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (!req.signedAuthPending) return payload;
    const limit = req.routeOptions.bodyLimit ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      size += b.length;
      if (size > limit) throw new PayloadTooLargeError(`a signed request body may be at most ${limit} bytes`);
      chunks.push(b);
    }
    req.signedRawBody = Buffer.concat(chunks);
    // Fastify's parsers read the replacement stream; `receivedEncodedLength` keeps its length check happy.
    const replay = Readable.from([req.signedRawBody]) as Readable & { receivedEncodedLength?: number };
    replay.receivedEncodedLength = size;
    return replay;
  });
  app.addHook('preValidation', async (req) => {
    if (!req.signedAuthPending) return;
    const scope = req.routeOptions.config?.scope ?? 'admin';
    if (scope === 'public') return;
    await counted(req, async () => {
      const principal = await signed.authenticate(req, req.signedRawBody ?? Buffer.alloc(0));
      admit(req, principal, scope);
    });
  });
}

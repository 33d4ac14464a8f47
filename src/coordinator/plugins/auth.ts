import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthorizedError } from '../errors.js';

/**
 * Scopes a credential grants: `submit` (create/cancel/retry jobs, upload), `read` (jobs, logs,
 * encoders, monitor), `encoder` (register, heartbeat, agent work API, upload content), `admin` (all).
 */
export type Scope = 'submit' | 'read' | 'encoder' | 'admin';

/** Who made a request, as established by one {@link Authenticator}. */
export interface Principal {
  /** Stable id for audit trails, e.g. `api_key:bootstrap` or `did:key:z6Mk…`. */
  id: string;
  scheme: 'api_key' | 'did';
  scopes: readonly Scope[];
  tenant?: string;
  did?: string;
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

export interface AuthOptions {
  /** Tried in order; the first that returns a principal wins. */
  authenticators: Authenticator[];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Scope the route needs; `public` routes (health, media, docs) need no credentials. */
    scope?: Scope | 'public';
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
 * Registers the one auth hook: every route declares `config.scope` (missing = `admin`, so a route that
 * forgets fails closed). Credentials present but unknown to every authenticator → 401.
 */
export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  app.addHook('onRequest', async (req) => {
    const scope = req.routeOptions.config?.scope ?? 'admin';
    if (scope === 'public') return;
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
    if (!hasScope(principal.scopes, scope)) throw new ForbiddenError(`this key lacks the ${scope} scope`);
    req.principal = principal;
  });
}

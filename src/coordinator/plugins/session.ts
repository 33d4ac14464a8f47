import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import type { Authenticator, Principal } from './auth.js';

/**
 * Dashboard sessions: the browser signs in once with an API key and then carries an httpOnly cookie
 * instead of the key (the key never reaches localStorage or page JavaScript after sign-in).
 *
 * The cookie is an AES-256-GCM sealed `{ sid, key, exp }` (no session table: any coordinator holding
 * the same secret accepts it). Every request re-authenticates the sealed key through the ordinary key
 * authenticators, so revoking or re-scoping the key takes effect at once, and the session can never
 * grant more than the key itself. Sign-out adds the session id to a per-process denylist until expiry.
 *
 * CSRF: the cookie is `SameSite=Strict`, and mutating requests authenticated by the cookie must also
 * carry {@link CSRF_HEADER} (a custom header: cross-site forms cannot send one, and cross-origin
 * scripts would need a CORS preflight that is not granted for it).
 */

export const SESSION_COOKIE = 'vidmesh_session';
/** Header mutating cookie-authenticated requests must carry (any non-empty value, the dashboard sends `1`). */
export const CSRF_HEADER = 'x-vidmesh-csrf';

/** A cookie-authenticated mutating request without {@link CSRF_HEADER}. HTTP 403. */
export class CsrfError extends ForbiddenError {
  override readonly code: string = 'csrf_header_missing';
}

export interface SessionOptions {
  /** Authenticators that accept `Authorization: Bearer <key>` (the app's chain without sessions). */
  keyAuthenticators: readonly Authenticator[];
  /** Secret the cookie key is derived from; default: random per process (sessions end on restart). */
  secret?: Uint8Array;
  /** Session lifetime in seconds (default 12 h). */
  ttlS?: number;
}

/** A sealed session: the cookie value, its expiry and its principal. */
export interface SealedSession {
  value: string;
  expiresAt: Date;
  principal: Principal;
}

/**
 * Hands a sealed session to the browser: sets its cookie (`Secure` over https) with `no-store`, and
 * returns the body of a sign-in answer, `{principal: {id, scopes, tenant}, expiresAt}` (ISO 8601).
 */
export function startSession(
  req: FastifyRequest,
  reply: FastifyReply,
  sessions: SessionManager,
  s: SealedSession,
): { principal: { id: string; scopes: string[]; tenant: string | null }; expiresAt: string } {
  reply.header('set-cookie', sessions.cookie(s.value, sessions.ttlS, req.protocol === 'https'));
  reply.header('cache-control', 'no-store');
  return {
    principal: { id: s.principal.id, scopes: [...s.principal.scopes], tenant: s.principal.tenant ?? null },
    expiresAt: s.expiresAt.toISOString(),
  };
}

export interface SessionManager {
  /** Authenticator for the chain (put it last: an explicit `Authorization` header always wins). */
  authenticator: Authenticator;
  /**
   * Verifies `apiKey` through the key authenticators and seals a session for it. Resolves the cookie
   * value, its expiry and the key's principal; throws {@link UnauthorizedError} for an unknown key.
   */
  signIn(
    req: FastifyRequest,
    apiKey: string,
  ): Promise<{ value: string; expiresAt: Date; principal: Principal }>;
  /** Ends the session carried by `req` (no-op without one). */
  signOut(req: FastifyRequest): void;
  /**
   * A one-time sign-in token for `apiKey` (first-run links printed by `vidmesh serve`): random 256 bits,
   * valid `ttlS` seconds (default 300), usable once, and only on this process (kept in memory).
   */
  issueSignInToken(apiKey: string, ttlS?: number): string;
  /**
   * Seals a session for a Hive account whose Keychain signature the caller verified: the principal
   * `hive:<account>` with `submit` and `read` on its own tenant `hive:<account>`.
   */
  signInHive(account: string): { value: string; expiresAt: Date; principal: Principal };
  /**
   * Consumes a token from {@link issueSignInToken} and signs its key in, as {@link signIn}. Throws
   * {@link UnauthorizedError} for an unknown, used or expired token.
   */
  exchangeSignInToken(
    req: FastifyRequest,
    token: string,
  ): Promise<{ value: string; expiresAt: Date; principal: Principal }>;
  /** The principal of the session `req` carries, or undefined (no, expired or revoked session). */
  principalOf(req: FastifyRequest): Promise<Principal | undefined>;
  /** `Set-Cookie` value for `value` (empty value + max-age 0 clears it); `Secure` when `secure`. */
  cookie(value: string, maxAgeS: number, secure: boolean): string;
  readonly ttlS: number;
}

interface Sealed {
  sid: string;
  /** The API key this session re-authenticates with ('' for a Hive session). */
  key: string;
  /** A Hive account proven by a Keychain signature (`signInHive`): its own user principal. */
  hive?: string;
  /** Expiry, Unix seconds. */
  exp: number;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The value of cookie `name` in a `Cookie` header (RFC 6265 §5.4), or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The principal of a Hive Keychain session: a user whose jobs and wallet are its own tenant's. */
export const hivePrincipal = (account: string): Principal => ({
  id: `hive:${account}`,
  scheme: 'hive',
  scopes: ['submit', 'read'],
  tenant: `hive:${account}`,
});

/** Builds the session manager; see the module comment for the cookie format and CSRF rule. */
export function createSessionManager(options: SessionOptions): SessionManager {
  const ttlS = options.ttlS ?? 12 * 3600;
  const key = createHash('sha256')
    .update('vidmesh-session-v1\0')
    .update(options.secret ?? randomBytes(32))
    .digest();
  const revoked = new Map<string, number>();
  /** One-time sign-in tokens → the key they sign in and their expiry (Unix seconds). */
  const signInTokens = new Map<string, { key: string; exp: number }>();

  const seal = (s: Sealed): string => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(s), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  };
  const unseal = (value: string): Sealed | undefined => {
    try {
      const raw = Buffer.from(value, 'base64url');
      if (raw.length < 29) return undefined;
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const json = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      const s = JSON.parse(json) as Sealed;
      return typeof s.sid === 'string' &&
        typeof s.key === 'string' &&
        typeof s.exp === 'number' &&
        (s.hive === undefined || typeof s.hive === 'string')
        ? s
        : undefined;
    } catch {
      // Tampered, truncated or sealed with another secret: not a session.
      return undefined;
    }
  };
  const now = () => Math.floor(Date.now() / 1000);
  const prune = () => {
    const t = now();
    for (const [sid, exp] of revoked) if (exp < t) revoked.delete(sid);
  };

  /** Runs the key authenticators as if `key` had been sent as a bearer token. */
  const authenticateKey = async (req: FastifyRequest, apiKey: string): Promise<Principal | undefined> => {
    const headers = { ...req.headers, authorization: `Bearer ${apiKey}` };
    const asBearer = Object.create(req, { headers: { value: headers } }) as FastifyRequest;
    for (const auth of options.keyAuthenticators) {
      const p = await auth(asBearer);
      if (p) return p;
    }
    return undefined;
  };

  const current = (req: FastifyRequest): Sealed | undefined => {
    const value = readCookie(req.headers.cookie, SESSION_COOKIE);
    const s = value ? unseal(value) : undefined;
    if (!s || s.exp <= now() || revoked.has(s.sid)) return undefined;
    return s;
  };

  const principalOf = async (req: FastifyRequest) => {
    const s = current(req);
    if (!s) return undefined;
    if (s.hive) return hivePrincipal(s.hive);
    try {
      return await authenticateKey(req, s.key);
    } catch {
      return undefined;
    }
  };

  return {
    ttlS,
    principalOf,
    authenticator: async (req) => {
      if (req.headers.authorization) return undefined;
      const value = readCookie(req.headers.cookie, SESSION_COOKIE);
      if (!value) return undefined;
      const s = current(req);
      if (!s) throw new UnauthorizedError('session expired or signed out: sign in again');
      const principal = s.hive
        ? hivePrincipal(s.hive)
        : await authenticateKey(req, s.key).catch(() => undefined);
      if (!principal) throw new UnauthorizedError('the API key of this session is no longer valid');
      const csrf = req.headers[CSRF_HEADER];
      if (!SAFE_METHODS.has(req.method) && (typeof csrf !== 'string' || csrf === '')) {
        throw new CsrfError(
          `cookie-authenticated ${req.method} requests must carry the ${CSRF_HEADER} header`,
        );
      }
      return principal;
    },
    async signIn(req, apiKey) {
      const principal = await authenticateKey(req, apiKey).catch(() => undefined);
      if (!principal) throw new UnauthorizedError('invalid API key');
      const exp = now() + ttlS;
      const value = seal({ sid: randomBytes(16).toString('base64url'), key: apiKey, exp });
      return { value, expiresAt: new Date(exp * 1000), principal };
    },
    signInHive(account) {
      const exp = now() + ttlS;
      const value = seal({ sid: randomBytes(16).toString('base64url'), key: '', hive: account, exp });
      return { value, expiresAt: new Date(exp * 1000), principal: hivePrincipal(account) };
    },
    issueSignInToken(apiKey, tokenTtlS = 300) {
      const t = now();
      for (const [k, v] of signInTokens) if (v.exp <= t) signInTokens.delete(k);
      const token = randomBytes(32).toString('base64url');
      signInTokens.set(token, { key: apiKey, exp: t + tokenTtlS });
      return token;
    },
    async exchangeSignInToken(req, token) {
      const entry = signInTokens.get(token);
      // Deleted before any check: a token is spent by its first use, even a failing one.
      signInTokens.delete(token);
      if (!entry || entry.exp <= now()) throw new UnauthorizedError('sign-in link unknown, used or expired');
      return this.signIn(req, entry.key);
    },
    signOut(req) {
      const s = current(req);
      if (!s) return;
      prune();
      revoked.set(s.sid, s.exp);
    },
    cookie(value, maxAgeS, secure) {
      return [
        `${SESSION_COOKIE}=${value}`,
        'Path=/',
        `Max-Age=${maxAgeS}`,
        'HttpOnly',
        'SameSite=Strict',
        ...(secure ? ['Secure'] : []),
      ].join('; ');
    },
  };
}

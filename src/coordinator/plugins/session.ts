import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../../jobs/db.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import type { Authenticator, Principal } from './auth.js';

/**
 * Dashboard sessions: the browser signs in once with an API key and then carries an httpOnly cookie
 * instead of the key (the key never reaches localStorage or page JavaScript after sign-in).
 *
 * The cookie is an AES-256-GCM sealed `{ sid, key, exp, iat }` (no session table: any coordinator
 * holding the same secret accepts it). Every request re-authenticates the sealed key through the
 * ordinary key authenticators, so revoking or re-scoping the key takes effect at once, and the session
 * can never grant more than the key itself. Sessions end early through {@link SessionRevocations}
 * (the database's `session_revocations` / `session_epochs` in `vidmesh serve`, so on every coordinator
 * and across restarts): sign-out denies the session id until it would have expired; "sign out
 * everywhere" ends every session of the principal issued before that moment (API-key and Hive
 * Keychain sessions alike).
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
  /** Where ended sessions are kept; default: this process's memory ({@link memorySessionRevocations}). */
  revocations?: SessionRevocations;
}

/** Sessions ended before their expiry. */
export interface SessionRevocations {
  /** Ends session `sid` (it stays ended until `expiresAt`, when it would have expired anyway). */
  revoke(sid: string, expiresAt: Date): Promise<void>;
  /** Ends every session of `principalId` issued before `at`. */
  revokeAllOf(principalId: string, at: Date): Promise<void>;
  /** Whether session `sid` of `principalId`, issued at `issuedAt`, was ended. */
  isRevoked(sid: string, principalId: string, issuedAt: Date): Promise<boolean>;
}

/** Revocations kept in this process only (sessions of a process whose secret dies with it). */
export function memorySessionRevocations(): SessionRevocations {
  const revoked = new Map<string, number>();
  const epochs = new Map<string, number>();
  return {
    async revoke(sid, expiresAt) {
      const t = Date.now();
      for (const [k, exp] of revoked) if (exp < t) revoked.delete(k);
      revoked.set(sid, expiresAt.getTime());
    },
    async revokeAllOf(principalId, at) {
      epochs.set(principalId, Math.max(epochs.get(principalId) ?? 0, at.getTime()));
    },
    async isRevoked(sid, principalId, issuedAt) {
      return revoked.has(sid) || issuedAt.getTime() < (epochs.get(principalId) ?? 0);
    },
  };
}

/**
 * Revocations in the vidmesh database (drizzle/0024: `session_revocations`, `session_epochs`), shared by
 * every coordinator of it and kept across restarts. One indexed lookup per cookie-authenticated request.
 */
export function sqlSessionRevocations(db: Queryable): SessionRevocations {
  return {
    async revoke(sid, expiresAt) {
      await db.query('DELETE FROM session_revocations WHERE expires_at < now()');
      await db.query(
        `INSERT INTO session_revocations (sid, expires_at) VALUES ($1, $2)
         ON CONFLICT (sid) DO UPDATE SET expires_at = greatest(session_revocations.expires_at, EXCLUDED.expires_at)`,
        [sid, expiresAt],
      );
    },
    async revokeAllOf(principalId, at) {
      await db.query(
        `INSERT INTO session_epochs (principal_id, not_before) VALUES ($1, $2)
         ON CONFLICT (principal_id) DO UPDATE SET not_before = greatest(session_epochs.not_before, EXCLUDED.not_before)`,
        [principalId, at],
      );
    },
    async isRevoked(sid, principalId, issuedAt) {
      const { rows } = await db.query<{ revoked: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM session_revocations WHERE sid = $1)
           OR EXISTS (SELECT 1 FROM session_epochs WHERE principal_id = $2 AND not_before > $3) AS revoked`,
        [sid, principalId, issuedAt],
      );
      return rows[0]?.revoked === true;
    },
  };
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
  /** Ends the session carried by `req` on every coordinator sharing the revocations (no-op without one). */
  signOut(req: FastifyRequest): Promise<void>;
  /**
   * Ends every session of the principal of the session `req` carries (this one included), on every
   * coordinator sharing the revocations. Resolves that principal, or undefined without a valid session.
   */
  signOutEverywhere(req: FastifyRequest): Promise<Principal | undefined>;
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
  /** Issued at, Unix ms (absent in cookies sealed before drizzle/0024: `exp` − ttl then). */
  iat?: number;
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
  const revocations = options.revocations ?? memorySessionRevocations();
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
        (s.iat === undefined || typeof s.iat === 'number') &&
        (s.hive === undefined || typeof s.hive === 'string')
        ? s
        : undefined;
    } catch {
      // Tampered, truncated or sealed with another secret: not a session.
      return undefined;
    }
  };
  const now = () => Math.floor(Date.now() / 1000);
  const issuedAt = (s: Sealed) => new Date(s.iat ?? (s.exp - ttlS) * 1000);

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

  /** The unexpired sealed session `req` carries (not yet checked against revocations). */
  const sealedOf = (req: FastifyRequest): Sealed | undefined => {
    const value = readCookie(req.headers.cookie, SESSION_COOKIE);
    const s = value ? unseal(value) : undefined;
    return s && s.exp > now() ? s : undefined;
  };

  /**
   * The session `req` carries and its principal: `{}` without a session (or expired, or ended),
   * `{ s }` when its key no longer authenticates. Throws what the revocation store throws.
   */
  const resolve = async (req: FastifyRequest): Promise<{ s?: Sealed; principal?: Principal }> => {
    const s = sealedOf(req);
    if (!s) return {};
    const principal = s.hive
      ? hivePrincipal(s.hive)
      : await authenticateKey(req, s.key).catch(() => undefined);
    if (!principal) return { s };
    if (await revocations.isRevoked(s.sid, principal.id, issuedAt(s))) return {};
    return { s, principal };
  };

  const principalOf = async (req: FastifyRequest) => (await resolve(req)).principal;

  return {
    ttlS,
    principalOf,
    authenticator: async (req) => {
      if (req.headers.authorization) return undefined;
      const value = readCookie(req.headers.cookie, SESSION_COOKIE);
      if (!value) return undefined;
      const { s, principal } = await resolve(req);
      if (!s) throw new UnauthorizedError('session expired or signed out: sign in again');
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
      const value = seal({ sid: randomBytes(16).toString('base64url'), key: apiKey, exp, iat: Date.now() });
      return { value, expiresAt: new Date(exp * 1000), principal };
    },
    signInHive(account) {
      const exp = now() + ttlS;
      const value = seal({
        sid: randomBytes(16).toString('base64url'),
        key: '',
        hive: account,
        exp,
        iat: Date.now(),
      });
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
    async signOut(req) {
      const s = sealedOf(req);
      if (!s) return;
      await revocations.revoke(s.sid, new Date(s.exp * 1000));
    },
    async signOutEverywhere(req) {
      const { s, principal } = await resolve(req);
      if (!s || !principal) return undefined;
      await revocations.revokeAllOf(principal.id, new Date());
      await revocations.revoke(s.sid, new Date(s.exp * 1000));
      return principal;
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

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { UnauthorizedError } from '../errors.js';
import { CSRF_HEADER, CsrfError, type SessionManager, startSession } from '../plugins/session.js';

export interface SessionRouteOptions {
  sessions: SessionManager;
}

const principalSchema = z.object({
  id: z.string(),
  scopes: z.array(z.string()),
  tenant: z.string().nullable(),
});
const sessionSchema = z.object({ principal: principalSchema.nullable(), expiresAt: z.string().nullable() });

/**
 * Dashboard sign-in: `POST /session` with `{ apiKey }` sets the httpOnly session cookie, `GET /session`
 * says who the cookie belongs to (`principal: null` when signed out), `DELETE /session` signs out,
 * `DELETE /session/all` signs the session's principal out everywhere.
 * Sign-in and sign-out carry the CSRF header too (no login CSRF). `GET /session/link?token=` exchanges a
 * one-time token for the cookie and redirects to the dashboard. Cookie format: plugins/session.ts.
 */
export const sessionRoutes: FastifyPluginAsyncZod<SessionRouteOptions> = async (app, { sessions }) => {
  const requireCsrf = (headers: Record<string, unknown>) => {
    const v = headers[CSRF_HEADER];
    if (typeof v !== 'string' || v === '') throw new CsrfError(`send the ${CSRF_HEADER} header`);
  };

  app.post(
    '/session',
    {
      config: { scope: 'public' },
      schema: {
        operationId: 'signIn',
        summary: 'Sign in with an API key (sets an httpOnly, SameSite=Strict session cookie)',
        tags: ['session'],
        body: z.object({ apiKey: z.string().min(1).max(512) }),
        response: { 200: sessionSchema },
      },
    },
    async (req, reply) => {
      requireCsrf(req.headers);
      const s = await sessions.signIn(req, req.body.apiKey);
      return startSession(req, reply, sessions, s);
    },
  );

  // A top-level GET from a link (a terminal, an email): no CSRF header can come with it. The token is the
  // proof instead: single use and short-lived, so one leaked through a log or history is already spent.
  app.get(
    '/session/link',
    {
      config: { scope: 'public' },
      schema: {
        operationId: 'signInWithLink',
        summary: 'Exchange a one-time sign-in token (vidmesh serve prints the link) for the session cookie',
        tags: ['session'],
        querystring: z.object({ token: z.string().min(1).max(128) }),
        response: {
          200: {
            description: 'Signed in: a page that continues to the dashboard',
            content: { 'text/html': { schema: z.string() } },
          },
        },
      },
    },
    async (req, reply) => {
      const s = await sessions.exchangeSignInToken(req, req.query.token);
      startSession(req, reply, sessions, s);
      reply.header('referrer-policy', 'no-referrer');
      // A page, not a redirect: its own navigation to the dashboard starts on this origin, so the browser
      // sends the SameSite=Strict cookie with it (a redirect chain begun by a link from elsewhere would not).
      return reply
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/">' +
            '<title>vidmesh: signed in</title><p>Signed in. <a href="/">Continue to the dashboard</a>.</p>',
        );
    },
  );

  app.get(
    '/session',
    {
      config: { scope: 'public' },
      schema: {
        operationId: 'getSession',
        summary: 'The signed-in principal of this session cookie, or null',
        tags: ['session'],
        response: { 200: sessionSchema },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      const p = await sessions.principalOf(req);
      return {
        principal: p ? { id: p.id, scopes: [...p.scopes], tenant: p.tenant ?? null } : null,
        expiresAt: null,
      };
    },
  );

  app.delete(
    '/session',
    {
      config: { scope: 'public' },
      schema: {
        operationId: 'signOut',
        summary: 'Sign out (ends the session and clears the cookie)',
        tags: ['session'],
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      requireCsrf(req.headers);
      await sessions.signOut(req);
      reply.header('set-cookie', sessions.cookie('', 0, req.protocol === 'https'));
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/session/all',
    {
      config: { scope: 'public' },
      schema: {
        operationId: 'signOutEverywhere',
        summary: "Sign out everywhere: ends every session of this session's principal (this one too)",
        tags: ['session'],
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      requireCsrf(req.headers);
      const principal = await sessions.signOutEverywhere(req);
      if (!principal) throw new UnauthorizedError('no session to sign out of: sign in first');
      reply.header('set-cookie', sessions.cookie('', 0, req.protocol === 'https'));
      return reply.status(204).send(null);
    },
  );
};

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { packageRoot } from '../../paths.js';

export interface WebRouteOptions {
  /** Folder of the built dashboard (default `<package>/web/dist`, produced by `npm run build`). */
  root?: string;
}

/**
 * Content-Security-Policy of the dashboard page: scripts only from this origin; `blob:` workers and
 * media because hls.js runs its transmuxer in a blob worker and feeds MediaSource blob URLs.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "worker-src 'self' blob:",
  // The user's desktop agent answers on loopback (docs/encoders.md; port configurable, 3002 by default).
  "connect-src 'self' http://127.0.0.1:* http://localhost:*",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/** Client-side routes of the single-page app; everything else under `/` is a file or a 404. */
const SPA_PATHS = /^\/(?:$|signin$|jobs(?:\/[\w-]{1,64})?$|encoders$|encode$|submit$|streams$)/;

/**
 * Serves the built dashboard at `/`: hashed files under `/assets/` with a one-year immutable cache,
 * `index.html` (no-cache, CSP) for `/` and for the app's client-side routes (SPA fallback). Without a
 * build, `/` answers 503 naming the build command. Public: the bundle holds no secrets; data comes from
 * `/api/v1` with the session cookie.
 */
export async function webRoutes(app: FastifyInstance, opts: WebRouteOptions = {}): Promise<void> {
  const root = opts.root ?? join(packageRoot(), 'web', 'dist');
  const built = existsSync(join(root, 'index.html'));
  if (built) {
    await app.register(fastifyStatic, {
      root,
      prefix: '/',
      decorateReply: false,
      // Routes per built file: the catch-all below stays free for client-side routes.
      wildcard: false,
      index: false,
      list: false,
      dotfiles: 'deny',
      cacheControl: false,
      setHeaders: (reply, path) => {
        reply.header(
          'cache-control',
          path.includes(`${join(root, 'assets')}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
  }
  const page = async () => (built ? readFile(join(root, 'index.html')) : undefined);

  app.get('/*', { config: { scope: 'public' }, schema: { hide: true } }, async (req, reply) => {
    const path = req.url.split('?')[0];
    if (!SPA_PATHS.test(path)) return reply.callNotFound();
    const html = await page();
    if (!html) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('dashboard not built: run `npm run build` (it builds web/ into web/dist)\n');
    }
    return reply
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .type('text/html; charset=utf-8')
      .send(html);
  });
}

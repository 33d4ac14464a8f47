import type { FastifyInstance } from 'fastify';

/**
 * Secure response headers on every answer (a small `onSend` hook instead of @fastify/helmet, whose
 * default CSP would break the Swagger UI at /docs and media players): no MIME sniffing, no framing by
 * other sites (CSP `frame-ancestors` plus the legacy `X-Frame-Options`), no referrer leaking job URLs,
 * and `Strict-Transport-Security` (RFC 6797) when served over TLS.
 */
export function registerSecureHeaders(app: FastifyInstance, options: { hsts: boolean }): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'SAMEORIGIN');
    if (!reply.hasHeader('content-security-policy')) {
      reply.header('content-security-policy', "frame-ancestors 'self'");
    }
    if (options.hsts) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    return payload;
  });
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError, VidmeshError } from '../../errors.js';

/** A JSON route got a body of another media type. HTTP 415 (RFC 9110 §15.5.16). */
export class UnsupportedMediaTypeError extends VidmeshError {
  override readonly code: string = 'unsupported_media_type';
  override readonly status: number = 415;
}

/** Text that is not well-formed Unicode (a lone UTF-16 surrogate) or holds NUL. HTTP 400. */
export class InvalidTextError extends ValidationError {
  override readonly code: string = 'invalid_text';
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Throws {@link InvalidTextError} naming the first string (value or key) in `value` that PostgreSQL
 * could not store: a lone surrogate (`"\ud800"` parses in JSON but is not Unicode; jsonb refuses it)
 * or NUL (text and jsonb refuse it). Walks at most `maxDepth` levels (deeper parts are not data any
 * route accepts: their schemas refuse them).
 */
export function assertStorableText(value: unknown, where: string, maxDepth = 64): void {
  const bad = (s: string) => LONE_SURROGATE.test(s) || s.includes('\u0000');
  const walk = (v: unknown, path: string, depth: number): void => {
    if (typeof v === 'string') {
      if (bad(v)) throw new InvalidTextError(`${path}: not well-formed Unicode text (lone surrogate or NUL)`);
      return;
    }
    if (v === null || typeof v !== 'object' || depth >= maxDepth) return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (bad(k)) throw new InvalidTextError(`${path}: a key is not well-formed Unicode text`);
      walk(x, `${path}.${k}`, depth + 1);
    }
  };
  walk(value, where, 0);
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function hasBody(req: FastifyRequest): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * A route of `app` that takes a JSON body answers 415 to any other media type (Fastify would parse
 * `text/plain` into a string and answer 400 `validation_failed`).
 */
export function registerJsonOnly(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    if (!req.routeOptions.schema?.body || !hasBody(req)) return;
    const type = req.headers['content-type'] ?? '';
    if (!JSON_TYPE.test(type)) {
      throw new UnsupportedMediaTypeError(
        `this route takes application/json${type ? `, not ${type.split(';')[0]}` : ''}`,
      );
    }
  });
}

/**
 * No string in a body, query or path parameter of any route of `app` may be text PostgreSQL cannot
 * store: 400 `invalid_text` before validation, instead of a 500 from the database.
 */
export function registerTextGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    assertStorableText(req.params, 'params');
    assertStorableText(req.query, 'query');
    if (
      req.body !== null &&
      typeof req.body === 'object' &&
      typeof (req.body as { pipe?: unknown }).pipe !== 'function'
    ) {
      assertStorableText(req.body, 'body');
    }
  });
}

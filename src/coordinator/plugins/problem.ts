import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { isVidmeshError } from '../../errors.js';

/**
 * RFC 9457 problem details, the one error shape of the API (`Content-Type: application/problem+json`).
 * `type` is a URN naming the stable `code` (clients match on `code`), `detail` is for humans.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  errors?: Array<{ path: string; message: string }>;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

// Fastify's own client errors get stable snake_case codes instead of FST_ERR_* internals.
const FASTIFY_CODES: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  429: 'rate_limited',
};

/** Builds a problem object for `status`/`code` (RFC 9457 §3.1 members plus `code`). */
export function problem(
  status: number,
  code: string,
  detail?: string,
  extra: Record<string, unknown> = {},
): Problem {
  // Extras first: a detail named like a standard member (e.g. a job's `status`) must not replace it.
  return {
    ...extra,
    type: `urn:vidmesh:problem:${code}`,
    title: TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'),
    status,
    ...(detail === undefined ? {} : { detail }),
    code,
  };
}

/** Sends a problem with the right content type. */
export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  if (p.status === 401) reply.header('www-authenticate', 'Bearer realm="vidmesh"');
  return reply.status(p.status).type('application/problem+json').send(p);
}

/**
 * The one place errors become HTTP responses: VidmeshError → its status/code (details merged in),
 * zod request validation → 400 `validation_failed` with per-field paths, Fastify client errors → their
 * status, anything else → 500 `internal_error` with no message or stack (logged server-side instead).
 */
export function registerProblemHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const errors = err.validation.map((v) => ({
        path: `${err.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}`,
        message: v.message ?? 'invalid',
      }));
      const detail = errors.map((e) => `${e.path}: ${e.message}`).join('; ');
      return sendProblem(reply, problem(400, 'validation_failed', detail, { errors }));
    }
    if (isVidmeshError(err)) {
      if (err.status >= 500) req.log.error({ err }, 'request failed');
      const extra = err.details ? { ...err.details } : {};
      return sendProblem(reply, problem(err.status, err.code, err.message, extra));
    }
    if (isResponseSerializationError(err)) {
      req.log.error({ err }, 'response did not match its schema');
      return sendProblem(reply, problem(500, 'internal_error', 'internal error'));
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      return sendProblem(reply, problem(status, FASTIFY_CODES[status] ?? 'bad_request', err.message));
    }
    req.log.error({ err }, 'request failed');
    return sendProblem(reply, problem(500, 'internal_error', 'internal error'));
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, problem(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`)),
  );
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Authenticator } from '../../coordinator/plugins/auth.js';
import { registerAuth } from '../../coordinator/plugins/auth.js';
import { registerJsonOnly } from '../../coordinator/plugins/input-guard.js';
import type { EncoderView, JobView } from '../../coordinator/schemas.js';
import { ValidationError } from '../../errors.js';
import { OrderUnsettledError } from '../../jobs/errors.js';
import { translateRequest, V2TranslationError, v2JobRequestSchema, v2JobView } from './translate.js';

export interface EncoderV2Options {
  /** The coordinator's API key schemes (the vidmesh API key authenticates these routes). */
  authenticators: Authenticator[];
  /**
   * Deletes a finished job's row (cascading to its outputs, events and logs) and its local files; a
   * priced job's order is settled first (a cancelled job's escrow refunded).
   * @throws OrderUnsettledError (409) when its order cannot be settled yet
   */
  removeJob(jobId: string): Promise<void>;
  /**
   * Whether the job has an unsettled market order and an encoder holds it (docs/marketplace.md): such a
   * job is neither cancelled nor removed (409 `order_unsettled`). Absent: no marketplace.
   */
  heldByEncoder?(jobId: string): Promise<boolean>;
  /** Register `GET /health` (false when mounted at `/`, where vidmesh's own `/health` answers). */
  health: boolean;
}

const FINAL = new Set(['completed', 'dead', 'cancelled']);
const idParams = z.object({ id: z.string().min(1).max(64) });

/**
 * The "Encoder v2" routes (docs/outputs.md): `GET /health`, `POST /jobs` (the original's body,
 * `202 {id, uuid, status}`), `GET /jobs` (latest first, an array), `GET /jobs/:id` (with outputs),
 * `DELETE /jobs/:id` (cancels, then removes the job, its output rows, its queue state and its files in
 * local storage; a priced job not yet claimed has its escrow refunded first, one an encoder holds
 * answers 409 `order_unsettled`), `GET /workers` (the encoders). Each route translates and calls vidmesh's own
 * `/api/v1` route in-process (`inject`, with the caller's credentials), so validation, SSRF guards,
 * sealing of credentials, tenant isolation and problem responses are exactly the API's.
 */
export const encoderV2Routes: FastifyPluginAsyncZod<EncoderV2Options> = async (app, opts) => {
  registerJsonOnly(app);
  registerAuth(app, { authenticators: opts.authenticators });

  /** Calls a vidmesh API route as the caller; a non-2xx answer is sent on as is (a problem). */
  const call = async <T>(
    req: FastifyRequest,
    reply: FastifyReply,
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    payload?: unknown,
  ): Promise<T | undefined> => {
    const headers: Record<string, string> = {};
    for (const h of ['authorization', 'x-api-key'] as const) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const res = await app.inject({
      method,
      url,
      headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });
    if (res.statusCode >= 200 && res.statusCode < 300) return res.json() as T;
    reply
      .status(res.statusCode)
      .type(String(res.headers['content-type'] ?? 'application/problem+json'))
      .send(res.body);
    return undefined;
  };

  if (opts.health) {
    app.get('/health', { config: { scope: 'public' }, schema: { hide: true } }, async () => ({
      status: 'ok',
    }));
  }

  app.post(
    '/jobs',
    { config: { scope: 'submit' }, schema: { hide: true, body: v2JobRequestSchema } },
    async (req, reply) => {
      let spec: Record<string, unknown>;
      try {
        spec = translateRequest(req.body);
      } catch (err) {
        if (err instanceof V2TranslationError || err instanceof TypeError)
          throw new ValidationError(err.message);
        throw err;
      }
      const out = await call<{ job: JobView }>(req, reply, 'POST', '/api/v1/jobs', spec);
      if (!out) return reply;
      const v = v2JobView(out.job);
      return reply.status(202).send({ id: v.id, uuid: v.uuid, status: v.status });
    },
  );

  app.get(
    '/jobs',
    {
      config: { scope: 'read' },
      schema: {
        hide: true,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(50) }),
      },
    },
    async (req, reply) => {
      const out = await call<{ jobs: JobView[] }>(req, reply, 'GET', `/api/v1/jobs?limit=${req.query.limit}`);
      return out ? out.jobs.map(v2JobView) : reply;
    },
  );

  app.get(
    '/jobs/:id',
    { config: { scope: 'read' }, schema: { hide: true, params: idParams } },
    async (req, reply) => {
      const out = await call<{ job: JobView }>(
        req,
        reply,
        'GET',
        `/api/v1/jobs/${encodeURIComponent(req.params.id)}`,
      );
      return out ? v2JobView(out.job) : reply;
    },
  );

  app.delete(
    '/jobs/:id',
    { config: { scope: 'submit' }, schema: { hide: true, params: idParams } },
    async (req, reply) => {
      const url = `/api/v1/jobs/${encodeURIComponent(req.params.id)}`;
      // Visibility first (another tenant's id is a 404), then cancel what still runs.
      const got = await call<{ job: JobView }>(req, reply, 'GET', url);
      if (!got) return reply;
      if (!FINAL.has(got.job.status)) {
        // Paid work an encoder holds is left to finish and settle: the payer asks again once it has.
        if (await opts.heldByEncoder?.(got.job.id)) {
          throw new OrderUnsettledError(
            `job ${got.job.id} is held by the encoder of its accepted bid: it can be removed once its order is settled`,
            { details: { jobId: got.job.id, status: got.job.status } },
          );
        }
        if (!(await call(req, reply, 'DELETE', url))) return reply;
      }
      await opts.removeJob(got.job.id);
      return { id: got.job.id, uuid: got.job.id, deleted: true };
    },
  );

  app.get('/workers', { config: { scope: 'read' }, schema: { hide: true } }, async (req, reply) => {
    const out = await call<{ encoders: EncoderView[] }>(req, reply, 'GET', '/api/v1/encoders');
    return out
      ? out.encoders.map((e) => ({
          id: e.id,
          name: e.name,
          kind: e.kind,
          status: e.status,
          activeJobs: e.activeJobs ?? 0,
          host: e.host,
          lastSeenAt: e.lastSeenAt,
        }))
      : reply;
  });
};

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { problem, sendProblem } from '../plugins/problem.js';

export interface HealthRouteOptions {
  /** Resolves when the database answers and migrations are applied; rejects (or returns a reason) otherwise. */
  checkReady: () => Promise<{ ok: boolean; checks: Record<string, boolean | string> }>;
  version: string;
}

/** `/health` (liveness: the process answers) and `/ready` (readiness: database reachable, migrations done). */
export const healthRoutes: FastifyPluginAsyncZod<HealthRouteOptions> = async (app, opts) => {
  app.get(
    '/health',
    {
      config: { scope: 'public' },
      schema: {
        operationId: 'health',
        summary: 'Liveness',
        tags: ['health'],
        response: { 200: z.object({ status: z.literal('ok'), version: z.string() }) },
      },
    },
    async () => ({ status: 'ok' as const, version: opts.version }),
  );
  app.get(
    '/ready',
    {
      config: { scope: 'public' },
      schema: {
        operationId: 'ready',
        summary: 'Readiness: database reachable and migrations applied',
        tags: ['health'],
        response: {
          200: z.object({
            status: z.literal('ready'),
            checks: z.record(z.string(), z.union([z.boolean(), z.string()])),
          }),
        },
      },
    },
    async (req, reply) => {
      let result: Awaited<ReturnType<HealthRouteOptions['checkReady']>>;
      try {
        result = await opts.checkReady();
      } catch (err) {
        req.log.warn({ err }, 'readiness check failed');
        result = { ok: false, checks: { database: false } };
      }
      if (!result.ok) {
        return sendProblem(reply, problem(503, 'not_ready', 'not ready', { checks: result.checks }));
      }
      return { status: 'ready' as const, checks: result.checks };
    },
  );
};

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { JobStore } from '../../jobs/index.js';
import { jobStatusSchema } from '../schemas.js';

export interface MonitorRouteOptions {
  store: JobStore;
}

const idParams = z.object({ id: z.string().min(1).max(64) });

/**
 * The Gateway Monitor API for encoders without database access: a job's lease state, the pre-claim
 * availability check and the ownership check (shapes of the job store's `isAvailableToClaim` and
 * `verifyOwnership`, after the 3Speak gateway monitor).
 */
export const monitorRoutes: FastifyPluginAsyncZod<MonitorRouteOptions> = async (app, { store }) => {
  app.get(
    '/monitor/jobs/:id',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'monitorJob',
        summary: "A job's status and lease holder",
        tags: ['monitor'],
        params: idParams,
        response: {
          200: z.object({
            id: z.string(),
            status: jobStatusSchema,
            stage: z.string().nullable(),
            progress: z.number(),
            attempts: z.number(),
            owner: z.string().nullable(),
            leaseExpiresAt: z.string().nullable(),
            updatedAt: z.string(),
          }),
        },
      },
    },
    async (req) => {
      const job = await store.get(req.params.id);
      return {
        id: job.id,
        status: job.status,
        stage: job.stage,
        progress: job.progress,
        attempts: job.attempts,
        owner: job.lease?.encoderId ?? null,
        leaseExpiresAt: job.lease ? job.lease.expiresAt.toISOString() : null,
        updatedAt: job.updatedAt.toISOString(),
      };
    },
  );

  app.get(
    '/monitor/jobs/:id/availability',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'monitorAvailability',
        summary: 'Pre-claim check: could this job be claimed now?',
        tags: ['monitor'],
        params: idParams,
        response: {
          200: z.object({
            available: z.boolean(),
            reason: z.string(),
            currentOwner: z.string().nullable(),
            status: jobStatusSchema.nullable(),
          }),
        },
      },
    },
    async (req) => store.isAvailableToClaim(req.params.id),
  );

  app.get(
    '/monitor/jobs/:id/ownership',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'monitorOwnership',
        summary: 'Ownership check: does this encoder hold a live lease on the job?',
        tags: ['monitor'],
        params: idParams,
        querystring: z.object({ encoder: z.string().min(1).max(128) }),
        response: {
          200: z.object({
            isOwned: z.boolean(),
            jobExists: z.boolean(),
            actualOwner: z.string().nullable(),
            status: jobStatusSchema.nullable(),
            isSafeToProcess: z.boolean(),
          }),
        },
      },
    },
    async (req) => store.verifyOwnership(req.params.id, req.query.encoder),
  );
};

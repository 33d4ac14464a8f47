import { join } from 'node:path';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { JobStore } from '../jobs/index.js';
import type { Logger } from '../log.js';
import { type Authenticator, registerAuth } from './plugins/auth.js';
import { registerProblemHandler } from './plugins/problem.js';
import { agentRoutes } from './routes/agent.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { mediaRoutes } from './routes/media.js';
import { monitorRoutes } from './routes/monitor.js';
import { uploadRoutes } from './routes/uploads.js';

/** Everything the HTTP layer needs, passed in (no globals, no I/O at import time). */
export interface AppDeps {
  store: JobStore;
  /** `<dataDir>`: `media/` and `uploads/` are served and written below it. */
  dataDir: string;
  /** Base URL clients reach this coordinator at (known once it listens); result and link URLs use it. */
  publicUrl: () => string;
  version: string;
  /** Authenticators tried in order (bootstrap key first; identity adds hashed keys and did:key). */
  authenticators: Authenticator[];
  checkReady: () => Promise<{ ok: boolean; checks: Record<string, boolean | string> }>;
  limits: { maxUploadBytes: number; maxJsonBodyBytes: number; claimMaxWaitMs: number; maxAttempts: number };
  corsOrigin: string;
  /** Pino logger for request logs; default: none (tests). */
  log?: Logger;
}

/**
 * Builds the coordinator's Fastify app without listening (tests call `app.inject()`; `listen()` is the
 * caller's). Routes: `/health`, `/ready`, `/openapi.json`, `/docs`, `/media/*`, and the REST API under
 * `/api/v1` behind the auth hook.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const base: FastifyInstance = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger | undefined,
    bodyLimit: deps.limits.maxJsonBodyBytes,
    // Long-poll claims and SSE streams outlive the default timeouts.
    requestTimeout: 0,
    return503OnClosing: true,
    // Long-polls and SSE streams would hold close() open: end every connection on shutdown.
    forceCloseConnections: true,
  });
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandler(base);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'vidmesh coordinator API',
        version: deps.version,
        description: 'Jobs, uploads, encoders and the encoder work API. Errors are RFC 9457 problem details.',
      },
      servers: [],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { config: { scope: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  await app.register(healthRoutes, { checkReady: deps.checkReady, version: deps.version });
  await app.register(mediaRoutes, { root: join(deps.dataDir, 'media'), corsOrigin: deps.corsOrigin });

  await app.register(
    async (api) => {
      registerAuth(api, { authenticators: deps.authenticators });
      const uploadsDir = join(deps.dataDir, 'uploads');
      const { store, publicUrl, limits } = deps;
      await api.register(uploadRoutes, { dir: uploadsDir, maxBytes: limits.maxUploadBytes });
      await api.register(jobRoutes, { store, publicUrl, uploadsDir, maxAttempts: limits.maxAttempts });
      await api.register(monitorRoutes, { store });
      // Own context: its catch-all content-type parser (streamed output PUTs) must not leak to other routes.
      await api.register(agentRoutes, {
        store,
        publicUrl,
        mediaRoot: join(deps.dataDir, 'media'),
        claimMaxWaitMs: limits.claimMaxWaitMs,
        maxUploadBytes: limits.maxUploadBytes,
      });
    },
    { prefix: '/api/v1' },
  );
  return base;
}

import { join } from 'node:path';
import fastifyCors from '@fastify/cors';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { SourceLimits } from '../encoder/source-limits.js';
import type { ApiKeyStore, NonceStore, SecretBox } from '../identity/index.js';
import type { JobStore, Queryable, WebhookQueue } from '../jobs/index.js';
import type { PresetStore } from '../jobs/presets.js';
import type { JobSpec } from '../jobs/spec.js';
import type { LiveService } from '../live/service.js';
import type { Logger } from '../log.js';
import type { HiveAccounts, Market, Withdrawals } from '../market/index.js';
import type { ChunkingDefaults } from '../media/index.js';
import type { LiveJobSpec } from '../protocol/live.js';
import type { SsrfPolicy, StorageContext } from '../storage/index.js';
import { createReputationStore, type VerificationPolicy } from '../trust/index.js';
import { startChunkStitcher } from './chunking.js';
import { RateLimitedError } from './errors.js';
import { type CoordinatorMetrics, registerMetricsRoute } from './metrics.js';
import { finishOpenApi } from './openapi.js';
import { type Authenticator, registerAuth, type SignedRequestAuthenticator } from './plugins/auth.js';
import { assertGrantCoversUpload } from './plugins/identity.js';
import { registerJsonOnly, registerTextGuard } from './plugins/input-guard.js';
import { registerProblemHandler } from './plugins/problem.js';
import { registerBodyTimeout } from './plugins/request-timeouts.js';
import { registerSecureHeaders } from './plugins/secure-headers.js';
import { createSessionManager, type SessionManager, type SessionRevocations } from './plugins/session.js';
import { registerTracing } from './plugins/tracing.js';
import { createUrlProber } from './quote-source.js';
import { createSourceRelay } from './relay.js';
import { agentRoutes } from './routes/agent.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { healthRoutes } from './routes/health.js';
import { ipfsRoutes } from './routes/ipfs.js';
import { jobRoutes } from './routes/jobs.js';
import { keyRoutes } from './routes/keys.js';
import { liveMediaRoutes, liveRoutes } from './routes/live.js';
import { logStreamRoutes } from './routes/logs.js';
import { marketOrderOpener, marketRoutes } from './routes/market.js';
import { mediaRoutes } from './routes/media.js';
import { monitorRoutes } from './routes/monitor.js';
import { presetRoutes } from './routes/presets.js';
import { sessionRoutes } from './routes/session.js';
import { uploadRoutes } from './routes/uploads.js';
import { userRoutes } from './routes/users.js';
import { webRoutes } from './routes/web.js';
import { webhookRoutes } from './routes/webhooks.js';
import { openSpecSecrets, sealSpecSecrets } from './spec-secrets.js';

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
  /** Secret dashboard session cookies are sealed with; default random per process (plugins/session.ts). */
  sessionSecret?: Uint8Array;
  /** Where ended dashboard sessions are kept; default this process's memory (plugins/session.ts). */
  sessionRevocations?: SessionRevocations;
  /** Folder of the built dashboard; default `<package>/web/dist`. */
  webRoot?: string;
  /** Hashed API keys: enables the `/api/v1/keys` admin routes (add its authenticator to `authenticators`). */
  keys?: ApiKeyStore;
  /** did:key signed requests (`Authorization: DIDJWS`), verified against the raw body. */
  signedAuth?: SignedRequestAuthenticator;
  /** Encoder registration policy of did:key encoders (default open). */
  registration?: { policy: 'open' | 'allowlist' | 'approval'; allowlist?: readonly string[] };
  /** Seals job-spec secrets at rest; opened only for the lease holder's claim. */
  secretBox?: SecretBox;
  /** Requests per window per principal (API key, DID) and per client IP for unauthenticated ones. */
  rateLimit?: { perKey: number; perIp: number; windowMs: number; authFailuresPerIp?: number };
  /** Origins allowed to call `/api/v1` from browsers (CORS); empty/absent: no CORS headers. */
  apiCorsOrigins?: readonly string[];
  /** Per-job source limits carried in claims (`VIDMESH_MAX_SOURCE_*`). */
  sourceLimits?: SourceLimits;
  /** Refuse job specs naming private/loopback addresses (`VIDMESH_ALLOW_PRIVATE_NETWORKS` off). */
  refusePrivateUrls?: boolean;
  /** Private hosts/ranges job specs may still name (`VIDMESH_SSRF_ALLOW`). */
  ssrfAllow?: SsrfPolicy;
  /** ms a JSON request body may take to arrive (default 30000; 408 `request_timeout`). */
  bodyTimeoutMs?: number;
  /** Served over TLS: adds `Strict-Transport-Security`. */
  hsts?: boolean;
  /** Passed to Fastify (`https: {cert, key}` for `vidmesh serve --tls-cert --tls-key`). */
  https?: { cert: Buffer; key: Buffer };
  /** Prometheus metrics: `GET /metrics` and HTTP request metrics (src/coordinator/metrics.ts). */
  metrics?: CoordinatorMetrics;
  /**
   * When set, `GET /metrics` takes `Authorization: Bearer <token>`; an operator (admin) API key is
   * accepted either way. `/metrics` is never public.
   */
  metricsToken?: string;
  /** Webhook subscriptions and the delivery log under `/api/v1/webhooks`. */
  webhooks?: { queue: WebhookQueue; ssrf?: SsrfPolicy };
  /** Per-tenant ladder presets (`/api/v1/presets`, `ladder: "preset:<name>"` at submit). */
  presets?: PresetStore;
  /**
   * The coordinator's storage context (publishing staged outputs of untrusted encoders, relaying
   * sources to them). Default: local storage under `dataDir`, uploads from `dataDir/uploads`, no
   * private network targets.
   */
  storage?: () => StorageContext;
  /**
   * Origin (`https://media.example.com`, no trailing slash) result URLs of `local` outputs point at
   * instead of the public URL (`VIDMESH_MEDIA_ORIGIN`): media on its own origin shares no cookies with
   * the dashboard.
   */
  mediaOrigin?: string;
  /** Live streams (issue 23, docs/live.md): the routes under `/api/v1/live` and the `/live/` files. */
  live?: { service: LiveService; db: Queryable; rtmpBase: () => string };
  /** The community marketplace (docs/marketplace.md): `/api/v1/community/*`, `/api/v1/wallet`, priced jobs. */
  market?: {
    market: Market;
    hive?: { accounts: HiveAccounts; account: string; nonces?: NonceStore };
    /** Withdrawals to users' Hive accounts (with the Hive rail); `onWithdrawal` asks for a payout pass. */
    withdrawals?: Withdrawals;
    onWithdrawal?: () => void;
  };
  /**
   * Chunked encoding (docs/chunking.md): long upload jobs are split at submit into chunk tasks and
   * stitched by this process; absent: no job is split.
   */
  chunking?: { db: Queryable; defaults?: ChunkingDefaults; leaseMs?: number; stitchIntervalMs?: number };
  /** Verification of untrusted encoders' staged results (src/trust); absent: published unverified. */
  verification?: {
    db: Queryable;
    policy: VerificationPolicy;
    spotSegments?: number;
    minSsim?: number;
  };
}

// The session manager of each built app, for first-run sign-in links (see signInLink).
const sessionManagers = new WeakMap<FastifyInstance, SessionManager>();

/**
 * A dashboard sign-in link for `apiKey` on an app from {@link buildApp}: `<baseUrl>/api/v1/session/link?
 * token=…`, single use, valid `ttlS` seconds (default 300), on this process only.
 */
export function signInLink(app: FastifyInstance, baseUrl: string, apiKey: string, ttlS?: number): string {
  const sessions = sessionManagers.get(app);
  if (!sessions) throw new Error('signInLink: not an app built by buildApp');
  const token = sessions.issueSignInToken(apiKey, ttlS);
  return `${baseUrl.replace(/\/+$/, '')}/api/v1/session/link?token=${token}`;
}

const routeTables = new WeakMap<FastifyInstance, Array<{ method: string; url: string }>>();

/**
 * Every route registered on an app built by {@link buildApp}, including those mounted later by
 * optional surfaces (Encoder v2 API, 3Speak gateway): `{method, url}` with Fastify's path syntax
 * (`:param`, `*`). HEAD twins of GET routes are left out. Empty for an app not built here.
 */
export function registeredRoutes(app: FastifyInstance): ReadonlyArray<{ method: string; url: string }> {
  return routeTables.get(app) ?? [];
}

/**
 * Builds the coordinator's Fastify app without listening (tests call `app.inject()`; `listen()` is the
 * caller's). Routes: `/health`, `/ready`, `/openapi.json`, `/docs`, `/media/*`, and the REST API under
 * `/api/v1` behind the auth hook.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const base: FastifyInstance = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.log as FastifyBaseLogger | undefined,
    bodyLimit: deps.limits.maxJsonBodyBytes,
    // Long-poll claims and SSE streams outlive the default timeouts.
    requestTimeout: 0,
    return503OnClosing: true,
    // Long-polls and SSE streams would hold close() open: end every connection on shutdown.
    forceCloseConnections: true,
  });
  const routeTable: Array<{ method: string; url: string }> = [];
  routeTables.set(base, routeTable);
  // Kept so the hostile-input sweep reaches routes that are in no OpenAPI document.
  base.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      if (method !== 'HEAD') routeTable.push({ method, url: route.url });
  });
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandler(base);
  registerSecureHeaders(base, { hsts: deps.hsts === true });
  registerBodyTimeout(base, { bodyTimeoutMs: deps.bodyTimeoutMs ?? 30_000 });
  registerTextGuard(base);
  // Before any route plugin: the HTTP metrics and tracing hooks must reach every route.
  registerTracing(base);
  if (deps.metrics) {
    const operatorKeys = deps.authenticators;
    registerMetricsRoute(base, deps.metrics, {
      token: deps.metricsToken,
      // Without a scrape token, only the operator's keys read fleet-wide metrics.
      authorize: async (req) => {
        for (const auth of operatorKeys) {
          const p = await Promise.resolve(auth(req)).catch(() => undefined);
          if (p) return p.tenant === undefined && p.scopes.includes('admin');
        }
        return false;
      },
    });
  }

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
    // Error answers, a named wildcard parameter, servers and licence (src/coordinator/openapi.ts).
    transformObject: (d) =>
      finishOpenApi(('openapiObject' in d ? d.openapiObject : d.swaggerObject) as never, { license: 'MIT' }),
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiHooks: {
      // @fastify/swagger-ui redirects `/docs/static/index.html` to `req.url` with the suffix cut by a
      // `$`-anchored regex: with a query string the URL is unchanged, an endless redirect to itself.
      onRequest: async (req, reply) => {
        if (/^\/docs\/static\/index\.html\?/.test(req.url)) return reply.redirect('/docs/');
      },
    },
  });
  app.get('/openapi.json', { config: { scope: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  await app.register(healthRoutes, { checkReady: deps.checkReady, version: deps.version });
  await app.register(mediaRoutes, { root: join(deps.dataDir, 'media'), corsOrigin: deps.corsOrigin });
  await app.register(ipfsRoutes, { blockstoreDir: join(deps.dataDir, 'ipfs'), corsOrigin: deps.corsOrigin });
  // ---- live (issue 23) ----
  if (deps.live)
    await app.register(liveMediaRoutes, { root: deps.live.service.root, corsOrigin: deps.corsOrigin });

  // Dashboard sessions: an httpOnly cookie that stands for an API key, checked after every key scheme.
  const sessions = createSessionManager({
    keyAuthenticators: deps.authenticators,
    secret: deps.sessionSecret,
    ...(deps.sessionRevocations ? { revocations: deps.sessionRevocations } : {}),
  });
  sessionManagers.set(base, sessions);
  await app.register(
    async (api) => {
      if (deps.apiCorsOrigins?.length) {
        await api.register(fastifyCors, {
          origin: [...deps.apiCorsOrigins],
          methods: ['GET', 'POST', 'PUT', 'DELETE'],
          allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-api-key'],
          maxAge: 600,
        });
      }
      registerJsonOnly(api);
      registerAuth(api, {
        authenticators: [...deps.authenticators, sessions.authenticator],
        ...(deps.signedAuth ? { signed: deps.signedAuth } : {}),
        ...(deps.rateLimit
          ? {
              failureLimit: {
                perIp: deps.rateLimit.authFailuresPerIp ?? 30,
                windowMs: deps.rateLimit.windowMs,
              },
            }
          : {}),
      });
      if (deps.rateLimit) {
        const rl = deps.rateLimit;
        await api.register(fastifyRateLimit, {
          // After auth: the principal is known, so a key's budget follows the key across addresses.
          hook: 'preHandler',
          timeWindow: rl.windowMs,
          keyGenerator: (req) => (req.principal ? `p:${req.principal.id}` : `ip:${req.ip}`),
          // The encoder work API (claim, progress, output PUTs, source downloads) is authenticated and
          // fenced by leases; its volume follows the work leased (one PUT per segment), not the user. A
          // fleet sharing one encoder key would otherwise exhaust the key's budget and fail its jobs.
          allowList: (req) => req.principal !== undefined && req.routeOptions.config?.scope === 'encoder',
          max: (_req, key) => (key.startsWith('p:') ? rl.perKey : rl.perIp),
          errorResponseBuilder: (_req, ctx) =>
            new RateLimitedError(`rate limit exceeded: retry in ${Math.ceil(ctx.ttl / 1000)} s`, {
              details: { retryAfterS: Math.ceil(ctx.ttl / 1000) },
            }),
        });
      }
      await api.register(sessionRoutes, { sessions });
      const uploadsDir = join(deps.dataDir, 'uploads');
      const { store, publicUrl, limits } = deps;
      // Published media may live on its own origin (VIDMESH_MEDIA_ORIGIN): no cookies shared with the dashboard.
      const mediaBase = () => `${deps.mediaOrigin ?? publicUrl()}/media`;
      await api.register(uploadRoutes, {
        dir: uploadsDir,
        maxBytes: limits.maxUploadBytes,
        checkGrant: (principal, uploadId, leaseToken) =>
          assertGrantCoversUpload(store, principal, uploadId, leaseToken),
      });
      const box = deps.secretBox;
      await api.register(jobRoutes, {
        store,
        ...(deps.presets ? { presets: deps.presets } : {}),
        publicUrl,
        mediaBase,
        uploadsDir,
        maxAttempts: limits.maxAttempts,
        refusePrivateUrls: deps.refusePrivateUrls === true,
        ...(deps.ssrfAllow ? { ssrfAllow: deps.ssrfAllow } : {}),
        ...(box ? { sealSpec: (spec: JobSpec) => sealSpecSecrets(box, spec) } : {}),
        ...(deps.chunking
          ? { chunking: { ...deps.chunking, uploadsDir, ...(deps.log ? { log: deps.log } : {}) } }
          : {}),
        // Paid work is paid only after verification: without it (VIDMESH_VERIFY=off) priced jobs are refused.
        ...(deps.market && deps.verification
          ? { openMarketOrder: marketOrderOpener(deps.market.market, uploadsDir) }
          : {}),
      });
      if (deps.market) {
        await api.register(marketRoutes, {
          store,
          ...deps.market,
          sessions,
          publicUrl,
          urlQuotes: {
            // `storage` is defined below; the prober reads it per request.
            probe: createUrlProber({
              storage: () => storage(),
              workDir: join(deps.dataDir, 'quotes'),
              maxBytes: limits.maxUploadBytes,
            }),
            refusePrivateUrls: deps.refusePrivateUrls === true,
            ...(deps.ssrfAllow ? { ssrfAllow: deps.ssrfAllow } : {}),
          },
        });
      }
      // One reputation store for the routes that read or reset it (verified encoders only).
      const reputation = deps.verification ? createReputationStore(deps.verification.db) : undefined;
      if (deps.keys) {
        await api.register(keyRoutes, { keys: deps.keys, store, ...(reputation ? { reputation } : {}) });
      }
      await api.register(monitorRoutes, { store });
      await api.register(logStreamRoutes, { store });
      if (deps.presets) await api.register(presetRoutes, { presets: deps.presets });
      await api.register(userRoutes, { store });
      if (deps.webhooks) {
        await api.register(webhookRoutes, {
          queue: deps.webhooks.queue,
          ...(deps.webhooks.ssrf ? { ssrf: deps.webhooks.ssrf } : {}),
          ...(box ? { secretBox: box } : {}),
        });
      }
      await api.register(dashboardRoutes, {
        store,
        publicUrl,
        mediaBase,
        ...(reputation ? { reputation: () => reputation.all() } : {}),
      });
      const storage =
        deps.storage ??
        ((): StorageContext => ({
          localRoot: join(deps.dataDir, 'media'),
          uploads: { kind: 'dir', dir: uploadsDir },
          fileRoots: [],
          ssrf: deps.ssrfAllow ?? {},
          ipfs: { blockstoreDir: join(deps.dataDir, 'ipfs') },
          ...(deps.log ? { log: deps.log } : {}),
        }));
      if (deps.chunking) {
        const stitcher = startChunkStitcher({
          ...deps.chunking,
          uploadsDir,
          store,
          workRoot: join(deps.dataDir, 'stitch'),
          storage,
          ...(deps.chunking.stitchIntervalMs ? { intervalMs: deps.chunking.stitchIntervalMs } : {}),
          ...(box ? { openSpec: (spec: unknown) => openSpecSecrets(box, spec) } : {}),
          ...(deps.log ? { log: deps.log } : {}),
        });
        base.addHook('onClose', () => stitcher.stop());
      }
      // Own context: its catch-all content-type parser (streamed output PUTs) must not leak to other routes.
      await api.register(agentRoutes, {
        store,
        publicUrl,
        mediaBase,
        mediaRoot: join(deps.dataDir, 'media'),
        stagingRoot: join(deps.dataDir, 'staging'),
        uploadsDir,
        storage,
        ...(deps.verification ? { verification: deps.verification } : {}),
        relay: createSourceRelay({
          dir: join(deps.dataDir, 'relay'),
          storage,
          ...(deps.log ? { log: deps.log } : {}),
        }),
        claimMaxWaitMs: limits.claimMaxWaitMs,
        maxUploadBytes: limits.maxUploadBytes,
        ...(deps.registration ? { registration: deps.registration } : {}),
        ...(deps.sourceLimits ? { sourceLimits: deps.sourceLimits } : {}),
        ...(box ? { openSpec: (spec: unknown) => openSpecSecrets(box, spec) } : {}),
      });
      // ---- live (issue 23): own context, its catch-all content-type parser takes segment bodies ----
      if (deps.live) {
        await api.register(liveRoutes, {
          store,
          db: deps.live.db,
          live: deps.live.service,
          publicUrl,
          mediaBase,
          rtmpBase: deps.live.rtmpBase,
          maxSegmentBytes: Math.min(limits.maxUploadBytes, 64 * 1024 * 1024),
          stagingRoot: join(deps.dataDir, 'staging'),
          storage,
          ...(box
            ? {
                sealSpec: (spec: LiveJobSpec) => sealSpecSecrets(box, spec),
                openSpec: (spec: unknown) => openSpecSecrets(box, spec),
              }
            : {}),
        });
      }
    },
    { prefix: '/api/v1' },
  );
  await app.register(webRoutes, { root: deps.webRoot });
  return base;
}

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/coordinator/app.js';
import { createCoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { staticKeyAuthenticator } from '../../src/coordinator/plugins/auth.js';
import {
  apiKeyAuthenticator,
  didRequestAuthenticator,
  uploadGrantAuthenticator,
} from '../../src/coordinator/plugins/identity.js';
import {
  type ApiKeyStore,
  createSecretBox,
  createSqlApiKeyStore,
  createSqlNonceStore,
  type NonceStore,
  type SecretBox,
} from '../../src/identity/index.js';
import { createJobStore, createWebhookQueue, type Database, type JobStore } from '../../src/jobs/index.js';
import { createMarket } from '../../src/market/index.js';
import { DEFAULT_VERIFICATION_POLICY } from '../../src/trust/index.js';

export const ADMIN = `vmk_admin_${randomBytes(24).toString('base64url')}`;
export const CAPS = { codecs: ['h264'], hwaccel: ['libx264'], maxHeight: 2160, concurrency: 1, tags: [] };

export interface SecurityApp {
  app: FastifyInstance;
  /** `http://127.0.0.1:<port>` (listening on port 0). */
  url: string;
  store: JobStore;
  keys: ApiKeyStore;
  nonces: NonceStore;
  box: SecretBox;
  dir: string;
  close(): Promise<void>;
}

/**
 * The coordinator app as `vidmesh serve` wires it (bootstrap key, hashed keys, did:key requests,
 * upload grants, secret box, SSRF literal guard), on a real database, listening on a free port.
 */
export async function startSecurityApp(
  db: Database,
  options: {
    registration?: { policy: 'open' | 'allowlist' | 'approval'; allowlist?: string[] };
    rateLimit?: { perKey: number; perIp: number; windowMs: number; authFailuresPerIp?: number };
    maxJsonBodyBytes?: number;
    /** Serve `/metrics` (with this scrape token when given) and the webhook subscription routes. */
    metrics?: { token?: string };
    webhooks?: boolean;
    /** `VIDMESH_MEDIA_ORIGIN`: result URLs of local outputs on another origin. */
    mediaOrigin?: string;
    /** Verification of untrusted results with the default policy (reputation, minScore). */
    verification?: boolean;
  } = {},
): Promise<SecurityApp> {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-sec-'));
  const store = createJobStore(db, { leaseMs: 30_000 });
  const keys = createSqlApiKeyStore(db);
  const nonces = createSqlNonceStore(db);
  const box = createSecretBox(randomBytes(32));
  let url = '';
  const app = await buildApp({
    store,
    dataDir: dir,
    publicUrl: () => url,
    version: '0.0.0-test',
    authenticators: [
      staticKeyAuthenticator(ADMIN, { id: 'api_key:bootstrap', scopes: ['admin'] }),
      apiKeyAuthenticator(keys),
      uploadGrantAuthenticator(),
    ],
    keys,
    signedAuth: didRequestAuthenticator({ nonceStore: nonces }),
    ...(options.registration ? { registration: options.registration } : {}),
    secretBox: box,
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
    ...(options.metrics
      ? {
          metrics: createCoordinatorMetrics({
            store,
            webhooks: createWebhookQueue(db),
            processMetrics: false,
          }),
          ...(options.metrics.token ? { metricsToken: options.metrics.token } : {}),
        }
      : {}),
    ...(options.webhooks ? { webhooks: { queue: createWebhookQueue(db) } } : {}),
    // The marketplace routes are always there, so the hostile sweep reaches them too.
    market: { market: createMarket({ db, jobs: store }) },
    ...(options.mediaOrigin ? { mediaOrigin: options.mediaOrigin } : {}),
    ...(options.verification ? { verification: { db, policy: DEFAULT_VERIFICATION_POLICY } } : {}),
    refusePrivateUrls: true,
    bodyTimeoutMs: 1000,
    checkReady: async () => ({ ok: true, checks: { database: true } }),
    limits: {
      maxUploadBytes: 1 << 20,
      maxJsonBodyBytes: options.maxJsonBodyBytes ?? 64 * 1024,
      claimMaxWaitMs: 1000,
      maxAttempts: 3,
    },
    corsOrigin: '*',
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    app,
    url,
    store,
    keys,
    nonces,
    box,
    dir,
    async close() {
      await app.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An answer as tests read it: the body is parsed JSON, checked field by field by each test. */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of many shapes; assertions check each field
  body: any;
  text: string;
}

/** A JSON request over real HTTP; resolves status, headers and the parsed body (or text). */
export async function http(
  base: string,
  method: string,
  path: string,
  options: { body?: string | Buffer; json?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
  const headers: Record<string, string> = {
    ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(options.headers ?? {}),
  };
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** `Authorization: Bearer <key>` headers. */
export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

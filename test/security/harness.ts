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

/** Hostile path parameters: traversal, NUL, a lone surrogate (UTF-8 encoded), SQL, a huge segment. */
export const PARAMS = [
  '../../etc/passwd',
  '%00',
  '%ED%A0%80', // a lone surrogate, UTF-8 encoded
  "x'; DROP TABLE jobs;--",
  'a'.repeat(3000),
];

/** Hostile request bodies, each with its content type (`no body`: none). */
export const BODIES: Array<{ name: string; body?: string; type?: string }> = [
  { name: 'empty object', body: '{}', type: 'application/json' },
  { name: 'array', body: '[1,2,3]', type: 'application/json' },
  { name: 'null', body: 'null', type: 'application/json' },
  { name: 'string', body: '"x"', type: 'application/json' },
  {
    name: 'lone surrogates',
    body: '{"\\ud800":"\\udfff","source":{"type":"http","url":"https://e.com/\\ud800"}}',
    type: 'application/json',
  },
  { name: 'NUL', body: '{"name":"a\\u0000b","url":"https://e.com/\\u0000"}', type: 'application/json' },
  {
    name: 'valid job, lone surrogate in metadata',
    body: '{"source":{"type":"http","url":"https://example.com/a.mp4"},"metadata":{"t":"\\ud800"}}',
    type: 'application/json',
  },
  {
    name: 'unresolvable host',
    body: '{"url":"https://no-such-host.invalid/hook"}',
    type: 'application/json',
  },
  { name: 'broken JSON', body: '{"a":', type: 'application/json' },
  { name: 'deep nesting', body: `${'['.repeat(2000)}${']'.repeat(2000)}`, type: 'application/json' },
  {
    name: 'wrong types',
    body: '{"encoderId":1,"jobId":[],"leaseToken":{},"scopes":"admin","url":5}',
    type: 'application/json',
  },
  { name: 'text/plain', body: 'hello', type: 'text/plain' },
  { name: 'form', body: 'a=1&b=2', type: 'application/x-www-form-urlencoded' },
  { name: 'html as media', body: '<html><script>alert(1)</script></html>', type: 'video/mp4' },
  { name: 'no body' },
];

/**
 * Sends every operation (`{method, path}` with `{param}` or `:param` placeholders, `*` wildcards) each
 * fill of its parameters × each hostile body (GETs: none), as each principal; `fills` (real ids, kept
 * verbatim) are also sent as each of `fillPrincipals`, the other {@link PARAMS} percent-encoded.
 * Resolves the 5xx answers and the requests with no answer in 10 s, and how many were sent.
 */
export async function sweepRoutes(
  base: string,
  ops: ReadonlyArray<{ method: string; path: string }>,
  options: { fills: string[]; principals: string[]; fillPrincipals?: string[] },
): Promise<{ failures: string[]; sent: number }> {
  const failures: string[] = [];
  let sent = 0;
  const send = async (method: string, path: string, auth: string, b: (typeof BODIES)[number]) => {
    sent++;
    const hasBody = method !== 'GET' && b.body !== undefined;
    try {
      const res = await fetch(base + path, {
        method,
        headers: { ...bearer(auth), ...(hasBody && b.type ? { 'content-type': b.type } : {}) },
        ...(hasBody ? { body: b.body } : {}),
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      if (res.status >= 500) failures.push(`${res.status} ${method} ${path.slice(0, 120)} [${b.name}]`);
    } catch (err) {
      failures.push(`no answer ${method} ${path.slice(0, 120)} [${b.name}]: ${(err as Error).message}`);
    }
  };
  for (const op of ops) {
    for (const fill of [...options.fills, ...PARAMS]) {
      const verbatim = options.fills.includes(fill);
      const value = verbatim ? fill : encodeURIComponent(fill).replace(/%25/g, '%');
      const path = op.path.replace(/\{[^}]+\}|:[A-Za-z_][A-Za-z0-9_]*|\*/g, value);
      const bodies = op.method === 'GET' ? [BODIES[BODIES.length - 1]!] : BODIES;
      for (const b of bodies) {
        for (const p of options.principals) await send(op.method, path, p, b);
        if (verbatim) for (const p of options.fillPrincipals ?? []) await send(op.method, path, p, b);
      }
    }
  }
  return { failures, sent };
}

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Config, clientConfigPath, readClientFile, storageContextFor } from '../config.js';
import { createDbTransport, type EncoderNode, startEncoderNode } from '../encoder/index.js';
import {
  createDatabase,
  createJobStore,
  type Database,
  type JobStore,
  type Maintenance,
  startMaintenance,
} from '../jobs/index.js';
import type { Logger } from '../log.js';
import { packageRoot } from '../paths.js';
import { buildApp } from './app.js';
import { staticKeyAuthenticator } from './plugins/auth.js';

/** A running coordinator (`vidmesh serve`): its URL, bootstrap key, parts, and a stop function. */
export interface RunningCoordinator {
  /** Base URL it answers at (public URL when configured). */
  readonly url: string;
  /** The bootstrap admin key (from `VIDMESH_API_KEY`, `client.json`, or generated). */
  readonly apiKey: string;
  readonly app: FastifyInstance;
  readonly db: Database;
  readonly store: JobStore;
  readonly encoders: readonly EncoderNode[];
  /**
   * Graceful shutdown: in-process encoders stop (unstarted jobs released, running encodes get
   * `graceMs`, default 10 s, then released), the server closes, maintenance stops, the database closes.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export async function packageVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
    .version;
}

/**
 * Starts a coordinator from a parsed config: database (PostgreSQL at `databaseUrl`, else PGlite in
 * `<dataDir>/db`) with migrations, the maintenance loop (lease rescue, leader-only), the HTTP server on
 * `host:port`, `client.json` (mode 0600) for local CLI clients, and `config.encoders` in-process
 * encoders on the direct job-store transport.
 */
export async function startCoordinator(
  config: Config,
  options: { log?: Logger } = {},
): Promise<RunningCoordinator> {
  const log = options.log;
  const version = await packageVersion();
  await mkdir(join(config.dataDir, 'media'), { recursive: true, mode: 0o700 });
  await mkdir(join(config.dataDir, 'uploads'), { recursive: true, mode: 0o700 });

  const db = await createDatabase(
    config.databaseUrl ? { url: config.databaseUrl, log } : { dataDir: join(config.dataDir, 'db'), log },
  );
  const store = createJobStore(db, { leaseMs: config.leaseMs, maxAttempts: config.maxAttempts, log });
  let maintenance: Maintenance | undefined;
  let app: FastifyInstance | undefined;
  const encoders: EncoderNode[] = [];
  try {
    maintenance = startMaintenance(db, store, {
      intervalMs: config.maintenanceIntervalMs,
      encoderOfflineAfterMs: Math.max(3 * config.heartbeatMs, 30_000),
      log,
    });
    const saved = readClientFile(config.dataDir);
    const apiKey = config.apiKey ?? saved?.apiKey ?? `vmk_admin_${randomBytes(32).toString('base64url')}`;
    let publicUrl = config.publicUrl ?? '';
    app = await buildApp({
      store,
      dataDir: config.dataDir,
      publicUrl: () => publicUrl,
      version,
      authenticators: [staticKeyAuthenticator(apiKey, { id: 'api_key:bootstrap', scopes: ['admin'] })],
      checkReady: async () => {
        await db.query('SELECT 1 FROM jobs LIMIT 1');
        return { ok: true, checks: { database: true, migrations: true } };
      },
      limits: {
        maxUploadBytes: config.maxUploadBytes,
        maxJsonBodyBytes: config.maxJsonBodyBytes,
        claimMaxWaitMs: config.claimMaxWaitMs,
        maxAttempts: config.maxAttempts,
      },
      corsOrigin: config.corsOrigin,
      log,
    });
    await app.listen({ port: config.port, host: config.host });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    if (!publicUrl) publicUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    await writeFile(
      clientConfigPath(config.dataDir),
      JSON.stringify({ url: publicUrl, apiKey }, null, 2) + '\n',
      {
        mode: 0o600,
      },
    );

    const storage = storageContextFor(config, { publicUrl, log });
    for (let i = 1; i <= config.encoders; i++) {
      encoders.push(
        startEncoderNode({
          transport: createDbTransport(store),
          dataDir: config.dataDir,
          storage,
          name: `${hostname()}-serve-${i}`,
          kind: 'infrastructure',
          version,
          concurrency: config.encoderConcurrency,
          hwaccel: config.hwaccel,
          log: log?.child({ encoder: i }),
          progressIntervalMs: Math.min(config.heartbeatMs, 3000),
          heartbeatIntervalMs: config.heartbeatMs,
        }),
      );
    }
    const running = app;
    const m = maintenance;
    let stopping: Promise<void> | undefined;
    return {
      url: publicUrl,
      apiKey,
      app: running,
      db,
      store,
      encoders,
      stop: (o = {}) => {
        stopping ??= (async () => {
          await Promise.allSettled(
            encoders.map((e) => e.stop({ graceful: true, graceMs: o.graceMs ?? 10_000 })),
          );
          await running.close();
          await m.stop();
          await store.close();
          await db.close();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await Promise.allSettled(encoders.map((e) => e.stop({ graceful: false })));
    await app?.close().catch(() => {});
    await maintenance?.stop().catch(() => {});
    await store.close().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
}

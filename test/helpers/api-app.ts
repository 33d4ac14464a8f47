import type { FastifyInstance } from 'fastify';
import { type AppDeps, buildApp } from '../../src/coordinator/app.js';
import { createJobStore, type Database } from '../../src/jobs/index.js';

/**
 * A coordinator app for `inject()` API tests on a real job store: test limits (1 MiB bodies, 2 s
 * claim waits, 3 attempts), `http://coord.test` as public URL, ready to use. `extra` adds or
 * overrides dependencies (authenticators, presets, …).
 */
export async function buildTestApp(
  db: Database,
  dataDir: string,
  extra: Partial<AppDeps> & Pick<AppDeps, 'authenticators'>,
): Promise<FastifyInstance> {
  const app = await buildApp({
    store: createJobStore(db, { leaseMs: 30_000 }),
    dataDir,
    publicUrl: () => 'http://coord.test',
    version: '0.0.0-test',
    checkReady: async () => ({ ok: true, checks: { database: true } }),
    limits: { maxUploadBytes: 1 << 20, maxJsonBodyBytes: 1 << 20, claimMaxWaitMs: 2000, maxAttempts: 3 },
    corsOrigin: '*',
    ...extra,
  });
  await app.ready();
  return app;
}

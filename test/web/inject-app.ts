import type { FastifyInstance } from 'fastify';
import { type AppDeps, buildApp } from '../../src/coordinator/app.js';
import { createDatabase, createJobStore, type Database, type JobStore } from '../../src/jobs/index.js';

/** The real app for `app.inject()` tests, with the in-memory PGlite store under it. */
export interface InjectableApp {
  app: FastifyInstance;
  store: JobStore;
  db: Database;
  /** Closes the app, then the store and the database. */
  close(): Promise<void>;
}

/**
 * Builds the coordinator app on a fresh in-memory PGlite store with small test limits, a public URL of
 * `http://127.0.0.1` and a ready check that always passes; `deps` adds or overrides the rest
 * (authenticators are required).
 */
export async function injectableApp(
  dataDir: string,
  deps: Pick<AppDeps, 'authenticators'> & Partial<Omit<AppDeps, 'store'>>,
): Promise<InjectableApp> {
  const db = await createDatabase({ dataDir: 'memory://' });
  const store = createJobStore(db);
  const app = await buildApp({
    store,
    dataDir,
    publicUrl: () => 'http://127.0.0.1',
    version: 'test',
    checkReady: async () => ({ ok: true, checks: {} }),
    limits: { maxUploadBytes: 1 << 20, maxJsonBodyBytes: 1 << 20, claimMaxWaitMs: 1000, maxAttempts: 1 },
    corsOrigin: '*',
    ...deps,
  });
  return {
    app,
    store,
    db,
    close: async () => {
      await app.close();
      await store.close();
      await db.close();
    },
  };
}

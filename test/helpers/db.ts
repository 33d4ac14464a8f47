import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import pg from 'pg';
import { createDatabase, type Database } from '../../src/jobs/index.js';

/** Admin URL of the test PostgreSQL server: `VIDMESH_TEST_DATABASE_URL`, default local trust auth. */
export function testDatabaseAdminUrl(): string {
  return process.env.VIDMESH_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export type TestDriver = 'postgres' | 'pglite';

/** A fresh database for one test file. `url` is undefined for PGlite (in-memory). */
export interface TestDatabase {
  driver: TestDriver;
  /** Connection URL of the fresh PostgreSQL database (for extra pools or child processes). */
  url: string | undefined;
  /** Unique database name (PostgreSQL) or `memory` (PGlite). */
  name: string;
  /** Opened and migrated. */
  db: Database;
  /** Opens another handle on the same database (PostgreSQL only: PGlite is one connection). */
  open(options?: { poolSize?: number; migrate?: boolean }): Promise<Database>;
  /** Closes every handle opened here and drops the database. */
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named database, migrated unless `migrate: false`: on PostgreSQL (`CREATE DATABASE vidmesh_test_<hex>` on
 * {@link testDatabaseAdminUrl}) or an in-memory PGlite. Call `drop()` when done.
 */
export async function createTestDatabase(
  options: { driver?: TestDriver; poolSize?: number; migrate?: boolean } = {},
): Promise<TestDatabase> {
  const driver = options.driver ?? 'postgres';
  if (driver === 'pglite') {
    const db = await createDatabase({ dataDir: 'memory://', migrate: options.migrate });
    return {
      driver,
      url: undefined,
      name: 'memory',
      db,
      open: async () => {
        throw new Error('PGlite is a single connection: share `db`');
      },
      drop: () => db.close(),
    };
  }
  const admin = testDatabaseAdminUrl();
  const name = `vidmesh_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(admin, (c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const url = u.toString();
  const handles: Database[] = [];
  const open = async (o: { poolSize?: number; migrate?: boolean } = {}) => {
    const h = await createDatabase({
      url,
      poolSize: o.poolSize ?? options.poolSize,
      migrate: o.migrate ?? options.migrate,
    });
    handles.push(h);
    return h;
  };
  const db = await open();
  return {
    driver,
    url,
    name,
    db,
    open,
    async drop() {
      await Promise.all(handles.map((h) => h.close().catch(() => {})));
      await withAdmin(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Registers `before`/`after` hooks in the current test file (or suite) that create and drop a test
 * database; read `.current` inside tests.
 */
export function withTestDatabase(
  options: { driver?: TestDriver; poolSize?: number; migrate?: boolean } = {},
): {
  readonly current: TestDatabase;
} {
  let current: TestDatabase | undefined;
  before(async () => {
    current = await createTestDatabase(options);
  });
  after(async () => {
    await current?.drop();
  });
  return {
    get current() {
      if (!current) throw new Error('test database not created yet (use it inside a test)');
      return current;
    },
  };
}

async function withAdmin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Logger } from '../log.js';
import { runMigrations } from './migrate.js';

/** Result of one statement: the rows (column names as in SQL) and the number of rows affected. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/**
 * Per-statement options. `name`: keep the statement prepared per connection under this name (only for
 * fixed hot statements: it skips parsing and planning on each call; node-postgres only, PGlite ignores it).
 */
export interface QueryOptions {
  name?: string;
}

/** Anything that runs one SQL statement with bound parameters (`$1`, `$2`, ...). */
export interface Queryable {
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>>;
}

/**
 * A connection held for a long time by one owner (advisory-lock leadership). `closed` turns true when
 * the server ends the session (e.g. `pg_terminate_backend`), after which every query fails.
 * On PGlite it is the single shared connection and never closes by itself.
 */
export interface DedicatedConnection extends Queryable {
  readonly closed: boolean;
  release(): Promise<void>;
}

/**
 * The tiny driver interface the job store runs on (pg-boss `IDatabase` style), implemented by
 * node-postgres (pool) and PGlite (one embedded connection). The same SQL runs on both.
 */
export interface Database extends Queryable {
  readonly driver: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Subscribes to a NOTIFY channel. `callback(payload)` per notification; `callback(null)` after the
   * listening connection was re-established, meaning notifications may have been missed (re-read state).
   * Resolves to an unsubscribe function.
   */
  listen(channel: string, callback: (payload: string | null) => void): Promise<() => Promise<void>>;
  /** `pg_notify(channel, payload)`; payload below 8000 bytes (PostgreSQL NOTIFY limit). */
  notify(channel: string, payload: string): Promise<void>;
  /** A connection outside the pool, for session-level advisory locks. */
  connect(): Promise<DedicatedConnection>;
  close(): Promise<void>;
}

export interface CreateDatabaseOptions {
  /** `postgres://…` URL: node-postgres pool. Without it: embedded PGlite. */
  url?: string;
  /** PGlite data directory (e.g. `./.vidmesh/db`), or `memory://` (the default) for an in-memory db. */
  dataDir?: string;
  /** node-postgres pool size (default 10). */
  poolSize?: number;
  /** Apply the migrations in `drizzle/` before returning (default true). */
  migrate?: boolean;
  log?: Logger;
}

/**
 * Opens the vidmesh database and (by default) brings its schema up to date.
 * @throws MigrationError when a migration fails; node-postgres connection errors as thrown by `pg`.
 */
export async function createDatabase(options: CreateDatabaseOptions = {}): Promise<Database> {
  const db = options.url
    ? createPostgresDatabase(options.url, options.poolSize ?? 10, options.log)
    : await createPgliteDatabase(options.dataDir ?? 'memory://');
  if (options.migrate !== false) {
    try {
      await runMigrations(db, { log: options.log });
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}

function createPostgresDatabase(url: string, poolSize: number, log?: Logger): Database {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client killed by the server emits here; without a handler the process would crash.
  pool.on('error', (err) => log?.warn({ err: err.message }, 'database: idle connection error'));
  // pg-pool listens for 'error' only while a client is idle. A checked-out client has a gap: pg-pool
  // hands a new client over from inside the parser loop that read its ReadyForQuery, so when the backend
  // was killed right after start-up the FATAL 57P01 in the same TCP chunk is emitted before any caller
  // can add a listener (seen in test/jobs/race.test.ts as an uncaught exception). So every client keeps
  // a listener for its whole life; the failed query still rejects, and the pool drops the client on
  // release because it is no longer queryable.
  pool.on('connect', (client) => {
    client.on('error', (err) => log?.warn({ err: err.message }, 'database: connection lost during use'));
  });

  /**
   * A prepared statement whose result columns changed under it (another process migrated the schema)
   * fails with 0A000 "cached plan must not change result type" on every later call on that connection:
   * drop the connection and run the statement once more, unprepared (nothing of the failed one committed).
   */
  const namedQuery = async (name: string, text: string, values: unknown[] | undefined) => {
    const client = await checkout();
    try {
      const res = await client.query({ name, text, values });
      client.done();
      return res;
    } catch (err) {
      const stale = (err as { code?: string }).code === '0A000';
      client.done(stale ? (err as Error) : undefined);
      if (!stale) throw err;
      return pool.query(text, values);
    }
  };

  /**
   * A pooled client held by this module; `done(err)` returns it (an error drops it). Killed backends
   * cannot crash the process: every pooled client has a lifelong 'error' listener (see 'connect' above).
   */
  const checkout = async () => {
    const client = await pool.connect();
    return Object.assign(client, {
      done(err?: Error) {
        client.release(err);
      },
    });
  };

  const channels = new Map<string, Set<(payload: string | null) => void>>();
  let listener: pg.Client | null = null;
  let connecting: Promise<void> | null = null;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | null = null;

  const dispatch = (channel: string, payload: string | null) => {
    for (const cb of channels.get(channel) ?? []) {
      try {
        cb(payload);
      } catch (err) {
        log?.error({ err, channel }, 'database: notification listener threw');
      }
    }
  };

  const connectListener = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    client.on('notification', (msg) => dispatch(msg.channel, msg.payload ?? ''));
    const lost = (err?: Error) => {
      if (listener !== client || closed) return;
      log?.warn({ err: err?.message }, 'database: listener connection lost, reconnecting');
      listener = null;
      client.end().catch(() => {});
      scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    await client.connect();
    for (const channel of channels.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
    listener = client;
  };

  const scheduleReconnect = () => {
    if (closed || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connectListener().then(
        () => {
          for (const channel of channels.keys()) dispatch(channel, null);
        },
        () => scheduleReconnect(),
      );
    }, 250);
    reconnectTimer.unref();
  };

  const ensureListener = async () => {
    if (listener) return;
    connecting ??= connectListener().finally(() => {
      connecting = null;
    });
    await connecting;
  };

  return {
    driver: 'postgres',
    async query<R>(text: string, params?: readonly unknown[], options?: QueryOptions) {
      const values = params as unknown[] | undefined;
      const res = options?.name
        ? await namedQuery(options.name, text, values)
        : await pool.query(text, values);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await checkout();
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          async query<R>(text: string, params?: readonly unknown[]) {
            const res = await client.query(text, params as unknown[] | undefined);
            return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
          },
        };
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          broken = rollbackErr;
        });
        throw err;
      } finally {
        client.done(broken instanceof Error ? broken : undefined);
      }
    },
    async listen(channel, callback) {
      let set = channels.get(channel);
      const isNew = !set;
      if (!set) {
        set = new Set();
        channels.set(channel, set);
      }
      set.add(callback);
      if (listener && isNew) await listener.query(`LISTEN ${quoteIdent(channel)}`);
      else await ensureListener();
      return async () => {
        set.delete(callback);
        if (set.size === 0 && channels.get(channel) === set) {
          channels.delete(channel);
          await listener?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
        }
      };
    },
    async notify(channel, payload) {
      await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async connect() {
      const client = new pg.Client({ connectionString: url });
      let isClosed = false;
      client.on('error', (err) => {
        isClosed = true;
        log?.warn({ err: err.message }, 'database: dedicated connection lost');
      });
      client.on('end', () => {
        isClosed = true;
      });
      await client.connect();
      return {
        get closed() {
          return isClosed;
        },
        async query<R>(text: string, params?: readonly unknown[]) {
          const res = await client.query(text, params as unknown[] | undefined);
          return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
        },
        async release() {
          isClosed = true;
          await client.end().catch(() => {});
        },
      };
    },
    async close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      channels.clear();
      await connecting?.catch(() => {});
      const l = listener;
      listener = null;
      await l?.end().catch(() => {});
      await pool.end();
    },
  };
}

async function createPgliteDatabase(dataDir: string): Promise<Database> {
  // PGlite creates the data directory itself but not its parents (`./.vidmesh/db` on a fresh checkout).
  if (!dataDir.includes('://')) await mkdir(dirname(resolve(dataDir)), { recursive: true });
  const pglite = await PGlite.create(dataDir);
  const wrap = (q: Pick<PGlite, 'query'>): Queryable => ({
    async query<R>(text: string, params?: readonly unknown[]) {
      const res = await q.query<R>(text, params as unknown[] | undefined);
      return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
    },
  });
  const base = wrap(pglite);
  return {
    driver: 'pglite',
    query: base.query,
    // PGlite's transaction() issues ROLLBACK when fn throws: one connection, so an aborted
    // transaction left open would fail every later query.
    transaction: (fn) => pglite.transaction((tx) => fn(wrap(tx))),
    async listen(channel, callback) {
      const unlisten = await pglite.listen(channel, (payload) => callback(payload));
      return async () => {
        if (!pglite.closed) await unlisten();
      };
    },
    async notify(channel, payload) {
      await pglite.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async connect() {
      // One embedded connection: the process is the only user, so "dedicated" means shared.
      return {
        get closed() {
          return pglite.closed;
        },
        query: base.query,
        async release() {},
      };
    },
    async close() {
      if (!pglite.closed) await pglite.close();
    },
  };
}

/** Quotes an SQL identifier (channel names come from code, but LISTEN cannot take a parameter). */
function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new RangeError(`invalid channel name: ${name}`);
  return `"${name}"`;
}

// Job store benchmark: claim+complete cycles per second with 1, 4 and 16 claimers (each on its own
// connection), against the field's anchors on the same PostgreSQL with the same backlog, in the same run:
// graphile-worker 0.16 (the last line for Node 20) and pg-boss 10 (each with an empty task handler, so
// only its queue work is measured). Then submit->claim latency for an idle long-polling claimer woken by
// NOTIFY, and PGlite.
// Run: npm run build && node dist/bench/queue.js   (PostgreSQL from VIDMESH_BENCH_DATABASE_URL or
// VIDMESH_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres; a scratch database
// is created and dropped). Options: --seconds N (per row, default 3), --latency-samples N (default 200).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  Logger as GraphileLogger,
  runMigrations as graphileMigrations,
  run as runGraphileWorker,
} from 'graphile-worker';
import pg from 'pg';
import PgBoss from 'pg-boss';
import {
  createDatabase,
  createJobStore,
  type Database,
  type EncoderCapabilities,
} from '../src/jobs/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    'latency-samples': { type: 'string', default: '200' },
  },
});
const SECONDS = Number(values.seconds);
const SAMPLES = Number(values['latency-samples']);
const ADMIN =
  process.env.VIDMESH_BENCH_DATABASE_URL ??
  process.env.VIDMESH_TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const CAPS: EncoderCapabilities = {
  codecs: ['h264'],
  hwaccel: [],
  maxHeight: 1080,
  concurrency: 1,
  tags: [],
};

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Bulk pre-fill (one statement; the submit path is not what this benchmark measures). */
async function fill(db: Database, count: number): Promise<void> {
  await db.query(
    `WITH j AS (
       INSERT INTO jobs (id, short_id, spec, weight, run_after, created_at, updated_at)
       SELECT gen_random_uuid()::text, 'b' || g || '-' || md5(random()::text), jsonb_build_object('n', g), 10,
         now() - interval '1 minute', now() - interval '1 minute' + g * interval '1 microsecond', now()
       FROM generate_series(1, $1::int) g
       RETURNING id)
     INSERT INTO renditions (job_id, name, position, updated_at)
     SELECT j.id, r.name, r.pos, now() FROM j, (VALUES ('720p', 1), ('480p', 2)) AS r(name, pos)`,
    [count],
  );
}

async function throughput(
  dbs: Database[],
  seconds: number,
): Promise<{ cycles: number; perSecond: number; empty: number }> {
  const stores = dbs.map((db) => createJobStore(db, { leaseMs: 30_000 }));
  let cycles = 0;
  let empty = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    stores.map(async (store, i) => {
      const id = `bench-${i}`;
      while (performance.now() < end) {
        const c = await store.claim({ id, kind: 'infrastructure' }, CAPS);
        if (!c) {
          empty++;
          continue;
        }
        await store.complete(c.job.id, c.leaseToken, id, { result: { ok: true } });
        cycles++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  return { cycles, perSecond: cycles / elapsed, empty };
}

/** A scratch database for one measurement; dropped by `drop`. */
async function scratch(label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const db = `vidmesh_bench_${label}_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${db}`);
  const u = new URL(ADMIN);
  u.pathname = `/${db}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`) };
}

/** Counts completions for `seconds` once `start` has begun working through a filled backlog. */
async function countFor(seconds: number, start: (done: () => void) => Promise<() => Promise<void>>) {
  let n = 0;
  const t0 = performance.now();
  const stop = await start(() => {
    n++;
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const counted = n;
  const elapsed = (performance.now() - t0) / 1000;
  await stop();
  return counted / elapsed;
}

/** graphile-worker 0.16: `run()` with `concurrency` workers over one pool, an empty task. */
async function graphileThroughput(concurrency: number, seconds: number): Promise<number> {
  const { url: connectionString, drop } = await scratch('gw');
  try {
    const pool = new pg.Pool({ connectionString, max: 2 });
    await graphileMigrations({ pgPool: pool, logger: new GraphileLogger(() => () => {}) });
    await pool.query(
      `SELECT graphile_worker.add_job('bench', json_build_object('n', g)) FROM generate_series(1, $1::int) g`,
      [Math.ceil(2000 + concurrency * 1500 * seconds)],
    );
    await pool.end();
    return await countFor(seconds, async (done) => {
      const workPool = new pg.Pool({ connectionString, max: concurrency + 2 });
      workPool.on('error', () => {});
      const runner = await runGraphileWorker({
        pgPool: workPool,
        concurrency,
        pollInterval: 1000,
        noHandleSignals: true,
        logger: new GraphileLogger(() => () => {}),
        crontab: '',
        taskList: { bench: async () => {} },
      });
      runner.events.on('job:success', done);
      return async () => {
        await runner.stop();
        await workPool.end();
      };
    });
  } finally {
    await drop();
  }
}

const PG_BOSS_BATCH = 20;

/** pg-boss 10: `concurrency` `work()` loops fetching {@link PG_BOSS_BATCH} jobs, an empty handler. */
async function pgBossThroughput(concurrency: number, seconds: number): Promise<number> {
  const { url: connectionString, drop } = await scratch('pgboss');
  try {
    const boss = new PgBoss({ connectionString, max: concurrency + 2, supervise: false, schedule: false });
    boss.on('error', () => {});
    await boss.start();
    await boss.createQueue('bench');
    const backlog = Math.ceil(2000 + concurrency * 1000 * seconds);
    for (let i = 0; i < backlog; i += 1000) {
      await boss.insert(
        Array.from({ length: Math.min(1000, backlog - i) }, (_, k) => ({
          name: 'bench',
          data: { n: i + k },
        })),
      );
    }
    return await countFor(seconds, async (done) => {
      for (let i = 0; i < concurrency; i++) {
        // pg-boss waits its polling interval after every fetch (src/worker.js), so it is run as its docs
        // advise for throughput: batches per fetch, completed together.
        await boss.work('bench', { batchSize: PG_BOSS_BATCH, pollingIntervalSeconds: 0.5 }, async (jobs) => {
          for (const _ of jobs) done();
        });
      }
      return () => boss.stop({ graceful: false, wait: true, timeout: 1000 });
    });
  } finally {
    await drop();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function latency(claimerDb: Database, submitDb: Database, samples: number): Promise<number[]> {
  const claimer = createJobStore(claimerDb, { pollIntervalMs: 5000 });
  const submitter = createJobStore(submitDb);
  const out: number[] = [];
  // Warm the LISTEN connection and the statement paths.
  await claimer.claim({ id: 'poller', kind: 'infrastructure' }, CAPS, { waitMs: 10 });
  for (let i = 0; i < samples; i++) {
    const pending = claimer.claim({ id: 'poller', kind: 'infrastructure' }, CAPS, { waitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 15)); // let the claimer go idle
    const t0 = performance.now();
    const job = await submitter.submit({ spec: { i }, renditions: ['720p'] });
    const c = await pending;
    if (c?.job.id !== job.id) throw new Error('latency: claimed an unexpected job');
    out.push(performance.now() - t0);
    await claimer.complete(c.job.id, c.leaseToken, 'poller', { result: null });
  }
  await claimer.close();
  return out.sort((a, b) => a - b);
}

const name = `vidmesh_bench_${randomBytes(4).toString('hex')}`;
await admin(`CREATE DATABASE ${name}`);
const url = new URL(ADMIN);
url.pathname = `/${name}`;
const rows: Array<[string, string]> = [];
try {
  const main = await createDatabase({ url: url.toString(), poolSize: 16 });
  for (const claimers of [1, 4, 16]) {
    const dbs = await Promise.all(
      Array.from({ length: claimers }, () =>
        createDatabase({ url: url.toString(), poolSize: 1, migrate: false }),
      ),
    );
    await main.query('TRUNCATE jobs CASCADE');
    await fill(main, Math.ceil(2000 + claimers * 400 * SECONDS));
    await main.query('VACUUM ANALYZE jobs');
    const r = await throughput(dbs, SECONDS);
    await Promise.all(dbs.map((d) => d.close()));
    const gw = await graphileThroughput(claimers, SECONDS);
    const boss = await pgBossThroughput(claimers, SECONDS);
    const label = `${claimers} claimer${claimers > 1 ? 's' : ''}`;
    rows.push([`claim+complete, ${label}: vidmesh`, `${r.perSecond.toFixed(0)} cycles/s`]);
    rows.push([
      `claim+complete, ${label}: graphile-worker 0.16`,
      `${gw.toFixed(0)} jobs/s (vidmesh ${(r.perSecond / gw).toFixed(2)}x)`,
    ]);
    rows.push([
      `claim+complete, ${label}: pg-boss 10 (batches of ${PG_BOSS_BATCH})`,
      `${boss.toFixed(0)} jobs/s (vidmesh ${(r.perSecond / boss).toFixed(2)}x)`,
    ]);
  }
  await main.query('TRUNCATE jobs CASCADE');
  const claimerDb = await createDatabase({ url: url.toString(), poolSize: 1, migrate: false });
  const lat = await latency(claimerDb, main, SAMPLES);
  rows.push(['submit->claim p50 (idle long-poller, NOTIFY)', `${percentile(lat, 50).toFixed(2)} ms`]);
  rows.push(['submit->claim p99', `${percentile(lat, 99).toFixed(2)} ms`]);
  await claimerDb.close();
  await main.close();

  const lite = await createDatabase({ dataDir: 'memory://' });
  await fill(lite, 2000);
  const lr = await throughput([lite], SECONDS);
  rows.push(['claim+complete, 1 claimer, PGlite (embedded)', `${lr.perSecond.toFixed(0)} cycles/s`]);
  await lite.close();
} finally {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

const width = Math.max(...rows.map(([k]) => k.length));
console.log(`vidmesh job store benchmark (${SECONDS} s per row, PostgreSQL ${new URL(ADMIN).host})`);
console.log(`${'measure'.padEnd(width)}  result`);
console.log(`${'-'.repeat(width)}  ${'-'.repeat(30)}`);
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);

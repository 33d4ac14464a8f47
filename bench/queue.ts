// Job store benchmark: claim+complete cycles per second with 1, 4 and 16 claimers (each on its own
// connection), and submit->claim latency for an idle long-polling claimer woken by NOTIFY.
// Run: npm run build && node dist/bench/queue.js   (PostgreSQL from VIDMESH_BENCH_DATABASE_URL or
// VIDMESH_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres; a scratch database
// is created and dropped). Options: --seconds N (per row, default 3), --latency-samples N (default 200).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
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
    rows.push([
      `claim+complete, ${claimers} claimer${claimers > 1 ? 's' : ''}`,
      `${r.perSecond.toFixed(0)} cycles/s`,
    ]);
    await Promise.all(dbs.map((d) => d.close()));
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
console.log(`${'-'.repeat(width)}  ${'-'.repeat(16)}`);
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);

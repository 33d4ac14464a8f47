// Escrow ledger benchmark (issue #15, docs/marketplace.md): movements per second of `ledger.post`
// (idempotency key, balance guard, entries) against a bare baseline measured in the same run on the
// same PostgreSQL: a transaction of two `UPDATE … SET balance = balance ± x` (double entry with no
// key, no guard, no entries). Each with 1 and 8 concurrent workers, on one hot payer (every movement
// locks the same account) and on one payer per worker.
// Run: npm run build && node dist/bench/market.js [--seconds 3]  (PostgreSQL from
// VIDMESH_BENCH_DATABASE_URL or VIDMESH_TEST_DATABASE_URL; a scratch database is created and dropped).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDatabase, type Database } from '../src/jobs/index.js';
import { createLedger, EXTERNAL_ACCOUNT, escrowAccount, userAccount } from '../src/market/ledger.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } });
const SECONDS = Number(values.seconds);
const ADMIN =
  process.env.VIDMESH_BENCH_DATABASE_URL ??
  process.env.VIDMESH_TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Runs `op(worker, i)` on `workers` loops for SECONDS; returns operations per second. */
async function rate(workers: number, op: (w: number, i: number) => Promise<void>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        await op(w, i);
        n++;
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

const name = `vidmesh_bench_${randomBytes(5).toString('hex')}`;
await admin(`CREATE DATABASE ${name}`);
const u = new URL(ADMIN);
u.pathname = `/${name}`;
let db: Database | undefined;
try {
  db = await createDatabase({ url: u.toString(), poolSize: 10 });
  const ledger = createLedger(db);
  const fund = async (payer: string) =>
    ledger.post({
      key: `fund:${payer}`,
      kind: 'deposit',
      legs: [
        { account: EXTERNAL_ACCOUNT, amount: -1_000_000_000 },
        { account: userAccount(payer), amount: 1_000_000_000 },
      ],
    });
  for (let w = 0; w < 8; w++) await fund(`p${w}`);
  // The baseline's own table: the same two row updates, outside the ledger.
  await db.query('CREATE TABLE bench_accounts (id text PRIMARY KEY, balance bigint NOT NULL)');
  await db.query("INSERT INTO bench_accounts SELECT 'p' || g, 1000000000 FROM generate_series(0, 7) g");
  await db.query("INSERT INTO bench_accounts VALUES ('hot', 1000000000)");
  await fund('hot');
  const run = `${Date.now()}`;
  const rows: Array<{ what: string; workers: number; payer: string; perS: number }> = [];
  for (const workers of [1, 8]) {
    for (const hot of [true, false]) {
      const payer = (w: number) => (hot ? 'hot' : `p${w}`);
      const base = await rate(workers, (w, i) =>
        db!.transaction(async (tx) => {
          await tx.query('UPDATE bench_accounts SET balance = balance - 1 WHERE id = $1', [payer(w)]);
          await tx.query(
            'INSERT INTO bench_accounts (id, balance) VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET balance = bench_accounts.balance + 1',
            [`b${run}-${workers}-${hot}-${w}-${i % 50}`],
          );
        }),
      );
      const posted = await rate(workers, (w, i) =>
        ledger
          .post({
            key: `hold:${run}-${workers}-${hot}-${w}-${i}`,
            kind: 'hold',
            legs: [
              { account: userAccount(payer(w)), amount: -1 },
              { account: escrowAccount(`l${run}-${workers}-${hot}-${w}-${i % 50}`), amount: 1 },
            ],
          })
          .then(() => undefined),
      );
      const label = hot ? 'one hot payer' : 'payer per worker';
      rows.push({ what: 'bare UPDATE pair (baseline)', workers, payer: label, perS: base });
      rows.push({ what: 'ledger.post (key, guard, entries)', workers, payer: label, perS: posted });
    }
  }
  const trial = await ledger.trialBalance();
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(
    `${pad('movement', 36)} ${pad('workers', 8)} ${pad('payer', 18)} ${'per s'.padStart(8)}  vs baseline`,
  );
  for (let i = 0; i < rows.length; i += 2) {
    const [b, l] = [rows[i]!, rows[i + 1]!];
    for (const r of [b, l]) {
      console.log(
        `${pad(r.what, 36)} ${pad(String(r.workers), 8)} ${pad(r.payer, 18)} ${r.perS.toFixed(0).padStart(8)}  ${(r.perS / b.perS).toFixed(2)}`,
      );
    }
  }
  console.log(`ledger trial balance after the run: ${JSON.stringify(trial)}`);
} finally {
  await db?.close();
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

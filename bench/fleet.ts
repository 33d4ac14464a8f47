// Fleet simulation (issue #20): N simulated community encoders (did:key identities, every request
// signed, no ffmpeg) against one `vidmesh serve` process on PostgreSQL. Each encoder registers, claims
// (an idle one asks again every 5 s), reports progress every 10 s while it holds a job, stages a
// one-file output and completes after a random 30–120 s, as the issue describes. Per fleet size it
// prints claim and progress latency (p50/p99, ms), /health latency (p99, ms, sampled every second),
// requests per second, and the coordinator's CPU and memory, all measured in the same run.
// The simulator runs on the same 2 cores as the coordinator, so the figures understate what a
// coordinator alone can carry.
//
// Run: npm run build && node dist/bench/fleet.js [--sizes 250,500,1000] [--seconds 45]
// PostgreSQL from VIDMESH_BENCH_DATABASE_URL or VIDMESH_TEST_DATABASE_URL (default local trust auth);
// a scratch database is created and dropped.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { generateIdentity, type Identity, signRequest, signUploadGrant } from '../src/identity/index.js';
import { packageRoot } from '../src/paths.js';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '250,500,1000' }, seconds: { type: 'string', default: '45' } },
});
const SIZES = values.sizes.split(',').map(Number);
const SECONDS = Number(values.seconds);
const ADMIN_DB =
  process.env.VIDMESH_BENCH_DATABASE_URL ??
  process.env.VIDMESH_TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const KEY = `vmk_bench_${randomBytes(16).toString('hex')}`;
const CAPS = { codecs: ['h264'], hwaccel: [], maxHeight: 1080, concurrency: 1, tags: [] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function adminSql(sql: string, url = ADMIN_DB): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** CPU seconds (user + system) and resident memory (MB) of a process, from /proc. */
async function usage(pid: number): Promise<{ cpuS: number; rssMb: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuS: (Number(stat[11]) + Number(stat[12])) / 100, rssMb: rss / 1024 };
}

const name = `vidmesh_bench_fleet_${randomBytes(4).toString('hex')}`;
const dbUrl = (() => {
  const u = new URL(ADMIN_DB);
  u.pathname = `/${name}`;
  return u.toString();
})();
const dataDir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-fleet-'));
await adminSql(`CREATE DATABASE ${name}`);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'serve'], {
  env: {
    ...process.env,
    PORT: String(port),
    DATABASE_URL: dbUrl,
    VIDMESH_DATA_DIR: dataDir,
    VIDMESH_ENCODERS: '0',
    VIDMESH_API_KEY: KEY,
    VIDMESH_VERIFY: 'off',
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});

interface Stats {
  claim: number[];
  progress: number[];
  health: number[];
  requests: number;
  errors: number;
}

/** One signed JSON POST; returns the status, the parsed body and the latency in ms. */
async function post(id: Identity, path: string, body: unknown, stats?: Stats) {
  const text = JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    ...(await signRequest(id, { method: 'POST', path, body: text })),
  };
  const t0 = performance.now();
  const res = await fetch(base + path, { method: 'POST', headers, body: text });
  const ms = performance.now() - t0;
  const json =
    res.status === 204 ? undefined : ((await res.json().catch(() => undefined)) as Record<string, unknown>);
  if (stats) {
    stats.requests++;
    if (res.status >= 400) stats.errors++;
  }
  return { status: res.status, json, ms };
}

/** One simulated encoder until `until`: claim, progress every 10 s, stage + complete after 30–120 s. */
async function encoder(id: Identity, encoderId: string, until: number, stats: Stats): Promise<void> {
  while (Date.now() < until) {
    const c = await post(id, '/api/v1/agent/claim', { encoderId, waitMs: 0 }, stats);
    stats.claim.push(c.ms);
    if (c.status !== 200 || !c.json) {
      await sleep(5000);
      continue;
    }
    const job = c.json.job as { id: string };
    const leaseToken = c.json.leaseToken as string;
    const doneAt = Date.now() + 30_000 + Math.random() * 90_000;
    let pct100 = 0;
    while (Date.now() < Math.min(doneAt, until)) {
      await sleep(10_000);
      pct100 = Math.min(99, pct100 + 10);
      const p = await post(
        id,
        '/api/v1/agent/progress',
        { encoderId, jobId: job.id, leaseToken, stage: 'encoding', progress: pct100, speed: 1.5 },
        stats,
      );
      stats.progress.push(p.ms);
    }
    if (Date.now() >= until) return;
    const grant = await signUploadGrant(id, { jobId: job.id, leaseToken });
    await fetch(`${base}/api/v1/agent/outputs/${job.id}/master.m3u8`, {
      method: 'PUT',
      headers: {
        authorization: grant,
        'x-lease-token': leaseToken,
        'content-type': 'application/vnd.apple.mpegurl',
      },
      body: '#EXTM3U\n',
    });
    await post(
      id,
      '/api/v1/agent/complete',
      {
        encoderId,
        jobId: job.id,
        leaseToken,
        result: {
          renditions: [{ name: '480p' }],
          masterUrl: 'master.m3u8',
          publish: {},
          encode: { backend: 'libx264', fallbacks: [], wallS: 60, speed: 1.5 },
          files: [],
        },
      },
      stats,
    );
  }
}

try {
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 300) throw new Error('the coordinator did not start');
    await sleep(200);
  }
  // Open-network jobs with a public source (no relay traffic), enough for every encoder.
  const total = Math.max(...SIZES) * 2;
  await adminSql(
    `WITH j AS (
       INSERT INTO jobs (id, short_id, spec, weight, run_after, created_at, updated_at, network)
       SELECT gen_random_uuid()::text, 'f' || g || '-' || md5(random()::text),
         '{"source":{"type":"http","url":"https://example.com/in.mp4"},"destination":{"type":"local"},"network":"community","priority":"medium","queue":"default"}'::jsonb,
         10, now(), now() + g * interval '1 microsecond', now(), 'community'
       FROM generate_series(1, ${total}) g RETURNING id)
     INSERT INTO renditions (job_id, name, position, updated_at) SELECT j.id, '480p', 1, now() FROM j`,
    dbUrl,
  );
  const rows: string[] = [];
  const fleet: Array<{ id: Identity; encoderId: string }> = [];
  for (const n of SIZES) {
    // Grow the fleet to n (registration is not in the measured window).
    while (fleet.length < n) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, n - fleet.length) }, async () => {
          const id = generateIdentity();
          const r = await post(id, '/api/v1/encoders/register', {
            name: `sim-${randomBytes(4).toString('hex')}`,
            kind: 'community',
            version: '0.0.0-bench',
            capabilities: CAPS,
          });
          const encoder = r.json?.encoder as { id: string } | undefined;
          if (!encoder) throw new Error(`registration refused: ${r.status}`);
          return { id, encoderId: encoder.id };
        }),
      );
      fleet.push(...batch);
    }
    const stats: Stats = { claim: [], progress: [], health: [], requests: 0, errors: 0 };
    const until = Date.now() + SECONDS * 1000;
    const u0 = await usage(child.pid!);
    const t0 = Date.now();
    const probe = (async () => {
      while (Date.now() < until) {
        const s = performance.now();
        await fetch(`${base}/health`).then((r) => r.arrayBuffer());
        stats.health.push(performance.now() - s);
        await sleep(1000);
      }
    })();
    // Spread the first claims over 5 s, as a fleet that did not start at one instant.
    await Promise.all([
      probe,
      ...fleet.map(async (e) => {
        await sleep(Math.random() * 5000);
        await encoder(e.id, e.encoderId, until, stats);
      }),
    ]);
    const wallS = (Date.now() - t0) / 1000;
    const u1 = await usage(child.pid!);
    const cpuPct = ((u1.cpuS - u0.cpuS) / wallS) * 100;
    rows.push(
      `| ${n} | ${(stats.requests / wallS).toFixed(0)} | ${pct(stats.claim, 50).toFixed(1)} / ${pct(stats.claim, 99).toFixed(1)} | ` +
        `${pct(stats.progress, 50).toFixed(1)} / ${pct(stats.progress, 99).toFixed(1)} | ${pct(stats.health, 99).toFixed(1)} | ` +
        `${stats.errors} | ${cpuPct.toFixed(0)} % | ${u1.rssMb.toFixed(0)} |`,
    );
  }
  console.log(
    `fleet simulation: ${SECONDS} s per size, signed did:key requests, one coordinator on PostgreSQL\n`,
  );
  console.log(
    '| encoders | req/s | claim p50 / p99 ms | progress p50 / p99 ms | /health p99 ms | errors | coordinator CPU (of one core) | RSS MB |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await adminSql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await rm(dataDir, { recursive: true, force: true });
}

// Helpers of the fault tests (PostgreSQL restart, network partition): a private PostgreSQL instance,
// a source/sink HTTP server that counts PUTs, tiny jobs, the exactly-once check and the child env
// (polling, ports and child cleanup are in test/helpers/processes.ts).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, until } from '../helpers/processes.js';

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A PostgreSQL 15 instance of its own (initdb in a temp dir, trust auth), for tests that restart it. */
export interface PrivatePostgres {
  url: string;
  port: number;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Why a private instance cannot run here, or null when it can: the Debian PostgreSQL 15 binaries and,
 * as root, the `postgres` user (initdb refuses to run as root) are needed.
 */
export function privatePostgresUnavailable(): string | null {
  if (!existsSync(join(PG_BIN, 'initdb'))) return `no PostgreSQL 15 binaries in ${PG_BIN}`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root without a postgres user for initdb';
    }
  }
  return null;
}

/** Runs a PostgreSQL binary, as the `postgres` user when this process is root. */
async function pgRun(bin: string, args: string[]): Promise<void> {
  const cmd = join(PG_BIN, bin);
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', cmd, ...args]);
  else await run(cmd, args);
}

/** initdb + start on a free port, listening on 127.0.0.1 only, sockets in its own dir. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  await chmod(dir, 0o700);
  await pgRun('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  const ctl = (...args: string[]) =>
    pgRun('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', ...args]);
  await ctl('start');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    restart: () => ctl('-m', 'fast', 'restart'),
    async stop() {
      await ctl('-m', 'immediate', 'stop').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * GET /clip.mp4 serves `clip`; every PUT is counted per path (`puts`: an output written twice shows)
 * and per client address (`putsFrom`: which machine published).
 */
export async function startSourceSink(
  clip: string,
  host = '127.0.0.1',
): Promise<{ server: Server; url: string; puts: Map<string, number>; putsFrom: Map<string, number> }> {
  const puts = new Map<string, number>();
  const putsFrom = new Map<string, number>();
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/clip.mp4') {
      void stat(clip).then((s) => {
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(s.size) });
        createReadStream(clip).pipe(res);
      });
      return;
    }
    if (req.method !== 'PUT') return void res.writeHead(405).end();
    req.resume();
    req.on('end', () => {
      const path = decodeURIComponent((req.url ?? '').split('?')[0] ?? '');
      puts.set(path, (puts.get(path) ?? 0) + 1);
      const from = req.socket.remoteAddress ?? '?';
      putsFrom.set(from, (putsFrom.get(from) ?? 0) + 1);
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}`, puts, putsFrom };
}

/** A small 240p ladder job to `sinkUrl/out/<i>/`, from `sinkUrl/clip.mp4` (x264 `speed` preset). */
export function tinyJob(
  sinkUrl: string,
  i: number,
  options: { maxAttempts?: number; speed?: 'ultrafast' | 'medium' | 'veryslow' } = {},
) {
  const maxAttempts = options.maxAttempts ?? 6;
  return {
    source: { type: 'http' as const, url: `${sinkUrl}/clip.mp4` },
    ladder: {
      ladder: [{ name: '240p', height: 240, videoBitrate: 300_000 }],
      speed: options.speed ?? 'ultrafast',
      segmentDuration: 2,
      poster: false,
      thumbnail: false,
    },
    destination: { type: 'http' as const, baseUrl: `${sinkUrl}/out/${i}/` },
    maxAttempts,
  };
}

/** The client calls the fault tests use to follow a batch. */
interface BatchClient {
  getJob(id: string): Promise<{ id: string; status: string; error?: unknown; finishedAt?: string | null }>;
  jobHistory(id: string): Promise<Array<{ to: string }>>;
}

/**
 * Waits until every job in `ids` is finished, then asserts each completed with exactly one
 * `completed` transition in its audit trail. Returns the final job views.
 */
export async function assertEveryJobCompletedOnce<C extends BatchClient>(
  client: C,
  ids: string[],
  timeoutMs = 240_000,
): Promise<Array<Awaited<ReturnType<C['getJob']>>>> {
  const final = await until('every job finished', timeoutMs, async () => {
    const all = (await Promise.all(ids.map((id) => client.getJob(id)))) as Array<
      Awaited<ReturnType<C['getJob']>>
    >;
    return all.every((j) => ['completed', 'dead', 'cancelled'].includes(j.status)) ? all : undefined;
  });
  for (const j of final) {
    const history = await client.jobHistory(j.id);
    assert.equal(j.status, 'completed', `${j.id}: ${JSON.stringify(j.error)}; ${JSON.stringify(history)}`);
    assert.equal(history.filter((e) => e.to === 'completed').length, 1, `${j.id} completed once`);
  }
  return final;
}

/**
 * The environment of a `vidmesh` child process in the fault tests: only PATH from this process, the
 * bootstrap key, private networks allowed (sources and sinks are local), a 1 s heartbeat, 0.5 s
 * maintenance, JSON logs, `leaseMs` leases, then `extra`.
 */
export function childEnv(
  base: { home: string; apiKey: string; leaseMs: number },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: base.home,
    VIDMESH_API_KEY: base.apiKey,
    VIDMESH_ALLOW_PRIVATE_NETWORKS: '1',
    VIDMESH_LEASE_MS: String(base.leaseMs),
    VIDMESH_HEARTBEAT_MS: '1000',
    VIDMESH_MAINTENANCE_MS: '500',
    VIDMESH_LOG_FORMAT: 'json',
    ...extra,
  };
}

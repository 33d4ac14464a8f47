import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from '../../src/coordinator/client.js';
import { packageRoot } from '../../src/paths.js';
import { withTestDatabase } from '../helpers/db.js';
import { makeClip } from '../helpers/media.js';

/**
 * High availability (issue 20): two `vidmesh serve` processes on one PostgreSQL, two `vidmesh encoder`
 * processes given both URLs. The maintenance leader is killed with SIGKILL while 20 jobs run: the other
 * coordinator takes over maintenance, the encoders fail over to it, and every job completes exactly
 * once (one `completed` transition, no output file PUT twice).
 */
const KEY = 'ha-test-admin-key-0123456789abcdef';
const LEASE_MS = 10_000;
const tdb = withTestDatabase();
const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
let dir: string;
let clip: string;
let sink: Server;
let sinkUrl: string;
const puts = new Map<string, number>();
const children: ChildProcess[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await sleep(200);
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-ha-'));
  clip = await makeClip(join(dir, 'clip.mp4'), { seconds: 2 });
  // Source (GET /clip.mp4) and destination (PUT /out/<job>/<path>, counted) in one local server, so
  // neither depends on which coordinator is alive.
  sink = createServer((req, res) => {
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
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(
    children.map((c) =>
      c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null,
    ),
  );
  await new Promise((r) => sink.close(r));
  await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({
  PATH: process.env.PATH ?? '',
  HOME: dir,
  VIDMESH_API_KEY: KEY,
  VIDMESH_ALLOW_PRIVATE_NETWORKS: '1',
  VIDMESH_LEASE_MS: String(LEASE_MS),
  VIDMESH_HEARTBEAT_MS: '1000',
  VIDMESH_MAINTENANCE_MS: '500',
  VIDMESH_LOG_FORMAT: 'json',
  ...extra,
});

/** A `vidmesh serve` process; `log` collects its JSON log lines. */
async function startServe(name: string): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  let log = '';
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--encoders', '0'], {
    env: env({ DATABASE_URL: tdb.current.url ?? '', VIDMESH_DATA_DIR: join(dir, name), LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString();
  });
  const url = await until(`${name} listening`, 60_000, () => /vidmesh serving at (\S+) /.exec(log)?.[1]);
  return { child, url, log: () => log };
}

test('kill -9 of the maintenance leader during 20 jobs: every job completes exactly once', {
  timeout: 300_000,
}, async (t) => {
  const a = await startServe('coord-a');
  await until('A leads maintenance', 30_000, () => a.log().includes('maintenance: became leader'));
  const b = await startServe('coord-b');
  for (const [i, urls] of [`${a.url},${b.url}`, `${b.url},${a.url}`].entries()) {
    const encDir = join(dir, `enc-${i}`);
    await mkdir(encDir);
    const child = spawn(
      process.execPath,
      [
        cli,
        'encoder',
        '--coordinator',
        urls,
        '--name',
        `enc-${i}`,
        '--data-dir',
        encDir,
        '--hwaccel',
        'none',
      ],
      { env: env({ LOG_LEVEL: 'error' }), stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.push(child);
  }
  const client = createClient({ url: b.url, apiKey: KEY });
  await until('2 encoders registered', 60_000, async () => (await client.listEncoders()).length === 2);

  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const job = await client.submitJob({
      source: { type: 'http', url: `${sinkUrl}/clip.mp4` },
      ladder: {
        ladder: [{ name: '240p', height: 240, videoBitrate: 300_000 }],
        speed: 'ultrafast',
        segmentDuration: 2,
        poster: false,
        thumbnail: false,
      },
      destination: { type: 'http', baseUrl: `${sinkUrl}/out/${i}/` },
      // Lease expiries on a starved 2-core box cost attempts; exactly-once is what this test proves.
      maxAttempts: 6,
    });
    ids.push(job.id);
  }
  // Kill the leader mid-run: some jobs done, some leased.
  const atKill = await until('jobs under way', 120_000, async () => {
    const all = await Promise.all(ids.map((id) => client.getJob(id)));
    const done = all.filter((j) => j.status === 'completed').length;
    return done >= 2 && done < 18 && all.some((j) => j.status === 'running') && done;
  });
  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  t.diagnostic(`leader killed with ${atKill} of 20 jobs completed`);
  await until('B takes over maintenance', 60_000, () => b.log().includes('maintenance: became leader'));

  const final = await until('every job finished', 240_000, async () => {
    const all = await Promise.all(ids.map((id) => client.getJob(id)));
    return all.every((j) => ['completed', 'dead', 'cancelled'].includes(j.status)) ? all : undefined;
  });
  for (const j of final) {
    const history = await client.jobHistory(j.id);
    assert.equal(j.status, 'completed', `${j.id}: ${JSON.stringify(j.error)}; ${JSON.stringify(history)}`);
    assert.equal(history.filter((e) => e.to === 'completed').length, 1, `${j.id} completed once`);
  }
  assert.deepEqual(
    [...puts].filter(([, n]) => n > 1),
    [],
    'no output file was PUT twice',
  );
  for (let i = 0; i < 20; i++) assert.ok(puts.has(`/out/${i}/master.m3u8`), `job ${i} published`);
  t.diagnostic(`attempts: ${final.map((j) => j.attempts).join(' ')}`);
  // enc-0 preferred the killed coordinator: it went on through the other one.
  const enc0 = (await client.listEncoders()).find((e) => e.name === 'enc-0');
  const afterKill = final.filter(
    (j) => j.encoderId === enc0?.id && Date.parse(j.finishedAt ?? '') > killedAt,
  );
  assert.ok(afterKill.length > 0, 'enc-0 completed jobs after its first coordinator was killed');
});

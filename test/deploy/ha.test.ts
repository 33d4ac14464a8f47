import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from '../../src/coordinator/client.js';
import { packageRoot } from '../../src/paths.js';
import { withTestDatabase } from '../helpers/db.js';
import { makeClip } from '../helpers/media.js';
import { encoderArgs, killChildren, until } from '../helpers/processes.js';
import { assertEveryJobCompletedOnce, childEnv, startSourceSink, tinyJob } from './faults.js';

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
let puts = new Map<string, number>();
const children: ChildProcess[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-ha-'));
  clip = await makeClip(join(dir, 'clip.mp4'), { seconds: 2 });
  // Source (GET /clip.mp4) and destination (PUT /out/<job>/<path>, counted) in one local server, so
  // neither depends on which coordinator is alive.
  const started = await startSourceSink(clip);
  sink = started.server;
  sinkUrl = started.url;
  puts = started.puts;
});

after(async () => {
  await killChildren(children);
  await new Promise((r) => sink.close(r));
  await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => childEnv({ home: dir, apiKey: KEY, leaseMs: LEASE_MS }, extra);

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
      encoderArgs({ coordinator: urls, name: `enc-${i}`, dataDir: encDir }),
      { env: env({ LOG_LEVEL: 'error' }), stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.push(child);
  }
  const client = createClient({ url: b.url, apiKey: KEY });
  await until('2 encoders registered', 60_000, async () => (await client.listEncoders()).length === 2);

  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    // Lease expiries on a starved 2-core box cost attempts; exactly-once is what this test proves.
    const job = await client.submitJob(tinyJob(sinkUrl, i, { maxAttempts: 6 }));
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

  const final = await assertEveryJobCompletedOnce(client, ids);
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

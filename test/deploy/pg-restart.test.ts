import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from '../../src/coordinator/client.js';
import { packageRoot } from '../../src/paths.js';
import { makeClip } from '../helpers/media.js';
import { encoderArgs, killChildren, until } from '../helpers/processes.js';
import {
  assertEveryJobCompletedOnce,
  childEnv,
  type PrivatePostgres,
  privatePostgresUnavailable,
  startPrivatePostgres,
  startSourceSink,
  tinyJob,
} from './faults.js';

/**
 * PostgreSQL restarted mid-batch (issue 20): a `vidmesh serve` process and two infrastructure encoders
 * (`vidmesh encoder --database-url`, the job store over its own pool) share a private PostgreSQL
 * instance (the shared test cluster is never restarted: other test files use it). It is restarted
 * while 8 jobs run; every process reconnects by itself, and every job completes exactly once (one
 * `completed` transition each, no output file PUT twice).
 */
const KEY = 'pg-restart-admin-key-0123456789abcdef';
const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const skip = privatePostgresUnavailable();
let pgsql: PrivatePostgres | undefined;
let dir: string;
let sink: Awaited<ReturnType<typeof startSourceSink>>;
const children: ChildProcess[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-pgrestart-'));
  const clip = await makeClip(join(dir, 'clip.mp4'), { seconds: 2 });
  sink = await startSourceSink(clip);
  pgsql = await startPrivatePostgres();
});

after(async () => {
  await killChildren(children);
  await pgsql?.stop();
  if (sink) await new Promise((r) => sink.server.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) =>
  childEnv({ home: dir, apiKey: KEY, leaseMs: 15_000 }, { DATABASE_URL: pgsql?.url ?? '', ...extra });

test('PostgreSQL restarted mid-batch: coordinator and DB-transport encoders reconnect; every job completes once', {
  skip: skip ?? false,
  timeout: 300_000,
}, async (t) => {
  let serveLog = '';
  const serve = spawn(process.execPath, [cli, 'serve', '--port', '0', '--encoders', '0'], {
    env: env({ VIDMESH_DATA_DIR: join(dir, 'coord'), LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(serve);
  serve.stderr?.on('data', (b: Buffer) => {
    serveLog += b.toString();
  });
  const url = await until('serve listening', 60_000, () => /vidmesh serving at (\S+) /.exec(serveLog)?.[1]);
  for (const i of [0, 1]) {
    const encDir = join(dir, `enc-${i}`);
    await mkdir(encDir);
    const child = spawn(
      process.execPath,
      encoderArgs({ databaseUrl: pgsql?.url ?? '', name: `db-enc-${i}`, dataDir: encDir }),
      { env: env({ LOG_LEVEL: 'error' }), stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.push(child);
  }
  const client = createClient({ url, apiKey: KEY });
  await until('2 encoders registered', 60_000, async () => (await client.listEncoders()).length === 2);

  const ids: string[] = [];
  for (let i = 0; i < 8; i++) ids.push((await client.submitJob(tinyJob(sink.url, i))).id);
  await until('jobs under way', 120_000, async () => {
    const all = await Promise.all(ids.map((id) => client.getJob(id)));
    const done = all.filter((j) => j.status === 'completed').length;
    return done >= 1 && done < 7 && all.some((j) => j.status === 'running');
  });
  const before = (await Promise.all(ids.map((id) => client.getJob(id)))).filter(
    (j) => j.status === 'completed',
  );
  const restartedAt = Date.now();
  await pgsql?.restart();
  t.diagnostic(
    `PostgreSQL restarted with ${before.length} of 8 jobs completed (restart took ${Date.now() - restartedAt} ms)`,
  );

  // The coordinator answers again once its pool reconnects; then the rest of the batch completes.
  await until('the API reads the database again', 60_000, async () => (await client.getJob(ids[0] ?? '')).id);
  t.diagnostic(`API back ${Date.now() - restartedAt} ms after the restart began`);
  const final = await assertEveryJobCompletedOnce(client, ids);
  const firstAfter = Math.min(
    ...final.map((j) => Date.parse(j.finishedAt ?? '')).filter((at) => at > restartedAt),
  );
  t.diagnostic(`first completion after the restart: ${firstAfter - restartedAt} ms`);
  assert.deepEqual(
    [...sink.puts].filter(([, n]) => n > 1),
    [],
    'no output file was PUT twice',
  );
  for (let i = 0; i < 8; i++) assert.ok(sink.puts.has(`/out/${i}/master.m3u8`), `job ${i} published`);
  assert.ok(
    final.some((j) => Date.parse(j.finishedAt ?? '') > restartedAt),
    'jobs completed after the restart (the encoders reconnected)',
  );
  t.diagnostic(`attempts: ${final.map((j) => j.attempts).join(' ')}`);
});

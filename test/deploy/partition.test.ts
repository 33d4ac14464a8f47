import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { createClient } from '../../src/coordinator/client.js';
import { packageRoot } from '../../src/paths.js';
import { makeClip } from '../helpers/media.js';
import { encoderArgs, killChildren, sleep, until } from '../helpers/processes.js';
import { childEnv, startSourceSink, tinyJob } from './faults.js';

/**
 * A partitioned encoder (issue 20): encoder A runs in its own network namespace, joined to the host
 * by a veth pair, and leases a job from `vidmesh serve`; the link is cut while A encodes.
 * The lease expires, maintenance rescues the job and encoder B (on the host) completes it. When the
 * link returns, A's lease is refused (409), A discards its work, and nothing A made is published: the
 * encoder confirms its lease before publishing (JobReporter.confirmLease).
 * Needs root (CAP_NET_ADMIN) and `ip`; skipped with the reason otherwise.
 */
const run = promisify(execFile);
const KEY = 'partition-admin-key-0123456789abcdef';
const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const n = process.pid % 100_000;
const NS = `vmns${n}`;
const HOST_IF = `vmh${n}`;
const NS_IF = `vmp${n}`;
const octet = (process.pid % 250) + 1;
const HOST_IP = `10.199.${octet}.1`;
const NS_IP = `10.199.${octet}.2`;

function namespacesUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN) for network namespaces';
  const probe = `vmprobe${n}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    return null;
  } catch (err) {
    return `cannot create network namespaces here (${(err as Error).message.split('\n')[0]})`;
  }
}

const skip = namespacesUnavailable();
const ip = (...args: string[]) => run('ip', args);
let dir: string;
let sink: Server;
let sinkUrl: string;
let putsFrom = new Map<string, number>();
const children: ChildProcess[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-partition-'));
  await ip('netns', 'add', NS);
  await ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF);
  await ip('link', 'set', NS_IF, 'netns', NS);
  await ip('addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF);
  await ip('link', 'set', HOST_IF, 'up');
  await ip('netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/30`, 'dev', NS_IF);
  await ip('netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up');
  await ip('netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up');

  const clip = await makeClip(join(dir, 'clip.mp4'), { seconds: 8 });
  const started = await startSourceSink(clip, HOST_IP);
  sink = started.server;
  sinkUrl = started.url;
  putsFrom = started.putsFrom;
});

after(async () => {
  await killChildren(children);
  if (skip) return;
  // Deleting the namespace deletes its end of the pair, and with it the host end.
  await ip('netns', 'del', NS).catch(() => undefined);
  await ip('link', 'del', HOST_IF).catch(() => undefined);
  if (sink) await new Promise((r) => sink.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => childEnv({ home: dir, apiKey: KEY, leaseMs: 5000 }, extra);

function encoder(
  name: string,
  url: string,
  inNamespace: boolean,
): { child: ChildProcess; log: () => string } {
  let log = '';
  const args = encoderArgs({ coordinator: url, name, dataDir: join(dir, name) });
  const child = inNamespace
    ? spawn('ip', ['netns', 'exec', NS, process.execPath, ...args], {
        env: env({ LOG_LEVEL: 'info' }),
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawn(process.execPath, args, { env: env({ LOG_LEVEL: 'info' }), stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString();
  });
  return { child, log: () => log };
}

test('a partitioned encoder loses its job to another; when the link returns its lease is refused and it publishes nothing', {
  skip: skip ?? false,
  timeout: 240_000,
}, async (t) => {
  let serveLog = '';
  const serve = spawn(process.execPath, [cli, 'serve', '--host', HOST_IP, '--port', '0', '--encoders', '0'], {
    env: env({ VIDMESH_DATA_DIR: join(dir, 'coord'), LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(serve);
  serve.stderr?.on('data', (b: Buffer) => {
    serveLog += b.toString();
  });
  const url = await until('serve listening', 60_000, () => /vidmesh serving at (\S+) /.exec(serveLog)?.[1]);
  await mkdir(join(dir, 'part-a'));
  await mkdir(join(dir, 'part-b'));
  const a = encoder('part-a', url, true);
  const client = createClient({ url, apiKey: KEY });
  const encA = await until('A registered', 60_000, async () =>
    (await client.listEncoders()).find((e) => e.name === 'part-a'),
  );
  // A slow preset, so the cut lands while A encodes: it finishes the encode cut off, and must not
  // publish what it made once the link returns.
  const job = await client.submitJob(tinyJob(sinkUrl, 0, { speed: 'veryslow' }));
  await until('A encoding the job', 60_000, async () => {
    const j = await client.getJob(job.id);
    return j.status === 'running' && j.stage === 'encoding' && j.encoderId === encA.id;
  });

  await ip('link', 'set', HOST_IF, 'down');
  const cutAt = Date.now();
  const b = encoder('part-b', url, false);
  const rescued = await until('the lease expired and the job was rescued', 60_000, async () => {
    const ev = (await client.jobHistory(job.id)).find((e) => e.reason === 'lease_expired');
    return ev;
  });
  t.diagnostic(`rescued ${Date.parse(rescued.at) - cutAt} ms after the cut`);
  const done = await until('B completed the job', 120_000, async () => {
    const j = await client.getJob(job.id);
    return j.status === 'completed' && j;
  });
  t.diagnostic(`completed by B ${Date.parse(done.finishedAt ?? '') - cutAt} ms after the cut`);
  const encB = (await client.listEncoders()).find((e) => e.name === 'part-b');
  assert.equal(done.encoderId, encB?.id, 'the other encoder completed it');

  await ip('link', 'set', HOST_IF, 'up');
  const restoredAt = Date.now();
  await until('A learns it lost the lease and discards its work', 90_000, () =>
    a.log().includes('job aborted; work discarded'),
  );
  t.diagnostic(`A stopped ${Date.now() - restoredAt} ms after the link returned`);
  assert.match(a.log(), /"reason":"lease_lost"/);
  // Give A time to have published, had it not fenced its lease.
  await sleep(3000);
  const history = await client.jobHistory(job.id);
  assert.equal(history.filter((e) => e.to === 'completed').length, 1, 'completed exactly once');
  assert.deepEqual(
    [...putsFrom.keys()].filter((from) => from.endsWith(NS_IP)),
    [],
    'nothing was published by the partitioned encoder',
  );
  assert.ok([...putsFrom.values()].reduce((x, y) => x + y, 0) > 0, 'B published the outputs');
  assert.ok(b.log().length > 0);
});

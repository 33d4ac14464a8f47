import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { startCoordinator } from '../../src/coordinator/serve.js';
import { packageRoot } from '../../src/paths.js';
import { withTestDatabase } from '../helpers/db.js';
import { waitFor } from './helpers.js';

// `vidmesh encoder` as a real process against a real coordinator: registers, claims, and on SIGTERM
// releases the job it has not started encoding and exits 0.
const KEY = 'test-admin-key-0123456789abcdef';
const tdb = withTestDatabase();
let root: string;
let slow: Server;
let slowUrl: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'vidmesh-encoder-cli-'));
  // A source that never finishes downloading.
  slow = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(50 * 1024 * 1024) });
    const timer = setInterval(() => res.write(Buffer.alloc(1024)), 100);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/slow.mp4`;
});
after(async () => {
  slow.closeAllConnections();
  await new Promise((r) => slow.close(r));
  await rm(root, { recursive: true, force: true });
});

function startTestCoordinator() {
  return startCoordinator(
    loadConfig({
      flags: {
        port: 0,
        host: '127.0.0.1',
        dataDir: join(root, `coord-${Math.random().toString(36).slice(2)}`),
        encoders: 0,
        apiKey: KEY,
        logLevel: 'silent',
        databaseUrl: tdb.current.url,
        // Sources are on loopback: the coordinator refuses private URLs at submit unless allowed.
        allowPrivateNetworks: true,
      },
      env: {},
    }),
  );
}

function runCli(args: string[], env: Record<string, string>) {
  const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  return spawn(process.execPath, [cli, 'encoder', ...args], {
    env: { ...process.env, VIDMESH_DATA_DIR: join(root, 'enc'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

test('vidmesh encoder registers, works, and on SIGTERM releases its unstarted job and exits 0', async () => {
  const coordinator = await startTestCoordinator();
  const child = runCli(
    ['--coordinator', coordinator.url, '--name', 'cli-node', '--hwaccel', 'none', '--tags', 'cli'],
    {
      VIDMESH_API_KEY: KEY,
      VIDMESH_ALLOW_PRIVATE_NETWORKS: '1',
      VIDMESH_HEARTBEAT_MS: '500',
      LOG_LEVEL: 'info',
    },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const encoder = await waitFor('encoder registered', async () => {
      const list = await coordinator.store.listEncoders();
      return list.find((e) => e.name === 'cli-node');
    });
    assert.deepEqual(encoder.capabilities.tags, ['cli']);
    assert.equal(encoder.kind, 'community');

    const res = await fetch(`${coordinator.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source: { type: 'http', url: slowUrl }, tags: ['cli'] }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const jobId = ((await res.json()) as { job: { id: string } }).job.id;
    await waitFor('job downloading', async () => {
      const j = await coordinator.store.get(jobId);
      return j.status === 'running' && j.stage === 'downloading';
    });

    const signalledAt = Date.now();
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.ok(Date.now() - signalledAt < 10_000, 'graceful stop does not wait for downloads');
    const job = await coordinator.store.get(jobId);
    assert.equal(job.status, 'queued');
    assert.equal(job.attempts, 0);
    assert.equal((await coordinator.store.listEvents(jobId)).at(-1)?.reason, 'released');
    assert.match(stderr, /stopping gracefully/);
    assert.doesNotMatch(stderr, new RegExp(KEY), 'the API key is never logged');
    await coordinator.store.cancel(jobId);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await coordinator.stop({ graceMs: 0 });
  }
});

test('vidmesh encoder exits at once with a clear error for a refused key or a bad flag', async () => {
  const coordinator = await startTestCoordinator();
  try {
    for (const [args, env, code, message] of [
      [
        ['--coordinator', coordinator.url, '--hwaccel', 'none'],
        { VIDMESH_API_KEY: 'wrong-key-0123456789abcdef' },
        1,
        /coordinator_rejected/,
      ],
      [['--coordinator', coordinator.url, '--grace-s', 'soon'], { VIDMESH_API_KEY: KEY }, 2, /--grace-s/],
      [['--coordinator', coordinator.url, '--tags', 'ok,no spaces'], { VIDMESH_API_KEY: KEY }, 2, /--tags/],
    ] as const) {
      const child = runCli([...args], env);
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      const exit = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      assert.equal(exit, code, stderr);
      assert.match(stderr, message);
      assert.doesNotMatch(stderr, /wrong-key-0123456789abcdef/);
    }
  } finally {
    await coordinator.stop({ graceMs: 0 });
  }
});

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { startCoordinator } from '../../src/coordinator/serve.js';
import { waitFor } from '../encoder/helpers.js';
import { withTestDatabase } from '../helpers/db.js';
import { makeClip } from '../helpers/media.js';
import { encoderArgs } from '../helpers/processes.js';

// `vidmesh encoder --coordinator DEAD,LIVE` as a real process: the list is parsed, the dead URL is
// skipped, and with VIDMESH_PUBLIC_URL the `local` output URLs are built on the public URL (Compose:
// the URL encoders use is an internal host name).
const KEY = 'encoder-cli-admin-key-0123456789abcdef';
const tdb = withTestDatabase();
let dir: string;
let child: ChildProcess | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-encoder-list-'));
});
after(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child?.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

test('encoder --coordinator dead,live with VIDMESH_PUBLIC_URL completes a job with public result URLs', async () => {
  const coordinator = await startCoordinator(
    loadConfig({
      flags: {
        port: 0,
        host: '127.0.0.1',
        dataDir: join(dir, 'coord'),
        encoders: 0,
        apiKey: KEY,
        logLevel: 'silent',
        databaseUrl: tdb.current.url,
      },
      env: {},
    }),
  );
  const gone = createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const dead = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
  await new Promise((r) => gone.close(r));
  try {
    const encDir = join(dir, 'enc');
    await mkdir(encDir);
    child = spawn(
      process.execPath,
      encoderArgs({ coordinator: `${dead},${coordinator.url}`, dataDir: encDir }),
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          VIDMESH_API_KEY: KEY,
          VIDMESH_PUBLIC_URL: 'https://video.example.com',
          VIDMESH_HEARTBEAT_MS: '1000',
          LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const client = createClient({ url: coordinator.url, apiKey: KEY });
    const { source } = await client.upload(await makeClip(join(dir, 'clip.mp4'), { seconds: 2 }));
    const { id } = await client.submitJob({
      source,
      ladder: {
        ladder: [{ name: '240p', height: 240, videoBitrate: 300_000 }],
        speed: 'ultrafast',
        segmentDuration: 2,
      },
    });
    const job = await waitFor('job completed', async () => {
      const j = await coordinator.store.get(id);
      assert.ok(!['dead', 'cancelled'].includes(j.status), JSON.stringify(j.lastError));
      return j.status === 'completed' && j;
    });
    assert.equal(
      (job.result as { masterUrl: string }).masterUrl,
      `https://video.example.com/media/${id}/master.m3u8`,
    );
  } finally {
    child?.kill('SIGTERM');
    await new Promise((r) => (child?.exitCode === null ? child.once('exit', r) : r(null)));
    await coordinator.stop({ graceMs: 0 });
  }
});

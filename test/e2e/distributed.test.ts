import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { JobView } from '../../src/coordinator/schemas.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { mediaDir } from '../../src/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { encoderArgs, killOrphans, sleep, until } from '../helpers/processes.js';

/**
 * The distributed scenario of issue 4: a coordinator on PostgreSQL, 3 `vidmesh encoder` processes over
 * HTTP, 21 short jobs publishing to an HTTP PUT destination (a stand-in for S3 that counts every PUT).
 * - kill -9 of one encoder mid-encode: its lease expires, maintenance rescues the job (audit trail
 *   says `lease_expired`), another encoder finishes it; every job completes exactly once, every output
 *   file is PUT exactly once.
 * - coordinator stopped mid-job and started again: the encoder finishes its encode but publishes
 *   nothing until the coordinator confirms its lease (the fence before publishing); after the restart
 *   it publishes and reports; the job is leased once and encoded once, every file PUT once.
 */

const LEASE_MS = 10_000;
const KEY = 'distributed-test-admin-key-0123456789';
const here = dirname(fileURLToPath(import.meta.url));

describe('distributed: PostgreSQL coordinator + 3 HTTP encoder processes', { timeout: 240_000 }, () => {
  let tdb: TestDatabase;
  let dir: string;
  let config: Config;
  let coordinator: RunningCoordinator | undefined;
  let client: VidmeshClient;
  let sink: Server;
  let sinkUrl: string;
  const puts = new Map<string, number>();
  const encoders = new Map<string, ChildProcess>();
  let shortClip: string;
  let longClip: string;

  before(async () => {
    tdb = await createTestDatabase({ driver: 'postgres' });
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-dist-'));
    shortClip = join(dir, 'short.mp4');
    longClip = join(dir, 'long.mp4');
    const bbb = join(mediaDir(), 'big_buck_bunny_10s.mp4');
    const ff = (args: string[]) =>
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
    ff([
      '-i',
      bbb,
      '-t',
      '3',
      '-vf',
      'scale=426:240',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-c:a',
      'aac',
      shortClip,
    ]);
    ff(['-i', bbb, '-t', '8', '-c', 'copy', longClip]);

    // The destination: files PUT to /out/<n>/<path> are counted (a second PUT = encoded twice).
    sink = createServer((req, res) => {
      if (req.method !== 'PUT') return void res.writeHead(405).end();
      req.resume();
      req.on('end', () => {
        const path = decodeURIComponent((req.url ?? '').split('?')[0]);
        puts.set(path, (puts.get(path) ?? 0) + 1);
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

    config = loadConfig({
      env: {},
      flags: {
        port: 0,
        dataDir: join(dir, 'coordinator'),
        databaseUrl: tdb.url,
        apiKey: KEY,
        // The sink is on loopback: the coordinator refuses private URLs at submit unless allowed.
        allowPrivateNetworks: true,
        encoders: 0,
        leaseMs: LEASE_MS,
        maintenanceMs: 500,
        heartbeatMs: 1000,
        logLevel: 'silent',
      },
    });
    coordinator = await startCoordinator(config);
    config = { ...config, port: Number(new URL(coordinator.url).port) };
    client = createClient({ url: coordinator.url, apiKey: KEY });

    for (let i = 0; i < 3; i++) {
      const name = `enc-${i}`;
      const encDir = join(dir, name);
      await mkdir(encDir, { recursive: true });
      const child = spawn(
        process.execPath,
        encoderArgs({ coordinator: coordinator.url, name, dataDir: encDir }),
        {
          cwd: here,
          env: {
            ...process.env,
            VIDMESH_API_KEY: KEY,
            VIDMESH_HEARTBEAT_MS: '1000',
            VIDMESH_ALLOW_PRIVATE_NETWORKS: '1',
            LOG_LEVEL: process.env.VIDMESH_TEST_ENCODER_LOG ?? 'error',
          },
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      encoders.set(name, child);
    }
    await until('3 encoders registered', 60_000, async () => (await client.listEncoders()).length === 3);
  });

  after(async () => {
    for (const child of encoders.values()) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    await Promise.all(
      [...encoders.values()].map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            const t = setTimeout(() => {
              c.kill('SIGKILL');
              r();
            }, 15_000);
            c.once('exit', () => {
              clearTimeout(t);
              r();
            });
          }),
      ),
    );
    await coordinator?.stop({ graceMs: 0 });
    await new Promise((r) => sink?.close(r));
    await tdb?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const spec = (source: { type: 'upload'; id: string }, n: string, ladder: Record<string, unknown>) => ({
    source,
    ladder: { poster: false, thumbnail: false, segmentDuration: 2, ...ladder },
    destination: { type: 'http', baseUrl: `${sinkUrl}/out/${n}/` },
    // Lease expiries on a starved 2-core CI box cost attempts; exactly-once is what this test proves.
    maxAttempts: 6,
  });

  test('kill -9 one encoder mid-encode: 21 jobs complete exactly once, the rescue is in the audit trail', async () => {
    const short = (await client.upload(shortClip)).source;
    const long = (await client.upload(longClip)).source;
    // The victim: a slower 720p encode, claimed first (high priority), so the kill lands mid-encode.
    const victim = await client.submitJob({
      ...spec(long, 'victim', {
        ladder: [{ name: '720p', height: 720, videoBitrate: 2_000_000 }],
        speed: 'fast',
      }),
      priority: 'high',
    });
    const running = await until('victim encoding', 60_000, async () => {
      const j = await client.getJob(victim.id);
      return j.status === 'running' && j.stage === 'encoding' && j.encoderId ? j : undefined;
    });
    const jobs: JobView[] = [victim];
    for (let i = 0; i < 20; i++) {
      jobs.push(
        await client.submitJob(
          spec(short, String(i), {
            ladder: [{ name: '240p', height: 240, videoBitrate: 300_000 }],
            speed: 'ultrafast',
          }),
        ),
      );
    }
    const owner = (await client.listEncoders()).find((e) => e.id === running.encoderId);
    assert.ok(owner, 'the victim runs on a registered encoder');
    const child = encoders.get(owner.name)!;
    child.kill('SIGKILL');
    killOrphans(join(dir, owner.name));

    const final = await until('every job finished', 180_000, async () => {
      const all = await Promise.all(jobs.map((j) => client.getJob(j.id)));
      return all.every((j) => ['completed', 'dead', 'cancelled'].includes(j.status)) ? all : undefined;
    });
    for (const j of final) {
      if (j.status === 'completed') continue;
      const history = await client.jobHistory(j.id);
      assert.fail(`${j.id}: ${j.status} ${JSON.stringify(j.error)}; history ${JSON.stringify(history)}`);
    }

    const victimHistory = await client.jobHistory(victim.id);
    const rescue = victimHistory.find((e) => e.actor === 'maintenance' && e.reason === 'lease_expired');
    assert.ok(rescue, `rescue in audit trail: ${JSON.stringify(victimHistory)}`);
    const victimFinal = final[0];
    assert.notEqual(victimFinal.encoderId, owner.id, 'another encoder finished the rescued job');
    assert.equal(victimFinal.attempts, 2);
    for (const j of final) {
      const h = await client.jobHistory(j.id);
      assert.equal(h.filter((e) => e.to === 'completed').length, 1, `${j.id} completed once`);
    }
    const dupes = [...puts].filter(([, n]) => n > 1);
    assert.deepEqual(dupes, [], 'no output file was PUT twice');
    assert.ok(puts.has('/out/victim/master.m3u8'));
    for (let i = 0; i < 20; i++) assert.ok(puts.has(`/out/${i}/master.m3u8`), `job ${i} published`);
  });

  test('coordinator stopped mid-job and restarted: outputs wait for the lease to be confirmed, then publish once; nothing encoded twice', async () => {
    const source = (await client.upload(longClip)).source;
    const job = await client.submitJob(
      spec(source, 'restart', {
        ladder: [{ name: '480p', height: 480, videoBitrate: 1_000_000 }],
        speed: 'veryfast',
      }),
    );
    await until('job encoding', 60_000, async () => {
      const j = await client.getJob(job.id);
      return j.stage === 'encoding' || j.status === 'completed' ? j : undefined;
    });
    assert.ok(coordinator);
    await coordinator.stop({ graceMs: 0 });
    coordinator = undefined;
    const downAt = Date.now();
    // The encoder may finish its encode meanwhile, but publishes nothing on a lease it cannot confirm.
    await sleep(4000);
    assert.equal(
      [...puts.keys()].filter((p) => p.startsWith('/out/restart/')).length,
      0,
      'nothing published while the coordinator is down',
    );
    assert.ok(Date.now() - downAt < LEASE_MS, 'restart within the lease, so nothing is rescued meanwhile');
    coordinator = await startCoordinator(config);
    client = createClient({ url: coordinator.url, apiKey: KEY });

    await until('outputs published after the restart', 60_000, async () =>
      puts.has('/out/restart/master.m3u8'),
    );
    const done = await until('job completed after restart', 90_000, async () => {
      const j = await client.getJob(job.id);
      return j.status === 'completed' ? j : undefined;
    });
    const history = await client.jobHistory(job.id);
    assert.equal(
      history.filter((e) => e.to === 'leased').length,
      1,
      `leased once: ${JSON.stringify(history)}`,
    );
    assert.equal(done.attempts, 1);
    const restartPuts = [...puts].filter(([p]) => p.startsWith('/out/restart/'));
    assert.ok(restartPuts.length >= 2);
    for (const [p, n] of restartPuts) assert.equal(n, 1, `${p} PUT once`);
  });
});

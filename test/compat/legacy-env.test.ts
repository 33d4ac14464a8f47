import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  kuboUrlFromAddr,
  loadLegacyEncoderConfig,
  threeSpeakSubmitInput,
} from '../../src/compat/threespeak/index.js';
import { loadConfig } from '../../src/config.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/index.js';
import { generateSeed, identityFromSeed } from '../../src/identity/index.js';
import { packageRoot } from '../../src/paths.js';
import { addDirectory, FsBlockstore } from '../../src/storage/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { makeClip } from '../helpers/media.js';

const _run = promisify(execFile);

describe('legacy 3Speak encoder configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-3speak-env-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('converts IPFS_API_ADDR multiaddrs to kubo RPC URLs', () => {
    assert.equal(kuboUrlFromAddr('/ip4/127.0.0.1/tcp/5001'), 'http://127.0.0.1:5001');
    assert.equal(kuboUrlFromAddr('/dns4/ipfs.example/tcp/443/https'), 'https://ipfs.example:443');
    assert.equal(kuboUrlFromAddr('/ip6/::1/tcp/5001'), 'http://[::1]:5001');
    assert.equal(kuboUrlFromAddr('http://node:5001/'), 'http://node:5001');
    assert.throws(() => kuboUrlFromAddr('/ip4/1.2.3.4/udp/5001'), /IPFS_API_ADDR/);
  });

  it('reads .env, lets the environment win, names bad variables, lists ignored ones', async () => {
    const file = join(dir, '.env');
    await writeFile(
      file,
      [
        'HIVE_USERNAME=alice',
        'GATEWAY_URL=https://encoder.3speak.tv/',
        'IPFS_API_ADDR=/ip4/10.0.0.5/tcp/5001',
        'MAX_CONCURRENT_JOBS=2',
        'GATEWAY_MONITOR_ENABLED=true',
        'MONGODB_URI=mongodb://u:p@db/x',
        'NODE_NAME=from-file',
      ].join('\n'),
    );
    const c = await loadLegacyEncoderConfig({ envFile: file, env: { NODE_NAME: 'from-env' } });
    assert.equal(c.hiveUsername, 'alice');
    assert.equal(c.gatewayUrl, 'https://encoder.3speak.tv');
    assert.equal(c.kuboApiUrl, 'http://10.0.0.5:5001');
    assert.equal(c.concurrency, 2);
    assert.equal(c.monitorUrl, 'https://gateway-monitor.3speak.tv/api');
    assert.equal(c.nodeName, 'from-env');
    assert.deepEqual(c.ignored, ['MONGODB_URI']);
    await assert.rejects(loadLegacyEncoderConfig({ envFile: join(dir, 'none'), env: {} }), /cannot read/);
    await writeFile(file, 'GATEWAY_URL=https://x.example\n');
    await assert.rejects(loadLegacyEncoderConfig({ envFile: file, env: {} }), /HIVE_USERNAME/);
    await assert.rejects(
      loadLegacyEncoderConfig({ envFile: file, env: { HIVE_USERNAME: 'a', MAX_CONCURRENT_JOBS: 'lots' } }),
      /MAX_CONCURRENT_JOBS/,
    );
    await assert.rejects(
      loadLegacyEncoderConfig({ envFile: file, env: { HIVE_USERNAME: 'a', DIRECT_API_ENABLED: 'true' } }),
      /DIRECT_API_KEY/,
    );
  });
});

describe('vidmesh encoder --protocol 3speak against vidmesh serve --threespeak-gateway', () => {
  let tdb: TestDatabase;
  let server: RunningCoordinator;
  let dir: string;
  before(async () => {
    tdb = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-3speak-both-'));
    server = await startCoordinator(
      loadConfig({
        flags: {
          port: '0',
          dataDir: join(dir, 'coord'),
          encoders: '0',
          databaseUrl: tdb.url,
          threespeakGateway: true,
        },
        env: {},
      }),
    );
  });
  after(async () => {
    await server?.stop();
    await tdb?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the CLI with a legacy .env completes a job whose source is on the coordinator IPFS store', async () => {
    // The source goes up through the coordinator's kubo subset, as a 3Speak upload would.
    // The source is already in the coordinator's IPFS store, as a 3Speak upload would leave it.
    const srcDir = join(dir, 'src');
    await mkdir(srcDir);
    await makeClip(join(srcDir, 'source.mp4'), { seconds: 2 });
    const root = await addDirectory(srcDir, new FsBlockstore(join(dir, 'coord', 'ipfs')));
    const job = await server.store.submit(
      threeSpeakSubmitInput({
        input: { uri: `ipfs://${root.cid}/source.mp4`, size: 1 },
        metadata: { video_owner: 'dave', video_permlink: 'cli' },
      }),
    );
    const seed = generateSeed();
    const port = new URL(server.url).port;
    await writeFile(
      join(dir, '.env'),
      [
        `GATEWAY_URL=${server.url}`,
        `ENCODER_PRIVATE_KEY=${seed}`,
        'HIVE_USERNAME=dave',
        'NODE_NAME=vidmesh-cli-3speak',
        `IPFS_API_ADDR=/ip4/127.0.0.1/tcp/${port}`,
        `TEMP_DIR=${join(dir, 'temp')}`,
        'LOG_LEVEL=warn',
      ].join('\n'),
    );
    const child = spawn(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
        'encoder',
        '--protocol',
        '3speak',
        '--env-file',
        join(dir, '.env'),
      ],
      { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 50_000;
      let status = '';
      while (Date.now() < deadline) {
        status = (await server.store.get(job.id)).status;
        if (status === 'completed' || status === 'dead') break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(status, 'completed', stderr.slice(-2000));
      const done = await server.store.get(job.id);
      const cid = (done.result as { cid: string }).cid;
      const enc = await server.store.getEncoder(identityFromSeed(seed).did);
      assert.equal(enc.name, 'vidmesh-cli-3speak');
      const manifest = await (await fetch(`${server.url}/ipfs/${cid}/manifest.m3u8`)).text();
      for (const r of ['720p', '480p']) assert.match(manifest, new RegExp(`${r}/index\\.m3u8`));
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr.slice(-2000));
    }
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { createSecretBox } from '../../src/identity/index.js';
import {
  createLedger,
  createMarket,
  EXTERNAL_ACCOUNT,
  HIVE_ACTIVE_KEY_CONTEXT,
  userAccount,
} from '../../src/market/index.js';
import { packageRoot } from '../../src/paths.js';
import { startTestCoordinator } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/**
 * The marketplace's CLI as a user runs it (child processes against `vidmesh serve`'s coordinator on
 * PGlite): `submit --quote` probes the file and prices it with the live offers, `submit --max-price`
 * opens a held order, `wallet` prints the statement, `wallet deposit` a deposit id, `wallet seal-key`
 * an envelope the server key opens.
 */
describe('vidmesh wallet and submit --quote / --max-price', () => {
  let root: string;
  let coordinator: RunningCoordinator;
  let clip = '';
  let env: NodeJS.ProcessEnv = {};

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-market-cli-'));
    clip = await makeClip(join(root, 'clip.mp4'), { seconds: 3 });
    coordinator = await startTestCoordinator(join(root, 'coordinator'));
    const r = await fetch(`${coordinator.url}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${coordinator.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes: ['submit', 'read'], tenant: 'acme' }),
    });
    const key = ((await r.json()) as { plaintext: string }).plaintext;
    env = { ...process.env, VIDMESH_URL: coordinator.url, VIDMESH_API_KEY: key, VIDMESH_PROFILE: '' };
    // One live offer: an online community encoder bound to a Hive account, 0.600 HBD per SD minute.
    const enc = await coordinator.store.registerEncoder({
      id: 'enc-offer',
      name: 'offer',
      kind: 'community',
      capabilities: { codecs: ['h264'], hwaccel: [], maxHeight: 2160, concurrency: 1, tags: [] },
    });
    const market = createMarket({ db: coordinator.db, jobs: coordinator.store });
    await market.bind({
      encoderId: enc.id,
      did: 'did:key:test',
      hiveAccount: 'bob',
      statement: 's',
      signature: 'x',
    });
    await market.putOffer(enc.id, { prices: { sd: 600 }, maxConcurrent: 1 });
    await createLedger(coordinator.db).post({
      key: 'hive:cli:0',
      kind: 'deposit',
      legs: [
        { account: EXTERNAL_ACCOUNT, amount: -3_250 },
        { account: userAccount('acme'), amount: 3_250 },
      ],
    });
  });

  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await rm(root, { recursive: true, force: true });
  });

  const cli = async (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    (await run('node', [CLI, ...args], { env: { ...env, ...extra }, cwd: root })).stdout;

  test('submit --quote prices the probed file with the live offers and submits nothing', async () => {
    const ladder = JSON.stringify([
      { name: '360p', height: 360, videoBitrate: 600_000 },
      { name: '240p', height: 240, videoBitrate: 300_000 },
    ]);
    const out = JSON.parse(await cli(['submit', clip, '--quote', '--ladder', ladder, '--json'])) as {
      durationS: number;
      heights: number[];
      quotes: Array<{ encoderId: string; price: string }>;
    };
    assert.deepEqual(out.heights, [360, 240]);
    // 2 SD renditions × 0.600 HBD per minute × ~3 s, rounded up to a milli-HBD.
    const expected = Math.ceil((1200 * out.durationS) / 60);
    assert.deepEqual(out.quotes, [
      { encoderId: 'enc-offer', price: `0.${String(expected).padStart(3, '0')}` },
    ]);
    assert.equal((await coordinator.store.list()).jobs.length, 0, 'nothing submitted');
  });

  test('submit --max-price opens a held community order; wallet shows the balance and statement', async () => {
    const out = JSON.parse(
      await cli(['submit', clip, '--max-price', '1.250', '--no-auto-accept', '--json']),
    ) as {
      job: { id: string };
    };
    const job = await coordinator.store.get(out.job.id);
    assert.equal((job.spec as { network: string }).network, 'community');
    assert.equal((job.spec as { verify: string }).verify, 'always');
    const order = await createMarket({ db: coordinator.db, jobs: coordinator.store }).getOrder(job.id);
    assert.deepEqual([order.maxPrice, order.autoAccept, order.state], [1250, false, 'open']);
    const wallet = JSON.parse(await cli(['wallet', '--json'])) as {
      balance: string;
      entries: Array<{ kind: string }>;
    };
    assert.equal(wallet.balance, '3.250');
    assert.deepEqual(
      wallet.entries.map((e) => e.kind),
      ['deposit'],
    );
    assert.match(await cli(['wallet']), /^user:acme {2}balance 3\.250 HBD\n.* deposit +3\.250 +3\.250/);
    const dep = JSON.parse(await cli(['wallet', 'deposit', '--json'])) as { id: string; memo: string };
    assert.match(dep.id, /^dep_/);
    assert.equal(dep.memo, dep.id);
  });

  test('wallet seal-key seals a WIF the server key opens; a non-key is refused', async () => {
    const serverKey = randomBytes(32);
    const wif = '5JRaypasxMx1L97ZUX7YuC5Psb5EAbF821kkAGtBj7xCJFQcbLg';
    const sealed = (
      await cli(['wallet', 'seal-key'], {
        VIDMESH_SECRET_KEY: serverKey.toString('base64'),
        VIDMESH_HIVE_ACTIVE_KEY: wif,
      })
    ).trim();
    assert.equal(createSecretBox(serverKey).open(sealed, HIVE_ACTIVE_KEY_CONTEXT), wif);
    await assert.rejects(
      cli(['wallet', 'seal-key'], {
        VIDMESH_SECRET_KEY: serverKey.toString('base64'),
        VIDMESH_HIVE_ACTIVE_KEY: 'not-a-key',
      }),
      /not a WIF/,
    );
  });
});

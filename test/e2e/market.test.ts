import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { createSecretBox, type Identity, identityFromSeed, signRequest } from '../../src/identity/index.js';
import {
  bindingStatement,
  createLedger,
  encoderAccount,
  escrowAccount,
  HIVE_ACTIVE_KEY_CONTEXT,
  PLATFORM_ACCOUNT,
  signBuffer,
  userAccount,
} from '../../src/market/index.js';
import { packageRoot } from '../../src/paths.js';
import { type Cheat, startCommunityNode } from '../helpers/community-node.js';
import { withTestDatabase } from '../helpers/db.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';
import { makeClip } from '../helpers/media.js';
import { until } from '../helpers/processes.js';

/**
 * The marketplace end to end (issue 15): `vidmesh serve`'s coordinator on PostgreSQL with the Hive
 * rail pointed at the stand-in Hive node (test/helpers/hive-node.ts), community encoders with did:key
 * identities over signed HTTP (the honest one a real `vidmesh encoder` process, the cheater an
 * in-process node whose uploads pass through a tampering proxy), real ffmpeg encodes and verification. A payer deposits HBD
 * (a signed transfer with its deposit id as memo), submits a community job with a maximum price; an
 * encoder bound to a Hive account by a Keychain-style signature bids, is auto-accepted, encodes, passes
 * verification and is paid by a dhive-signed transfer the node verified. A cheating encoder (it drops
 * segments) is accepted, rejected by verification, and its job is refunded and reopened, never paid.
 */

/** The cheat: segments 2 and 3 are not uploaded and the media playlist no longer lists them. */
const dropLastSegments: Cheat = (path, body) => {
  if (/seg_0000[23]\.ts$/.test(path)) return null;
  if (path.endsWith('index.m3u8')) {
    return Buffer.from(body.toString('utf8').replace(/#EXTINF:[^\n]*\nseg_0000[23]\.ts\n/g, ''));
  }
  return body;
};

const LADDER = {
  ladder: [{ name: '240p', height: 240, videoBitrate: 400_000 }],
  speed: 'ultrafast' as const,
  segmentDuration: 1,
};

describe('community marketplace end to end: deposit, bid, verify, pay; a cheater refunded and unpaid', () => {
  const tdb = withTestDatabase();
  let root: string;
  let hive: HiveNode;
  let coordinator: RunningCoordinator;
  let key = '';
  let uploadId = '';
  const keys: Record<string, { posting: string; active: string }> = {};
  const stops: Array<() => Promise<void>> = [];

  const api = async (method: string, path: string, body?: unknown, auth = key) => {
    const r = await fetch(`${coordinator.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  /** A request signed by an encoder's did:key, as the encoder's own tools would send it. */
  const signed = async (identity: Identity, method: string, path: string, body?: unknown) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers = await signRequest(identity, {
      method,
      path: `/api/v1${path}`,
      ...(text ? { body: text } : {}),
    });
    const r = await fetch(`${coordinator.url}/api/v1${path}`, {
      method,
      headers: { ...headers, ...(text ? { 'content-type': 'application/json' } : {}) },
      ...(text ? { body: text } : {}),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  const waitFor = <T>(what: string, fn: () => Promise<T | false | undefined>, ms = 120_000) =>
    until(what, ms, fn);

  /** A community encoder node; the cheater drops the last segments of its upload (and says so in its hashes). */
  const startNode = async (name: string, cheat: boolean) => {
    const node = await startCommunityNode({
      coordinatorUrl: coordinator.url,
      root,
      name,
      ...(cheat ? { cheat: dropLastSegments } : {}),
    });
    stops.push(node.stop);
    return node;
  };

  /**
   * The honest encoder as a real process: `vidmesh encoder --coordinator URL` (a community node: no API
   * key, its did:key from `ENCODER_PRIVATE_KEY`), found by its did once it registered.
   */
  const startEncoderProcess = async (name: string) => {
    const seed = randomBytes(32).toString('base64');
    const identity = identityFromSeed(seed);
    const dir = await mkdtemp(join(root, `proc-${name}-`));
    const child = spawn(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
        'encoder',
        '--coordinator',
        coordinator.url,
        '--name',
        name,
        '--hwaccel',
        'none',
        '--data-dir',
        dir,
      ],
      {
        env: { ...process.env, ENCODER_PRIVATE_KEY: seed, VIDMESH_HEARTBEAT_MS: '1000', LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const stop = async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    };
    stops.push(stop);
    const encoder = await waitFor(`${name} registered (stderr: ${stderr})`, async () =>
      (await coordinator.store.listEncoders()).find((e) => e.did === identity.did),
    );
    return { identity, encoderId: encoder.id, stop };
  };

  /** Publishes an offer and binds the encoder's did:key to `account` with a Keychain-style signature. */
  const bindOffer = async (n: { identity: Identity; encoderId: string }, account: string) => {
    const statement = bindingStatement(n.identity.did, account, new Date());
    const r = await signed(n.identity, 'POST', '/community/offers', {
      encoderId: n.encoderId,
      prices: { sd: '0.500' },
      maxConcurrent: 1,
      hive: { account, statement, signature: signBuffer(statement, keys[account]!.posting) },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.hiveAccount, account);
  };

  const submit = async (maxPrice: string) => {
    const r = await api('POST', '/jobs', {
      source: { type: 'upload', id: uploadId },
      ladder: LADDER,
      network: 'community',
      market: { maxPrice },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return (r.body.job as { id: string }).id;
  };

  const balance = async () => (await api('GET', '/wallet')).body.balance as string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-market-'));
    const clip = await makeClip(join(root, 'clip.mp4'), { seconds: 4 });
    hive = await startHiveNode();
    keys['vidmesh-op'] = hive.createAccount('vidmesh-op', 0);
    keys.alice = hive.createAccount('alice', 100_000);
    keys['bob-encoder'] = hive.createAccount('bob-encoder', 0);
    keys.mallory = hive.createAccount('mallory', 0);
    // The active key is given sealed with the coordinator's server key, as docs/marketplace.md says.
    const serverKey = randomBytes(32);
    const dataDir = join(root, 'coordinator');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeFile(join(dataDir, 'secret-key'), `${serverKey.toString('base64')}\n`, { mode: 0o600 });
    const sealedKey = createSecretBox(serverKey).seal(keys['vidmesh-op'].active, HIVE_ACTIVE_KEY_CONTEXT);
    coordinator = await startCoordinator(
      loadConfig({
        flags: {
          port: 0,
          host: '127.0.0.1',
          dataDir,
          encoders: 0,
          logLevel: 'silent',
          databaseUrl: tdb.current.url,
          heartbeatMs: 1000,
          verifySuspendAfter: 1,
          maintenanceIntervalMs: 500,
          marketIntervalMs: 300,
          marketFeeBps: 500,
          hiveNode: hive.url,
          hiveAccount: 'vidmesh-op',
          hiveActiveKey: sealedKey,
        },
        env: {},
      }),
    );
    const k = await api('POST', '/keys', { scopes: ['submit', 'read'], tenant: 'acme' }, coordinator.apiKey);
    key = k.body.plaintext as string;
    uploadId = (await createClient({ url: coordinator.url, apiKey: key }).upload(clip)).upload.id;
  });

  after(async () => {
    for (const stop of stops) await stop().catch(() => {});
    await coordinator?.stop({ graceMs: 0 });
    await hive?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('deposit → bid → accept → encode → verify → paid on Hive; a cheater is refunded, unpaid, and the job reopens', async () => {
    // 1. Deposit: a deposit id, then a signed HBD transfer with it as memo; the watcher credits it once.
    const dep = await api('POST', '/wallet/deposits');
    assert.equal(dep.status, 201);
    assert.equal(dep.body.to, 'vidmesh-op');
    await hive.transfer('alice', 'vidmesh-op', 20_000, dep.body.memo as string);
    await waitFor('deposit credited', async () => (await balance()) === '20.000');

    // 2. Two community encoders bind their did:key to Hive accounts and publish offers.
    const honest = await startEncoderProcess('honest');
    await bindOffer(honest, 'bob-encoder');
    const cheater = await startNode('cheater', true);
    await bindOffer(cheater, 'mallory');

    // 3. A priced community job is held: no encoder claims it before a bid is accepted.
    const cheatJob = await submit('5.000');
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal((await coordinator.store.get(cheatJob)).status, 'queued', 'held for the market');
    const open = await signed(cheater.identity, 'GET', '/community/orders');
    const listed = (open.body.orders as Array<{ jobId: string; maxPrice: string; durationS: number }>).find(
      (o) => o.jobId === cheatJob,
    );
    assert.equal(listed?.maxPrice, '5.000');
    assert.ok((listed?.durationS ?? 0) > 3, 'the quote basis (probed duration) is published');
    // A bid above the maximum is refused; a bid within it is auto-accepted and held in escrow.
    const tooDear = await signed(cheater.identity, 'POST', '/community/bids', {
      encoderId: cheater.encoderId,
      jobId: cheatJob,
      price: '5.001',
    });
    assert.equal(tooDear.status, 400, JSON.stringify(tooDear.body));
    const cheatBid = await signed(cheater.identity, 'POST', '/community/bids', {
      encoderId: cheater.encoderId,
      jobId: cheatJob,
      price: '1.500',
    });
    assert.equal(cheatBid.status, 201, JSON.stringify(cheatBid.body));
    assert.equal((cheatBid.body.bid as { state: string }).state, 'accepted');
    assert.equal(await balance(), '18.500');
    // The honest node cannot take the job reserved for the cheater, even by bidding now.
    const late = await signed(honest.identity, 'POST', '/community/bids', {
      encoderId: honest.encoderId,
      jobId: cheatJob,
      price: '1.000',
    });
    assert.equal(late.status, 409, JSON.stringify(late.body));

    // 4. The cheater encodes, drops segments, fails verification: refunded, unpaid, order reopened.
    await waitFor('the cheater rejected and refunded', async () => {
      const o = await api('GET', `/community/jobs/${cheatJob}`);
      return (o.body.order as { state: string }).state === 'open' && (await balance()) === '20.000';
    });
    const logs = (await coordinator.store.getLogs(cheatJob, { limit: 10_000 })).map((l) => l.line).join('\n');
    assert.match(logs, /FAIL plan: .*duration/);
    const afterCheat = await api('GET', `/community/jobs/${cheatJob}`);
    assert.deepEqual(
      (afterCheat.body.bids as Array<{ encoderId: string; state: string }>).map((b) => [
        b.encoderId,
        b.state,
      ]),
      [[cheater.encoderId, 'refunded']],
    );
    assert.equal(
      hive.transfers.filter((t) => t.to === 'mallory').length,
      0,
      'no HBD ever went to the cheater',
    );
    await cheater.stop();

    // 5. The reopened job goes to the honest encoder's bid, is verified and paid.
    const goodBid = await signed(honest.identity, 'POST', '/community/bids', {
      encoderId: honest.encoderId,
      jobId: cheatJob,
      price: '2.000',
    });
    assert.equal(goodBid.status, 201, JSON.stringify(goodBid.body));
    assert.equal((goodBid.body.bid as { state: string }).state, 'accepted');
    assert.equal(await balance(), '18.000');
    const paid = await waitFor('the honest encoder paid on Hive', async () =>
      hive.transfers.find((t) => t.to === 'bob-encoder'),
    );
    assert.deepEqual(
      { from: paid.from, amount: paid.amount, memo: paid.memo },
      { from: 'vidmesh-op', amount: 1_900, memo: `vidmesh job ${cheatJob}` },
      'price 2.000 less the 5 % fee, signed by the operator key and verified by the node',
    );
    const job = await coordinator.store.get(cheatJob);
    assert.equal(job.status, 'completed');
    assert.equal(job.encoderId, honest.encoderId);
    assert.equal((job.result as { verification?: { ok: boolean } }).verification?.ok, true);
    const order = (await api('GET', `/community/jobs/${cheatJob}`)).body.order as {
      state: string;
      fee: string;
    };
    assert.deepEqual([order.state, order.fee], ['paid', '0.100']);

    // 6. The ledger balances: every account as expected, the sum zero, the Hive side agreeing.
    const ledger = createLedger(coordinator.db);
    await waitFor('payout confirmed', async () => {
      const w = await signed(honest.identity, 'GET', `/community/wallet/${honest.encoderId}`);
      const kinds = (w.body.entries as Array<{ kind: string }>).map((e) => e.kind);
      return kinds.includes('payout') && w.body.balance === '0.000';
    });
    assert.deepEqual(await ledger.trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
    assert.equal(await ledger.balance(userAccount('acme')), 18_000);
    assert.equal(await ledger.balance(escrowAccount(cheatJob)), 0);
    assert.equal(await ledger.balance(encoderAccount(honest.encoderId)), 0);
    assert.equal(await ledger.balance(encoderAccount(cheater.encoderId)), 0);
    assert.equal(await ledger.balance(PLATFORM_ACCOUNT), 100);
    assert.equal(hive.balance('vidmesh-op'), 20_000 - 1_900, 'the hot wallet paid out exactly once');
    const statement = await api('GET', '/wallet');
    assert.deepEqual(
      (statement.body.entries as Array<{ kind: string; amount: string }>).map((e) => [e.kind, e.amount]),
      [
        ['hold', '-2.000'],
        ['refund', '1.500'],
        ['hold', '-1.500'],
        ['deposit', '20.000'],
      ],
    );
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import {
  canonicalHiveRequest,
  createLedger,
  signBuffer,
  walletBindingStatement,
} from '../../src/market/index.js';
import { packageRoot } from '../../src/paths.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';
import { until } from '../helpers/processes.js';
import { deposit } from './helpers.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/**
 * Withdrawals through the API and CLI (`vidmesh serve` on PGlite with the Hive rail, the stand-in Hive
 * node): a Keychain user withdraws to its own account only, an API-key tenant only to the account it
 * verified with a Keychain-signed statement; the transfer is signed, seen by the node, and in the
 * statement.
 */
describe('withdrawals API and vidmesh wallet withdraw', () => {
  let root: string;
  let hive: HiveNode;
  let coordinator: RunningCoordinator;
  let alice: { posting: string; active: string };
  let bob: { posting: string; active: string };
  let acme = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-withdrawals-'));
    hive = await startHiveNode();
    const op = hive.createAccount('vidmesh-op', 1_000_000);
    alice = hive.createAccount('alice', 50_000);
    bob = hive.createAccount('bob', 0);
    coordinator = await startTestCoordinator(join(root, 'coordinator'), {
      hiveNode: hive.url,
      hiveAccount: 'vidmesh-op',
      hiveActiveKey: op.active,
      marketIntervalMs: 200,
    });
    acme = await createTenantKey(coordinator, 'acme');
  });
  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await hive?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** A request signed by `account` with Hive Keychain (its posting key), as the dashboard sends it. */
  const asHive = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    account = 'alice',
    key = alice.posting,
  ) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const issued = new Date().toISOString();
    const nonce = randomBytes(12).toString('base64url');
    const message = canonicalHiveRequest({
      account,
      method,
      path: `/api/v1${path}`,
      bodySha256: createHash('sha256').update(text).digest('hex'),
      issued,
      nonce,
    });
    const authorization = `HiveKeychain account="${account}", issued="${issued}", nonce="${nonce}", signature="${signBuffer(message, key)}"`;
    const r = await fetch(`${coordinator.url}/api/v1${path}`, {
      method,
      headers: { authorization, ...headers, ...(text ? { 'content-type': 'application/json' } : {}) },
      ...(text ? { body: text } : {}),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const asKey = async (
    key: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const r = await fetch(`${coordinator.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...headers,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  test('a Keychain user withdraws to its own Hive account once per Idempotency-Key; the node applies the signed transfer and the statement shows it', async () => {
    const dep = await asHive('POST', '/wallet/deposits');
    assert.equal(dep.status, 201, JSON.stringify(dep.body));
    await hive.transfer('alice', 'vidmesh-op', 5_000, dep.body.id as string);
    await until(
      'the deposit is credited',
      30_000,
      async () => (await asHive('GET', '/wallet')).body.balance === '5.000',
    );

    const refusals: Array<[string, Awaited<ReturnType<typeof asHive>>, number, string]> = [
      ['no Idempotency-Key', await asHive('POST', '/wallet/withdrawals', { amount: '1.000' }), 400, ''],
      [
        'a destination in the body',
        await asHive(
          'POST',
          '/wallet/withdrawals',
          { amount: '1.000', to: 'bob' },
          { 'idempotency-key': 'x1' },
        ),
        400,
        '',
      ],
      [
        'below the minimum',
        await asHive('POST', '/wallet/withdrawals', { amount: '0.999' }, { 'idempotency-key': 'x2' }),
        422,
        'withdrawal_limit',
      ],
      [
        'beyond the balance',
        await asHive('POST', '/wallet/withdrawals', { amount: '5.001' }, { 'idempotency-key': 'x3' }),
        402,
        'insufficient_funds',
      ],
      [
        'not an amount',
        await asHive('POST', '/wallet/withdrawals', { amount: '1e3' }, { 'idempotency-key': 'x4' }),
        400,
        '',
      ],
    ];
    for (const [name, r, status, code] of refusals) {
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
      if (code) assert.equal(r.body.code, code, name);
    }

    const first = await asHive(
      'POST',
      '/wallet/withdrawals',
      { amount: '2.000' },
      { 'idempotency-key': 'w1' },
    );
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.hiveAccount, 'alice');
    const again = await asHive(
      'POST',
      '/wallet/withdrawals',
      { amount: '2.000' },
      { 'idempotency-key': 'w1' },
    );
    assert.equal(again.status, 200);
    assert.equal(again.body.id, first.body.id, 'the same key answers the first withdrawal');
    const reused = await asHive(
      'POST',
      '/wallet/withdrawals',
      { amount: '3.000' },
      { 'idempotency-key': 'w1' },
    );
    assert.equal(reused.status, 422);
    assert.equal(reused.body.code, 'idempotency_key_reused');

    const list = await until('the withdrawal is confirmed', 30_000, async () => {
      const r = await asHive('GET', '/wallet/withdrawals');
      return (r.body.withdrawals as Array<{ state: string }>)[0]?.state === 'confirmed' && r;
    });
    assert.equal(list.body.hiveAccount, 'alice');
    assert.equal(list.body.min, '1.000');
    const [w] = list.body.withdrawals as Array<{ id: string; trxId: string; amount: string }>;
    const sent = hive.transfers.filter((t) => t.to === 'alice' && t.from === 'vidmesh-op');
    assert.equal(sent.length, 1, 'one transfer, not two');
    assert.equal(sent[0]!.amount, 2_000);
    assert.equal(sent[0]!.trxId, w!.trxId);
    const wallet = await asHive('GET', '/wallet');
    assert.equal(wallet.body.balance, '3.000');
    const entries = wallet.body.entries as Array<{ kind: string; amount: string; memo: string }>;
    assert.deepEqual(
      entries.map((e) => [e.kind, e.amount]),
      [
        ['withdrawal', '-2.000'],
        ['deposit', '5.000'],
      ],
    );
    assert.equal(entries[0]!.memo, '@alice');
    assert.deepEqual(
      (wallet.body.withdrawals as Array<{ id: string; state: string }>).map((x) => [x.id, x.state]),
      [[w!.id, 'confirmed']],
    );
  });

  test('an API-key tenant withdraws only to the account the operator bound with its Keychain-signed statement (its own key may not bind); vidmesh wallet withdraw sends it', async () => {
    await deposit(createLedger(coordinator.db), 'acme', 4_000);
    const none = await asKey(
      acme,
      'POST',
      '/wallet/withdrawals',
      { amount: '1.000' },
      { 'idempotency-key': 'a1' },
    );
    assert.equal(none.status, 409);
    assert.equal(none.body.code, 'hive_account_required');

    const statement = walletBindingStatement('acme', 'bob', new Date());
    const bad: Array<[string, Record<string, string>, number]> = [
      [
        'signed by alice for bob',
        { account: 'bob', statement, signature: signBuffer(statement, alice.posting) },
        401,
      ],
      [
        'a statement for another payer',
        (() => {
          const s = walletBindingStatement('globex', 'bob', new Date());
          return { account: 'bob', statement: s, signature: signBuffer(s, bob.posting) };
        })(),
        400,
      ],
      [
        'stale',
        (() => {
          const s = walletBindingStatement('acme', 'bob', new Date(Date.now() - 3_600_000));
          return { account: 'bob', statement: s, signature: signBuffer(s, bob.posting) };
        })(),
        400,
      ],
    ];
    for (const [name, body, status] of bad) {
      const r = await asKey(coordinator.apiKey, 'PUT', '/wallet/hive-account', { tenant: 'acme', ...body });
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
    }
    // The tenant's own (submit) key may not choose where its money goes, even with a valid signature.
    const own = await asKey(acme, 'PUT', '/wallet/hive-account', {
      account: 'bob',
      statement,
      signature: signBuffer(statement, bob.posting),
    });
    assert.equal(own.status, 403, JSON.stringify(own.body));
    const ok = await asKey(coordinator.apiKey, 'PUT', '/wallet/hive-account', {
      tenant: 'acme',
      account: 'bob',
      statement,
      signature: signBuffer(statement, bob.posting),
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));

    const env = { ...process.env, VIDMESH_URL: coordinator.url, VIDMESH_API_KEY: acme, VIDMESH_PROFILE: '' };
    const { stdout } = await run('node', [CLI, 'wallet', 'withdraw', '1.500'], { env, cwd: root });
    assert.match(stdout, /^withdrawal wd_\S+: 1\.500 HBD to @bob, (pending|signed|confirmed)\n$/);
    await until('bob received the withdrawal', 30_000, () => hive.balance('bob') === 1_500);
    const shown = await run('node', [CLI, 'wallet'], { env, cwd: root });
    assert.match(shown.stdout, /balance 2\.500 HBD/);
    assert.match(shown.stdout, /withdrawal\s+-1\.500/);
    assert.match(shown.stdout, /1\.500 HBD -> @bob/);
    // Another tenant's key sees none of it and cannot withdraw acme's money.
    const globex = await createTenantKey(coordinator, 'globex');
    const theirs = await asKey(globex, 'GET', '/wallet/withdrawals');
    assert.deepEqual(theirs.body.withdrawals, []);
    assert.equal(theirs.body.hiveAccount, null);
  });
});

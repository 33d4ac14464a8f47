import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHiveRpc } from '../../src/market/hive.js';
import { createLedger, userAccount } from '../../src/market/ledger.js';
import { createHiveRail } from '../../src/market/rail.js';
import { createWithdrawals, type WithdrawalLimits } from '../../src/market/withdrawals.js';
import { withTestDatabase } from '../helpers/db.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';
import { deposit } from './helpers.js';

/**
 * Withdrawals on real PostgreSQL (src/market/withdrawals.ts): the amount leaves the payer's balance
 * when the withdrawal is requested, concurrent requests on one balance never overdraw it, limits and
 * Idempotency-Keys hold under races, and a payout the stand-in Hive node never accepts is refunded.
 */
describe('withdrawals (PostgreSQL, stand-in Hive node)', () => {
  const tdb = withTestDatabase({ poolSize: 4 });
  let node: HiveNode;
  let operatorKey = '';
  const wide: WithdrawalLimits = { min: 1, dailyCap: 1_000_000_000 };

  before(async () => {
    node = await startHiveNode();
    operatorKey = node.createAccount('vidmesh-op', 100_000_000).active;
    node.createAccount('alice', 0);
    node.createAccount('capped', 0);
  });
  after(async () => {
    await node.close();
  });

  const railOf = (o: { maxAttempts?: number; clock?: () => Date } = {}) =>
    createHiveRail({
      db: tdb.current.db,
      ledger: createLedger(tdb.current.db),
      rpc: createHiveRpc(node.url),
      account: 'vidmesh-op',
      activeKey: operatorKey,
      chainId: node.chainId,
      broadcastTimeoutMs: 5_000,
      ...o,
    });

  test('concurrent withdrawals on one balance: exactly the affordable ones succeed, each key once, and the ledger sums to zero', async () => {
    const handles = [
      tdb.current.db,
      ...(await Promise.all([1, 2, 3].map(() => tdb.current.open({ poolSize: 6 })))),
    ];
    const ledger = createLedger(tdb.current.db);
    const payer = 'hive:alice';
    await deposit(ledger, payer, 10_000); // room for 14 withdrawals of 700
    const services = handles.map((db) => createWithdrawals({ db, ledger: createLedger(db), limits: wide }));
    // 30 withdrawals, each sent twice with its key (a retried request), over four pools at once.
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        services[i % 4]!.request({ payer, key: `race-${i % 30}`, amount: 700 }),
      ),
    );
    const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as { code?: string }] : []));
    assert.ok(
      refused.every((e) => e.code === 'insufficient_funds'),
      JSON.stringify(refused.map((e) => e.code)),
    );
    const created = new Set(ok.filter((r) => r.created).map((r) => r.withdrawal.id));
    assert.equal(created.size, 14, 'exactly the 14 affordable withdrawals were created');
    assert.ok(
      ok.every((r) => created.has(r.withdrawal.id)),
      'a repeated key answers its first withdrawal',
    );
    assert.equal(await ledger.balance(userAccount(payer)), 200);
    const list = await services[0]!.list(payer, 100);
    assert.equal(list.length, 14);
    assert.ok(list.every((w) => w.hiveAccount === 'alice' && w.state === 'pending' && w.amount === 700));
    assert.deepEqual(await ledger.trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
    const statement = await ledger.statement(userAccount(payer), { limit: 100 });
    assert.equal(statement.filter((l) => l.kind === 'withdrawal').length, 14);
  });

  test('the minimum and the rolling 24 h cap refuse with withdrawal_limit; a reused key for another amount is refused', async () => {
    const ledger = createLedger(tdb.current.db);
    await deposit(ledger, 'hive:capped', 50_000);
    let now = new Date('2026-12-01T10:00:00Z');
    const w = createWithdrawals({
      db: tdb.current.db,
      ledger,
      limits: { min: 1_000, dailyCap: 5_000 },
      clock: () => now,
    });
    await assert.rejects(w.request({ payer: 'hive:capped', key: 'small', amount: 999 }), {
      code: 'withdrawal_limit',
      status: 422,
    });
    await w.request({ payer: 'hive:capped', key: 'a', amount: 3_000 });
    await assert.rejects(w.request({ payer: 'hive:capped', key: 'a', amount: 2_000 }), {
      code: 'idempotency_key_reused',
      status: 422,
    });
    // Concurrent requests racing for the rest of the cap: one of 2 000 fits, the others are refused.
    const race = await Promise.allSettled(
      ['b', 'c', 'd'].map((key) => w.request({ payer: 'hive:capped', key, amount: 2_000 })),
    );
    assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of race.filter((x) => x.status === 'rejected')) {
      assert.equal((r as PromiseRejectedResult).reason.code, 'withdrawal_limit');
    }
    assert.equal(await ledger.balance(userAccount('hive:capped')), 45_000);
    // A day later the cap has room again.
    now = new Date(now.getTime() + 86_400_001);
    await w.request({ payer: 'hive:capped', key: 'e', amount: 5_000 });
    assert.equal(await ledger.balance(userAccount('hive:capped')), 40_000);
  });

  test('a payer with neither a Hive login nor a verified account has nowhere to withdraw to (409)', async () => {
    const ledger = createLedger(tdb.current.db);
    await deposit(ledger, 'acme', 5_000);
    const w = createWithdrawals({ db: tdb.current.db, ledger, limits: wide });
    await assert.rejects(w.request({ payer: 'acme', key: 'k', amount: 1_000 }), {
      code: 'hive_account_required',
      status: 409,
    });
    await w.verifyAccount({ payer: 'acme', hiveAccount: 'alice', statement: 's', signature: 'x' });
    const { withdrawal } = await w.request({ payer: 'acme', key: 'k', amount: 1_000 });
    assert.equal(withdrawal.hiveAccount, 'alice');
    assert.equal(await ledger.balance(userAccount('acme')), 4_000);
  });

  test('a withdrawal is paid to the stand-in node; one never accepted is failed after its expiry and refunded', async () => {
    const ledger = createLedger(tdb.current.db);
    // Settle what earlier tests queued, so only this test's payouts are open.
    assert.ok((await railOf().processPayouts(500)).every((p) => p.state === 'confirmed'));
    await deposit(ledger, 'hive:alice', 3_000);
    await deposit(ledger, 'hive:ghost', 3_000); // no such account on the node
    const w = createWithdrawals({ db: tdb.current.db, ledger, limits: wide });
    const paid = (await w.request({ payer: 'hive:alice', key: 'paid', amount: 1_234 })).withdrawal;
    const before = node.transfers.length;
    assert.deepEqual(await railOf().processPayouts(), [{ id: paid.id, state: 'confirmed' }]);
    const sent = node.transfers.slice(before);
    assert.deepEqual(
      sent.map((t) => [t.from, t.to, t.amount, t.memo]),
      [['vidmesh-op', 'alice', 1_234, `vidmesh withdrawal ${paid.id}`]],
    );
    assert.equal((await w.list('hive:alice', 1))[0]?.trxId, sent[0]!.trxId);

    // To a missing account: refused by the node, then given up once its signed transfer expired.
    const ghost = (await w.request({ payer: 'hive:ghost', key: 'ghost', amount: 2_000 })).withdrawal;
    assert.equal(await ledger.balance(userAccount('hive:ghost')), 1_000);
    assert.deepEqual(await railOf().processPayouts(), [{ id: ghost.id, state: 'signed' }]);
    const later = () => new Date(Date.now() + 3_600_000);
    assert.deepEqual(await railOf({ clock: later }).processPayouts(), [{ id: ghost.id, state: 'failed' }]);
    assert.equal(await ledger.balance(userAccount('hive:ghost')), 3_000, 'refunded');
    const [failed] = await w.list('hive:ghost', 1);
    assert.equal(failed?.state, 'failed');
    assert.match(failed?.lastError ?? '', /unknown account/);

    // To an existing account the node keeps refusing: failed after maxAttempts signed transfers expired.
    const stuck = (await w.request({ payer: 'hive:alice', key: 'stuck', amount: 500 })).withdrawal;
    node.failNextBroadcasts(1_000);
    try {
      assert.deepEqual(await railOf({ maxAttempts: 2 }).processPayouts(), [
        { id: stuck.id, state: 'signed' },
      ]);
      assert.deepEqual(await railOf({ maxAttempts: 2, clock: later }).processPayouts(), [
        { id: stuck.id, state: 'pending' },
      ]);
      assert.deepEqual(await railOf({ maxAttempts: 2 }).processPayouts(), [
        { id: stuck.id, state: 'signed' },
      ]);
      assert.deepEqual(await railOf({ maxAttempts: 2, clock: later }).processPayouts(), [
        { id: stuck.id, state: 'failed' },
      ]);
    } finally {
      node.failNextBroadcasts(0);
    }
    assert.deepEqual(await railOf().processPayouts(), [], 'a failed payout is never sent again');
    assert.equal(node.transfers.length, before + 1);
    assert.deepEqual(await ledger.trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
    const kinds = (await ledger.statement(userAccount('hive:ghost'))).map((l) => [l.kind, l.amount]);
    assert.deepEqual(kinds, [
      ['refund', 2_000],
      ['withdrawal', -2_000],
      ['deposit', 3_000],
    ]);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHiveAccounts, createHiveRpc, signBuffer } from '../../src/market/hive.js';
import { createLedger, EXTERNAL_ACCOUNT, userAccount } from '../../src/market/ledger.js';
import { createMarket } from '../../src/market/market.js';
import { createHiveRail, queuePayout } from '../../src/market/rail.js';
import { withTestDatabase } from '../helpers/db.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';

/**
 * The Hive rail against the stand-in Hive node (test/helpers/hive-node.ts: real condenser_api request
 * and response shapes, every broadcast's signature checked with dhive against the account's active
 * key). A testnet run is the next check (docs/marketplace.md).
 */
describe('Hive rail: deposits and payouts against the stand-in node', () => {
  const tdb = withTestDatabase();
  let node: HiveNode;
  let operatorKey = '';
  let alicePosting = '';
  const noJobs = { reserve: async () => {}, canEncode: async () => true };

  before(async () => {
    node = await startHiveNode();
    operatorKey = node.createAccount('vidmesh-op', 0).active;
    alicePosting = node.createAccount('alice', 50_000).posting;
    node.createAccount('encoder-bob', 0);
  });
  after(async () => {
    await node.close();
  });

  const railOf = (
    o: {
      activeKey?: string;
      broadcastTimeoutMs?: number;
      pageSize?: number;
      expireS?: number;
      clock?: () => Date;
    } = {},
  ) =>
    createHiveRail({
      db: tdb.current.db,
      ledger: createLedger(tdb.current.db),
      rpc: createHiveRpc(node.url),
      account: 'vidmesh-op',
      activeKey: o.activeKey ?? operatorKey,
      chainId: node.chainId,
      broadcastTimeoutMs: o.broadcastTimeoutMs ?? 5_000,
      pageSize: o.pageSize ?? 1000,
      ...(o.expireS ? { expireS: o.expireS } : {}),
      ...(o.clock ? { clock: o.clock } : {}),
    });

  test('a transfer with a deposit id as memo is credited once, across pages and restarts; others are not', async () => {
    const market = createMarket({ db: tdb.current.db, jobs: noJobs });
    const ledger = createLedger(tdb.current.db);
    const dep = await market.createDeposit('acme');
    // Noise before and after: another asset's memo, an unknown memo, and a transfer out of the account.
    await node.transfer('alice', 'vidmesh-op', 1_000, 'no-such-deposit');
    const trx = await node.transfer('alice', 'vidmesh-op', 12_345, dep.id);
    for (let i = 0; i < 5; i++) await node.transfer('alice', 'vidmesh-op', 10, `noise-${i}`);
    await node.transfer('alice', 'vidmesh-op', 2_000, ` ${dep.id} `);
    // Page size 2 makes the watcher walk the history backwards over several pages.
    const credited = await railOf({ pageSize: 2 }).pollDeposits();
    assert.deepEqual(
      credited.map((c) => c.amount),
      [12_345, 2_000],
    );
    assert.equal(credited[0]!.trxId, trx);
    assert.equal(await ledger.balance(userAccount('acme')), 14_345);
    // A restarted watcher (a new instance, the cursor in the database) credits nothing twice.
    assert.deepEqual(await railOf().pollDeposits(), []);
    await node.transfer('alice', 'vidmesh-op', 500, dep.id);
    assert.deepEqual(
      (await railOf({ pageSize: 3 }).pollDeposits()).map((c) => c.amount),
      [500],
    );
    assert.equal(await ledger.balance(userAccount('acme')), 14_845);
    assert.equal(await ledger.balance(EXTERNAL_ACCOUNT), -14_845);
    assert.ok(node.calls.includes('condenser_api.get_account_history'));
  });

  /** Funds `acme` then queues a payout of `amount` to encoder-bob; returns its id. */
  const queue = async (id: string, amount: number) => {
    const ledger = createLedger(tdb.current.db);
    await ledger.post({
      key: `fund:${id}`,
      kind: 'deposit',
      legs: [
        { account: EXTERNAL_ACCOUNT, amount: -amount },
        { account: userAccount(`payer-${id}`), amount },
      ],
    });
    await tdb.current.db.transaction((tx) =>
      queuePayout(
        ledger,
        tx,
        { id, account: userAccount(`payer-${id}`), hiveAccount: 'encoder-bob', amount, memo: `test ${id}` },
        new Date(),
      ),
    );
  };

  test('a payout is one dhive-signed transfer the node verified and applied, confirmed once', async () => {
    await queue('po_plain', 1_500);
    const before = node.transfers.length;
    const states = await railOf().processPayouts();
    assert.deepEqual(states, [{ id: 'po_plain', state: 'confirmed' }]);
    const sent = node.transfers.slice(before);
    assert.equal(sent.length, 1);
    assert.deepEqual(
      { from: sent[0]!.from, to: sent[0]!.to, amount: sent[0]!.amount, memo: sent[0]!.memo },
      { from: 'vidmesh-op', to: 'encoder-bob', amount: 1_500, memo: 'test po_plain' },
    );
    const p = await railOf().payout('po_plain');
    assert.equal(p?.trxId, sent[0]!.trxId, 'the recorded trx id is the one the node applied');
    assert.deepEqual(await railOf().processPayouts(), [], 'nothing left to pay');
  });

  test('a broadcast whose answer never comes is looked up by its trx id and not sent again', async () => {
    await queue('po_hang', 700);
    const before = node.transfers.length;
    node.hangNextBroadcasts(1);
    const states = await railOf({ broadcastTimeoutMs: 400 }).processPayouts();
    assert.deepEqual(states, [{ id: 'po_hang', state: 'confirmed' }]);
    assert.equal(node.transfers.length - before, 1, 'applied exactly once');
    assert.ok(node.calls.includes('condenser_api.get_transaction'));
  });

  test('a refused broadcast keeps its signed transaction and the next pass sends the same trx id', async () => {
    await queue('po_fail', 900);
    const before = node.transfers.length;
    node.failNextBroadcasts(1);
    assert.deepEqual(await railOf().processPayouts(), [{ id: 'po_fail', state: 'signed' }]);
    const signedId = (await railOf().payout('po_fail'))?.trxId;
    assert.ok(signedId);
    assert.deepEqual(await railOf().processPayouts(), [{ id: 'po_fail', state: 'confirmed' }]);
    const sent = node.transfers.slice(before);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.trxId, signedId);
  });

  test('a signed payout that expired unseen is signed afresh with a new trx id and lands once', async () => {
    await queue('po_expire', 400);
    const before = node.transfers.length;
    node.failNextBroadcasts(1);
    assert.deepEqual(await railOf({ expireS: 1 }).processPayouts(), [{ id: 'po_expire', state: 'signed' }]);
    const first = (await railOf().payout('po_expire'))?.trxId;
    await new Promise((r) => setTimeout(r, 1_500));
    // Past its expiration (and the margin): the node refuses it as expired, the lookup finds nothing.
    const later = () => new Date(Date.now() + 10_000);
    assert.deepEqual(await railOf({ clock: later }).processPayouts(), [
      { id: 'po_expire', state: 'pending' },
    ]);
    assert.deepEqual(await railOf().processPayouts(), [{ id: 'po_expire', state: 'confirmed' }]);
    const sent = node.transfers.slice(before);
    assert.equal(sent.length, 1, 'applied once');
    assert.notEqual(sent[0]!.trxId, first, 'a new transaction, not the expired one');
  });

  test('a payout signed with a key that is not the active key is refused by the node and never confirmed', async () => {
    await queue('po_wrongkey', 300);
    const before = node.transfers.length;
    const wrong = railOf({ activeKey: alicePosting });
    // Earlier payouts are confirmed, so only this one is open.
    assert.deepEqual(await wrong.processPayouts(), [{ id: 'po_wrongkey', state: 'signed' }]);
    assert.equal(node.transfers.length, before, 'nothing applied');
    assert.equal((await wrong.payout('po_wrongkey'))?.state, 'signed');
  });

  test('Keychain signatures verify against the posting key fetched by get_accounts; others are refused', async () => {
    const accounts = createHiveAccounts(createHiveRpc(node.url));
    const message = '{"action":"login","nonce":"n1"}';
    await accounts.verifyPosting('alice', message, signBuffer(message, alicePosting));
    await assert.rejects(accounts.verifyPosting('alice', `${message} `, signBuffer(message, alicePosting)), {
      code: 'hive_signature_invalid',
    });
    await assert.rejects(accounts.verifyPosting('alice', message, signBuffer(message, operatorKey)), {
      code: 'hive_signature_invalid',
    });
    await assert.rejects(accounts.verifyPosting('nobody-here', message, signBuffer(message, alicePosting)), {
      code: 'hive_signature_invalid',
    });
    await assert.rejects(accounts.verifyPosting('alice', message, 'zz'), { code: 'hive_signature_invalid' });
  });
});

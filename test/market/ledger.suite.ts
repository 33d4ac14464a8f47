import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createLedger,
  EXTERNAL_ACCOUNT,
  encoderAccount,
  escrowAccount,
  PLATFORM_ACCOUNT,
  userAccount,
} from '../../src/market/ledger.js';
import { type TestDriver, withTestDatabase } from '../helpers/db.js';

/** The escrow ledger's behaviour, run on PostgreSQL and on PGlite (ledger.pg.test.ts, ledger.pglite.test.ts). */
export function ledgerSuite(driver: TestDriver) {
  describe(`escrow ledger (${driver})`, () => {
    const tdb = withTestDatabase({ driver });

    test('deposit, hold, release with fee and refund move money between accounts and sum to zero', async () => {
      const ledger = createLedger(tdb.current.db);
      const alice = userAccount('t1:alice');
      await ledger.post({
        key: 'hive:trx1:0',
        kind: 'deposit',
        legs: [
          { account: EXTERNAL_ACCOUNT, amount: -10_000 },
          { account: alice, amount: 10_000 },
        ],
      });
      await ledger.post({
        key: 'hold:j1:b1',
        kind: 'hold',
        jobId: 'j1',
        legs: [
          { account: alice, amount: -3_000 },
          { account: escrowAccount('j1'), amount: 3_000 },
        ],
      });
      await ledger.post({
        key: 'release:j1:b1',
        kind: 'release',
        jobId: 'j1',
        legs: [
          { account: escrowAccount('j1'), amount: -3_000 },
          { account: encoderAccount('e1'), amount: 2_850 },
          { account: PLATFORM_ACCOUNT, amount: 150 },
        ],
      });
      await ledger.post({
        key: 'hold:j2:b2',
        kind: 'hold',
        legs: [
          { account: alice, amount: -2_000 },
          { account: escrowAccount('j2'), amount: 2_000 },
        ],
      });
      await ledger.post({
        key: 'refund:j2:b2',
        kind: 'refund',
        legs: [
          { account: escrowAccount('j2'), amount: -2_000 },
          { account: alice, amount: 2_000 },
        ],
      });
      assert.equal(await ledger.balance(alice), 7_000);
      assert.equal(await ledger.balance(encoderAccount('e1')), 2_850);
      assert.equal(await ledger.balance(PLATFORM_ACCOUNT), 150);
      assert.equal(await ledger.balance(escrowAccount('j1')), 0);
      assert.equal(await ledger.balance(EXTERNAL_ACCOUNT), -10_000);
      assert.deepEqual(await ledger.trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
      const lines = await ledger.statement(alice);
      assert.deepEqual(
        lines.map((l) => [l.kind, l.amount, l.balanceAfter]),
        [
          ['refund', 2_000, 7_000],
          ['hold', -2_000, 5_000],
          ['hold', -3_000, 7_000],
          ['deposit', 10_000, 10_000],
        ],
      );
      const page2 = await ledger.statement(alice, { before: lines[1]!.id, limit: 1 });
      assert.deepEqual(
        page2.map((l) => l.kind),
        ['hold'],
      );
    });

    test('a repeated key moves nothing; the same key with other legs is refused', async () => {
      const ledger = createLedger(tdb.current.db);
      const m = {
        key: 'hive:trx-repeat:0',
        kind: 'deposit' as const,
        legs: [
          { account: EXTERNAL_ACCOUNT, amount: -500 },
          { account: userAccount('t1:bob'), amount: 500 },
        ],
      };
      const first = await ledger.post(m);
      const again = await ledger.post(m);
      assert.equal(first.created, true);
      assert.equal(again.created, false);
      assert.equal(again.id, first.id);
      assert.equal(await ledger.balance(userAccount('t1:bob')), 500);
      await assert.rejects(
        ledger.post({
          ...m,
          legs: [
            { account: EXTERNAL_ACCOUNT, amount: -900 },
            { account: userAccount('t1:bob'), amount: 900 },
          ],
        }),
        { code: 'ledger_key_reused' },
      );
    });

    test('a hold beyond the balance is refused with insufficient_funds and leaves nothing behind', async () => {
      const ledger = createLedger(tdb.current.db);
      const carol = userAccount('t1:carol');
      await ledger.post({
        key: 'hive:trx-carol:0',
        kind: 'deposit',
        legs: [
          { account: EXTERNAL_ACCOUNT, amount: -1_000 },
          { account: carol, amount: 1_000 },
        ],
      });
      await assert.rejects(
        ledger.post({
          key: 'hold:jc:bc',
          kind: 'hold',
          legs: [
            { account: carol, amount: -1_001 },
            { account: escrowAccount('jc'), amount: 1_001 },
          ],
        }),
        { code: 'insufficient_funds', status: 402 },
      );
      assert.equal(await ledger.balance(carol), 1_000);
      assert.equal(await ledger.balance(escrowAccount('jc')), 0);
      // The refused key was rolled back with its legs: it can be used once the funds are there.
      assert.equal((await ledger.statement(carol)).length, 1);
    });

    test('unbalanced, empty or non-integer movements are refused before touching the database', async () => {
      const ledger = createLedger(tdb.current.db);
      const bad = [
        [{ account: userAccount('x'), amount: 5 }],
        [
          { account: userAccount('x'), amount: 5 },
          { account: EXTERNAL_ACCOUNT, amount: -4 },
        ],
        [
          { account: userAccount('x'), amount: 0.5 },
          { account: EXTERNAL_ACCOUNT, amount: -0.5 },
        ],
        [
          { account: 'nobody:x', amount: 5 },
          { account: EXTERNAL_ACCOUNT, amount: -5 },
        ],
      ];
      for (const legs of bad) {
        await assert.rejects(ledger.post({ key: 'bad', kind: 'deposit', legs }), {
          code: 'validation_failed',
        });
      }
    });
  });
}

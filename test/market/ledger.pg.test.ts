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
import { withTestDatabase } from '../helpers/db.js';
import { ledgerSuite } from './ledger.suite.js';

ledgerSuite('postgres');

describe('escrow ledger under concurrency (PostgreSQL)', () => {
  const tdb = withTestDatabase({ poolSize: 4 });

  test('many concurrent holds, releases and refunds on one payer never overdraw it and always sum to zero', async () => {
    // Four handles (pools) on one database, like four coordinators; 60 claimers race for one payer's
    // funds, each hold retried once (a lost response), each settled by release or refund, also twice.
    const handles = [
      tdb.current.db,
      ...(await Promise.all([1, 2, 3].map(() => tdb.current.open({ poolSize: 6 })))),
    ];
    const ledgers = handles.map((h) => createLedger(h));
    const payer = userAccount('t1:race');
    const price = 700;
    const funds = 20_000; // room for 28 holds of 700
    await ledgers[0]!.post({
      key: 'hive:race:0',
      kind: 'deposit',
      legs: [
        { account: EXTERNAL_ACCOUNT, amount: -funds },
        { account: payer, amount: funds },
      ],
    });
    const held: number[] = [];
    let refused = 0;
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const ledger = ledgers[i % ledgers.length]!;
        const hold = {
          key: `hold:job${i}:bid${i}`,
          kind: 'hold' as const,
          jobId: `job${i}`,
          legs: [
            { account: payer, amount: -price },
            { account: escrowAccount(`job${i}`), amount: price },
          ],
        };
        // Both copies of one hold race; a copy refused for funds may be followed by one that succeeds
        // once a refund came in, so the hold counts when either went through.
        const [a, b] = await Promise.allSettled([ledger.post(hold), ledgers[(i + 1) % 4]!.post(hold)]);
        const ok = [a, b].filter((r) => r.status === 'fulfilled');
        for (const r of [a, b]) {
          if (r.status === 'rejected')
            assert.equal((r.reason as { code?: string }).code, 'insufficient_funds');
        }
        if (ok.length === 2) assert.equal(ok[0]!.value.id, ok[1]!.value.id, 'one hold per key');
        if (ok.length === 0) {
          refused++;
          return;
        }
        held.push(i);
        const settle =
          i % 3 === 0
            ? {
                key: `refund:job${i}:bid${i}`,
                kind: 'refund' as const,
                legs: [
                  { account: escrowAccount(`job${i}`), amount: -price },
                  { account: payer, amount: price },
                ],
              }
            : {
                key: `release:job${i}:bid${i}`,
                kind: 'release' as const,
                legs: [
                  { account: escrowAccount(`job${i}`), amount: -price },
                  { account: encoderAccount(`enc${i % 5}`), amount: price - 35 },
                  { account: PLATFORM_ACCOUNT, amount: 35 },
                ],
              };
        await Promise.all([ledger.post(settle), ledgers[(i + 2) % 4]!.post(settle)]);
      }),
    );
    const trial = await ledgers[0]!.trialBalance();
    assert.deepEqual(trial, { balances: 0, entries: 0, negative: 0, drifted: 0 });
    // Refunds return funds, so more than 28 holds may succeed over time, but the payer's balance is
    // exactly the deposit less what was released, and no escrow keeps anything.
    const released = held.filter((i) => i % 3 !== 0).length;
    assert.equal(held.length + refused, 60);
    assert.ok(held.length >= 28, `at least the funded holds succeeded: ${held.length}`);
    assert.equal(await ledgers[1]!.balance(payer), funds - released * price);
    assert.equal(await ledgers[2]!.balance(PLATFORM_ACCOUNT), released * 35);
    for (const i of held) assert.equal(await ledgers[3]!.balance(escrowAccount(`job${i}`)), 0);
  });
});

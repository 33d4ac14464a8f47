import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createJobStore } from '../../src/jobs/index.js';
import { createLedger, escrowAccount, userAccount } from '../../src/market/ledger.js';
import { createMarket } from '../../src/market/market.js';
import { createReputationStore } from '../../src/trust/index.js';
import { withTestDatabase } from '../helpers/db.js';
import { boundEncoder, deposit, plainCapabilities, pricedJob } from './helpers.js';

/**
 * The marketplace's order lifecycle on PGlite (the embedded database of `vidmesh serve`): selection
 * from offers when nobody bids, the accept deadline, a dead or cancelled job, and the claim gate.
 */
describe('market orders on PGlite: selection, deadline, failure, cancellation', () => {
  const tdb = withTestDatabase({ driver: 'pglite' });
  const caps = plainCapabilities;
  let now = new Date('2026-12-06T10:00:00Z');
  const clock = () => now;

  const setup = async () => {
    const db = tdb.current.db;
    const store = createJobStore(db, { clock });
    const market = createMarket({
      db,
      jobs: store,
      clock,
      bidWindowMs: 30_000,
      acceptTimeoutMs: 600_000,
      feeBps: 0,
    });
    const ledger = createLedger(db, { clock });
    return { db, store, market, ledger };
  };
  const community = { kind: 'community' as const, scope: { kind: 'community' as const } };

  test('an auto-accept order nobody bid on goes to the best score × price offer after the bid window', async () => {
    const { store, market, ledger } = await setup();
    for (const [id, price, passes] of [
      ['sel-cheap-new', 100, 0],
      ['sel-proven', 150, 20],
      ['sel-dear', 900, 50],
    ] as const) {
      await boundEncoder(store, market, id, { prices: { sd: price } });
      const rep = createReputationStore(tdb.current.db, clock);
      for (let i = 0; i < passes; i++) await rep.record(id, { ok: true });
    }
    await deposit(ledger, 'sel', 5_000);
    const job = await pricedJob(store, market, {
      payer: 'sel',
      maxPrice: 1_000,
      durationS: 120,
      heights: [240],
    });
    assert.deepEqual(await market.settle(), [], 'nothing before the bid window');
    now = new Date(now.getTime() + 31_000);
    const out = await market.settle();
    // cheap-new: score 0.5 / quote 200; proven: 21/22 / 300; dear: quote 1800 > max, out.
    assert.deepEqual(out, [{ jobId: job.id, action: 'selected', encoderId: 'sel-proven' }]);
    const order = await market.getOrder(job.id);
    assert.deepEqual([order.state, order.encoderId, order.price], ['accepted', 'sel-proven', 300]);
    assert.equal(await ledger.balance(escrowAccount(job.id)), 300);
    // The claim gate: only the selected encoder leases it.
    assert.equal(await store.claim({ id: 'sel-cheap-new', ...community }, caps), null);
    assert.equal((await store.claim({ id: 'sel-proven', ...community }, caps))?.job.id, job.id);
  });

  test('an accepted encoder that never takes the job is refunded after the deadline and the order reopens', async () => {
    const { store, market, ledger } = await setup();
    await boundEncoder(store, market, 'late');
    await deposit(ledger, 'late-payer', 1_000);
    const job = await pricedJob(store, market, { payer: 'late-payer', maxPrice: 1_000 });
    const bid = await market.bid('late', job.id, 700);
    assert.equal(bid.state, 'accepted');
    assert.equal(await ledger.balance(userAccount('late-payer')), 300);
    // A second job's auto-accept bid finds no funds (300 left): it stays open, and is accepted by a
    // later settlement pass once a deposit came in.
    const second = await pricedJob(store, market, { payer: 'late-payer', maxPrice: 1_000 });
    await boundEncoder(store, market, 'patient');
    assert.equal((await market.bid('patient', second.id, 500)).state, 'open');
    assert.deepEqual(await market.settle(), [], 'still no funds');
    await deposit(ledger, 'late-payer', 500);
    const acceptedAt = now;
    now = new Date(now.getTime() + 300_000);
    assert.deepEqual(await market.settle(), [{ jobId: second.id, action: 'selected', encoderId: 'patient' }]);
    assert.equal(await ledger.balance(userAccount('late-payer')), 300);
    now = new Date(acceptedAt.getTime() + 601_000);
    assert.deepEqual(
      (await market.settle()).map((o) => o.action),
      ['refund-reopen'],
    );
    assert.equal(await ledger.balance(userAccount('late-payer')), 1_000);
    assert.equal((await market.getOrder(job.id)).state, 'open');
    assert.equal((await market.getOrder(second.id)).state, 'accepted', 'its deadline has not passed');
    // Held again for the next accepted bid: the late encoder cannot claim it any more.
    assert.equal(await store.claim({ id: 'late', ...community }, caps), null);
  });

  test('a dead job refunds its escrow and closes; a cancelled job with an open order closes with nothing held', async () => {
    const { store, market, ledger } = await setup();
    await boundEncoder(store, market, 'dies');
    await deposit(ledger, 'd-payer', 2_000);
    const job = await pricedJob(store, market, {
      payer: 'd-payer',
      maxPrice: 2_000,
      job: { maxAttempts: 1 },
    });
    await market.bid('dies', job.id, 1_500);
    const claim = await store.claim({ id: 'dies', ...community }, caps);
    assert.ok(claim);
    await store.fail(
      job.id,
      claim.leaseToken,
      'dies',
      { code: 'boom', message: 'boom' },
      { retryable: false },
    );
    assert.deepEqual(
      (await market.settle()).map((o) => [o.jobId, o.action]),
      [[job.id, 'refund-close']],
    );
    assert.equal(await ledger.balance(userAccount('d-payer')), 2_000);
    assert.deepEqual(
      (await market.bids(job.id)).map((b) => b.state),
      ['refunded'],
    );
    const other = await pricedJob(store, market, { payer: 'd-payer', maxPrice: 2_000, autoAccept: false });
    await store.cancel(other.id);
    assert.deepEqual(
      (await market.settle()).map((o) => [o.jobId, o.action]),
      [[other.id, 'close']],
    );
    assert.equal((await market.getOrder(other.id)).state, 'refunded');
    await assert.rejects(market.bid('dies', other.id, 100), { code: 'market_conflict' });
    assert.deepEqual(await ledger.trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createJobStore, type JobStore } from '../../src/jobs/index.js';
import { createLedger, EXTERNAL_ACCOUNT, escrowAccount, userAccount } from '../../src/market/ledger.js';
import { createMarket, type Market } from '../../src/market/market.js';
import { withTestDatabase } from '../helpers/db.js';

/**
 * The marketplace's money and claim gate under concurrency on real PostgreSQL: many encoders bid on
 * and claim priced jobs through several coordinators (pools) at once, concurrent accepts and
 * settlement passes race, and still each job has one accepted bid, one escrow hold, only the accepted
 * encoder leases it, and one release or refund; the ledger sums to zero with no negative balance.
 */
describe('marketplace under concurrent bids, accepts, claims and settlements (PostgreSQL)', () => {
  const tdb = withTestDatabase({ poolSize: 6 });
  const caps = { codecs: ['h264'], hwaccel: [], maxHeight: 4320, concurrency: 1, tags: [] };

  test('each priced job gets exactly one accepted bid, is leased only by its winner, and is settled once', async () => {
    const handles = [
      tdb.current.db,
      ...(await Promise.all([1, 2, 3].map(() => tdb.current.open({ poolSize: 6 })))),
    ];
    const stores: JobStore[] = handles.map((h) => createJobStore(h, { pollIntervalMs: 100 }));
    const markets: Market[] = handles.map((h, i) =>
      createMarket({ db: h, jobs: stores[i]!, feeBps: 1000, bidWindowMs: 3_600_000 }),
    );
    const encoders = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        stores[0]!.registerEncoder({
          id: `enc-${i}`,
          name: `enc-${i}`,
          kind: 'community',
          capabilities: caps,
        }),
      ),
    );
    for (const e of encoders) {
      await markets[0]!.bind({
        encoderId: e.id,
        did: `did:key:test${e.id}`,
        hiveAccount: `acct-${e.id}`,
        statement: 's',
        signature: 'x',
      });
      await markets[0]!.putOffer(e.id, { prices: { sd: 100 }, maxConcurrent: 10 });
    }
    // The payer can fund at most 6 of the 10 jobs (each bid is 0.500 to 0.999 HBD).
    const ledger = createLedger(handles[0]!);
    await ledger.post({
      key: 'hive:fund:0',
      kind: 'deposit',
      legs: [
        { account: EXTERNAL_ACCOUNT, amount: -3_000 },
        { account: userAccount('acme'), amount: 3_000 },
      ],
    });
    const jobIds: string[] = [];
    for (let j = 0; j < 10; j++) {
      const job = await stores[j % 4]!.submit({
        spec: { n: j },
        renditions: ['240p'],
        tenant: 'acme',
        network: 'community',
        reservedFor: '',
      });
      await markets[j % 4]!.openOrder({ jobId: job.id, payer: 'acme', maxPrice: 1_000, autoAccept: false });
      jobIds.push(job.id);
    }
    // Every encoder bids on every job, through different coordinators, all at once.
    const bids = await Promise.all(
      jobIds.flatMap((jobId, j) =>
        encoders.map((e, i) => markets[(i + j) % 4]!.bid(e.id, jobId, 500 + ((i * 37 + j * 11) % 500))),
      ),
    );
    // Meanwhile every encoder keeps claiming: a held job must never be leased.
    const early = await Promise.all(
      encoders.map((e) =>
        stores[0]!.claim({ id: e.id, kind: 'community', scope: { kind: 'community' } }, caps),
      ),
    );
    assert.deepEqual(early.filter(Boolean), [], 'no held job is claimable');
    // The payer accepts every bid of every job concurrently, from all coordinators: one wins per job.
    const results = await Promise.allSettled(
      bids.map((b, k) => markets[k % 4]!.accept(b.jobId, b.id, { payer: 'acme' })),
    );
    const codes = results.flatMap((r) =>
      r.status === 'rejected' ? [(r.reason as { code?: string }).code] : [],
    );
    assert.ok(
      codes.every((c) => c === 'market_conflict' || c === 'insufficient_funds'),
      `only conflicts and insufficient funds: ${[...new Set(codes)]}`,
    );
    const orders = await Promise.all(jobIds.map((id) => markets[0]!.getOrder(id)));
    const accepted = orders.filter((o) => o.state === 'accepted');
    assert.ok(accepted.length >= 1 && accepted.length <= 6, `accepted within funds: ${accepted.length}`);
    for (const o of accepted) {
      const theirBids = await markets[1]!.bids(o.jobId);
      assert.equal(theirBids.filter((b) => b.state === 'accepted').length, 1, 'one accepted bid per job');
      assert.equal(await ledger.balance(escrowAccount(o.jobId)), o.price, 'one hold per job');
    }
    const held = accepted.reduce((s, o) => s + (o.price ?? 0), 0);
    assert.equal(await ledger.balance(userAccount('acme')), 3_000 - held);

    // All encoders claim at once, in rounds (one may have won several jobs): each accepted job goes
    // to its winner only.
    const claims: Array<NonNullable<Awaited<ReturnType<JobStore['claim']>>>> = [];
    for (;;) {
      const round = (
        await Promise.all(
          encoders.map((e, i) =>
            stores[i % 4]!.claim({ id: e.id, kind: 'community', scope: { kind: 'community' } }, caps),
          ),
        )
      ).filter((c) => c !== null);
      if (round.length === 0) break;
      claims.push(...round);
    }
    assert.equal(claims.length, accepted.length);
    for (const c of claims) {
      assert.equal(
        c.job.encoderId,
        accepted.find((o) => o.jobId === c.job.id)?.encoderId,
        'leased by its winner',
      );
    }
    // Half complete, half die; four coordinators settle at once, twice.
    for (const [k, c] of claims.entries()) {
      if (k % 2 === 0)
        await stores[0]!.complete(c.job.id, c.leaseToken, c.job.encoderId!, { result: { ok: true } });
      else
        await stores[0]!.fail(
          c.job.id,
          c.leaseToken,
          c.job.encoderId!,
          { code: 'x', message: 'x' },
          { retryable: false },
        );
    }
    const outcomes = (await Promise.all([...markets, ...markets].map((m) => m.settle()))).flat();
    const released = outcomes.filter((o) => o.action === 'release');
    const refunded = outcomes.filter((o) => o.action === 'refund-close');
    assert.equal(released.length, Math.ceil(claims.length / 2), 'each completed job released once');
    assert.equal(refunded.length, Math.floor(claims.length / 2), 'each dead job refunded once');
    const paidPrice = claims
      .filter((_, k) => k % 2 === 0)
      .reduce((s, c) => s + (accepted.find((o) => o.jobId === c.job.id)?.price ?? 0), 0);
    assert.equal(await ledger.balance(userAccount('acme')), 3_000 - paidPrice);
    // Unbound earnings would stay on the encoder accounts; these are bound, so payouts took them out.
    assert.equal(await ledger.balance(EXTERNAL_ACCOUNT), -3_000 + paidPrice - sumFees(accepted, claims));
    assert.deepEqual(await ledger.trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
    for (const s of stores) await s.close();
  });
});

/** The platform fees of the completed (even-indexed) claims: 10 % of each price, rounded down. */
function sumFees(
  accepted: Array<{ jobId: string; price: number | null }>,
  claims: Array<{ job: { id: string } }>,
): number {
  return claims
    .filter((_, k) => k % 2 === 0)
    .reduce(
      (s, c) => s + Math.floor(((accepted.find((o) => o.jobId === c.job.id)?.price ?? 0) * 1000) / 10_000),
      0,
    );
}

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runRetention } from '../../src/coordinator/retention.js';
import { createJobStore } from '../../src/jobs/index.js';
import { createLedger, EXTERNAL_ACCOUNT, escrowAccount, userAccount } from '../../src/market/ledger.js';
import { createMarket } from '../../src/market/market.js';
import { type TestDriver, withTestDatabase } from '../helpers/db.js';

/**
 * Money safety of job removal (docs/marketplace.md, "Failure handling") on PostgreSQL and PGlite: a
 * finished job whose market order is not settled (an open order, or an accepted bid whose price the
 * escrow holds) is never removed by retention, `remove` (Encoder v2 DELETE) or the old-job purge, and
 * a dry run lists it as kept with the reason; once settled it is purged, and its ledger rows stay.
 */
for (const driver of ['postgres', 'pglite'] as TestDriver[]) {
  describe(`job removal waits for market settlement (${driver})`, () => {
    const tdb = withTestDatabase({ driver });
    const HOUR = 3_600_000;
    const caps = { codecs: ['h264'], hwaccel: [], maxHeight: 4320, concurrency: 1, tags: [] };
    let tmp: string;
    before(async () => {
      tmp = await mkdtemp(join(tmpdir(), 'vidmesh-market-removal-'));
    });
    after(async () => {
      await rm(tmp, { recursive: true, force: true });
    });

    test('an unsettled order keeps its finished job, outputs and escrow through retention and remove; settled, it is purged and the ledger stays', async () => {
      let now = new Date('2026-12-06T10:00:00Z');
      const clock = () => now;
      const db = tdb.current.db;
      const store = createJobStore(db, { clock });
      const market = createMarket({ db, jobs: store, clock, feeBps: 0, bidWindowMs: 3_600_000 });
      const ledger = createLedger(db, { clock });
      await store.registerEncoder({ id: 'rm-enc', name: 'rm-enc', kind: 'community', capabilities: caps });
      await market.bind({
        encoderId: 'rm-enc',
        did: 'did:key:rm-enc',
        hiveAccount: 'a-rm-enc',
        statement: 's',
        signature: 'x',
      });
      await market.putOffer('rm-enc', { prices: { sd: 100 }, maxConcurrent: 5 });
      await ledger.post({
        key: 'hive:rm:0',
        kind: 'deposit',
        legs: [
          { account: EXTERNAL_ACCOUNT, amount: -2_000 },
          { account: userAccount('rm-payer'), amount: 2_000 },
        ],
      });
      const priced = async (autoAccept: boolean) => {
        const job = await store.submit({
          spec: { retainHours: 1 },
          renditions: ['240p'],
          tenant: 'rm-payer',
          network: 'community',
          reservedFor: '',
        });
        await market.openOrder({ jobId: job.id, payer: 'rm-payer', maxPrice: 2_000, autoAccept });
        return job.id;
      };
      // Accepted: 1.500 HBD held in escrow. Open: a bid waits, nothing held yet.
      const accepted = await priced(true);
      assert.equal((await market.bid('rm-enc', accepted, 1_500)).state, 'accepted');
      const open = await priced(false);
      await market.bid('rm-enc', open, 900);
      const plain = (
        await store.submit({ spec: { retainHours: 1 }, renditions: ['240p'], tenant: 'rm-payer' })
      ).id;
      for (const id of [accepted, open, plain]) await store.cancel(id);
      const localRoot = join(tmp, driver, 'media');
      for (const id of [accepted, open, plain]) {
        await mkdir(join(localRoot, id), { recursive: true });
        await writeFile(join(localRoot, id, 'video.mp4'), 'x'.repeat(100));
      }
      assert.equal(await ledger.balance(escrowAccount(accepted)), 1_500);

      now = new Date(now.getTime() + 2 * HOUR);
      const sweep = (dryRun: boolean) =>
        runRetention({
          store,
          localRoot,
          blockstoreDir: join(tmp, driver, 'ipfs'),
          defaultHours: undefined,
          dryRun,
          now,
        });
      const dry = await sweep(true);
      assert.deepEqual(dry.jobs, [plain], 'only the job without a market order would be purged');
      assert.deepEqual(
        dry.kept.map((k) => [k.id, k.reason]).sort(),
        [
          [accepted, 'order_unsettled'],
          [open, 'order_unsettled'],
        ].sort(),
      );
      const real = await sweep(false);
      assert.deepEqual(real.jobs, [plain]);
      assert.equal(real.localBytes, 100, 'only the purged job loses its local files');
      await assert.rejects(store.get(plain), { code: 'job_not_found' });
      for (const id of [accepted, open]) {
        assert.equal((await store.get(id)).status, 'cancelled', 'kept past its retention');
        await assert.rejects(store.remove(id), { code: 'order_unsettled', status: 409 });
        assert.equal((await store.get(id)).status, 'cancelled', 'remove refused');
      }
      assert.equal(await store.purgeFinished(0), 0, 'the old-job purge skips unsettled orders too');
      assert.equal(await ledger.balance(escrowAccount(accepted)), 1_500, 'the escrow still holds the price');

      // The settlement pass refunds the accepted bid and closes the open order; now both may go.
      const settled = await market.settle();
      assert.deepEqual(settled.map((s) => s.jobId).sort(), [accepted, open].sort());
      assert.equal(await ledger.balance(userAccount('rm-payer')), 2_000);
      const swept = await sweep(false);
      assert.deepEqual(swept.jobs.sort(), [accepted, open].sort());
      assert.deepEqual(swept.kept, []);
      for (const id of [accepted, open]) await assert.rejects(store.get(id), { code: 'job_not_found' });
      // The ledger outlives the job: the escrow's hold and refund and the payer's statement are complete.
      const escrow = await ledger.statement(escrowAccount(accepted));
      assert.deepEqual(escrow.map((l) => l.amount).sort(), [-1_500, 1_500]);
      const payer = await ledger.statement(userAccount('rm-payer'));
      assert.deepEqual(payer.map((l) => l.amount).sort(), [-1_500, 1_500, 2_000].sort());
      assert.deepEqual(await ledger.trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
    });
  });
}

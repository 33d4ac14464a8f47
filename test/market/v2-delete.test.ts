import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import {
  createLedger,
  createMarket,
  escrowAccount,
  type Market,
  userAccount,
} from '../../src/market/index.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { boundEncoder, deposit, plainCapabilities, pricedJob } from './helpers.js';

/**
 * Encoder v2 `DELETE /jobs/:id` of a priced job (`vidmesh serve` on PGlite with the v2 API at `/v2`):
 * a job no encoder holds is cancelled, its escrow refunded (or its open order closed) and removed at
 * once; a job the accepted encoder holds answers 409 `order_unsettled` and is left running with its
 * escrow; money stays exactly conserved.
 */
describe('Encoder v2 DELETE of a job with a market order', () => {
  let root: string;
  let coordinator: RunningCoordinator;
  let market: Market;
  let key = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-v2-delete-'));
    coordinator = await startTestCoordinator(join(root, 'coordinator'), { encoderV2Api: '/v2' });
    key = await createTenantKey(coordinator, 'v2-payer');
    market = createMarket({ db: coordinator.db, jobs: coordinator.store, bidWindowMs: 3_600_000 });
    await boundEncoder(coordinator.store, market, 'v2-enc', { prices: { sd: 100 }, maxConcurrent: 5 });
    await deposit(createLedger(coordinator.db), 'v2-payer', 5_000);
  });
  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await rm(root, { recursive: true, force: true });
  });

  const del = async (jobId: string) => {
    const r = await fetch(`${coordinator.url}/v2/jobs/${jobId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}` },
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const ledger = () => createLedger(coordinator.db);

  test('an accepted job no encoder claimed yet is cancelled, refunded and removed; an open order is closed and removed', async () => {
    const accepted = await pricedJob(coordinator.store, market, { payer: 'v2-payer', maxPrice: 2_000 });
    assert.equal((await market.bid('v2-enc', accepted.id, 1_500)).state, 'accepted');
    assert.equal(await ledger().balance(userAccount('v2-payer')), 3_500);
    const open = await pricedJob(coordinator.store, market, {
      payer: 'v2-payer',
      maxPrice: 2_000,
      autoAccept: false,
    });
    await market.bid('v2-enc', open.id, 900);

    for (const job of [accepted, open]) {
      const r = await del(job.id);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { id: job.id, uuid: job.id, deleted: true });
      await assert.rejects(coordinator.store.get(job.id), { code: 'job_not_found' });
    }
    assert.equal(await ledger().balance(userAccount('v2-payer')), 5_000, 'the escrow was refunded');
    assert.equal(await ledger().balance(escrowAccount(accepted.id)), 0);
    const refund = (await ledger().statement(userAccount('v2-payer')))[0];
    assert.deepEqual([refund?.kind, refund?.amount, refund?.jobId], ['refund', 1_500, accepted.id]);
    assert.deepEqual(await ledger().trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
  });

  test('a job the accepted encoder holds answers 409 order_unsettled and keeps running with its escrow', async () => {
    const job = await pricedJob(coordinator.store, market, { payer: 'v2-payer', maxPrice: 2_000 });
    assert.equal((await market.bid('v2-enc', job.id, 1_200)).state, 'accepted');
    const claim = await coordinator.store.claim(
      { id: 'v2-enc', kind: 'community', scope: { kind: 'community' } },
      plainCapabilities,
    );
    assert.equal(claim?.job.id, job.id);
    const r = await del(job.id);
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.code, 'order_unsettled');
    const still = await coordinator.store.get(job.id);
    assert.ok(['leased', 'running'].includes(still.status), `not cancelled: ${still.status}`);
    assert.equal(await ledger().balance(escrowAccount(job.id)), 1_200, 'the escrow still holds the price');
    assert.equal((await market.getOrder(job.id)).state, 'accepted');
    // Another tenant's key sees no such job (404), as for any job.
    const other = await createTenantKey(coordinator, 'v2-other');
    const foreign = await fetch(`${coordinator.url}/v2/jobs/${job.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${other}` },
    });
    assert.equal(foreign.status, 404);
    assert.deepEqual(await ledger().trialBalance(), { balances: 0, entries: 0, negative: 0, drifted: 0 });
  });
});

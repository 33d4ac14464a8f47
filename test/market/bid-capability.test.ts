import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createJobStore } from '../../src/jobs/index.js';
import type { EncoderCapabilities, EncoderKind } from '../../src/jobs/types.js';
import { createLedger, escrowAccount } from '../../src/market/ledger.js';
import { createMarket } from '../../src/market/market.js';
import { type TestDriver, withTestDatabase } from '../helpers/db.js';
import { boundEncoder, deposit, plainCapabilities, pricedJob } from './helpers.js';

/**
 * Bids are matched against the job like a claim would be (the claim's own capability SQL), on
 * PostgreSQL and PGlite: an encoder lacking a required codec, hardware accelerator or tag, or beyond its
 * kind's height limit, is refused at bid time with a 422 `encoder_cannot_encode` and nothing is held;
 * a capable encoder's bid is accepted, and it does lease the job.
 */
for (const driver of ['postgres', 'pglite'] as TestDriver[]) {
  describe(`market bids only from encoders that could claim the job (${driver})`, () => {
    const tdb = withTestDatabase({ driver });
    const base: EncoderCapabilities = plainCapabilities;

    test('a bid from an encoder lacking codec, hwaccel, tag or height is refused with 422; a capable one wins and claims', async () => {
      const db = tdb.current.db;
      const store = createJobStore(db);
      const market = createMarket({ db, jobs: store, feeBps: 0, bidWindowMs: 3_600_000 });
      const ledger = createLedger(db);
      const encoders: Array<[string, EncoderKind, Partial<EncoderCapabilities>]> = [
        ['cap-ok', 'community', { codecs: ['h264', 'hevc'], hwaccel: ['nvenc'], tags: ['gpu'] }],
        ['cap-no-hevc', 'community', { codecs: ['h264'], hwaccel: ['nvenc'], tags: ['gpu'] }],
        ['cap-no-nvenc', 'community', { codecs: ['h264', 'hevc'], hwaccel: [], tags: ['gpu'] }],
        ['cap-no-tag', 'community', { codecs: ['h264', 'hevc'], hwaccel: ['nvenc'], tags: [] }],
        [
          'cap-small',
          'community',
          { codecs: ['h264', 'hevc'], hwaccel: ['nvenc'], tags: ['gpu'], maxHeight: 720 },
        ],
        // A browser reports 4320p, but its kind caps it at 480p (ENCODER_KIND_LIMITS), as the claim does.
        [
          'cap-browser',
          'browser',
          { codecs: ['h264', 'hevc'], hwaccel: ['nvenc'], tags: ['gpu'], maxDurationS: 600 },
        ],
      ];
      for (const [id, kind, capabilities] of encoders) {
        await boundEncoder(store, market, id, { kind, capabilities });
      }
      await deposit(ledger, 'cap-payer', 2_000);
      const job = await pricedJob(store, market, {
        payer: 'cap-payer',
        maxPrice: 2_000,
        job: {
          renditions: ['1080p'],
          requirements: {
            codecs: ['hevc'],
            hwaccel: 'nvenc',
            tags: ['gpu'],
            sourceHeight: 1080,
            durationS: 60,
          },
        },
      });

      for (const [id] of encoders.slice(1)) {
        await assert.rejects(market.bid(id, job.id, 500), { code: 'encoder_cannot_encode', status: 422 }, id);
      }
      assert.deepEqual(await market.bids(job.id), [], 'no refused bid is recorded');
      assert.equal((await market.getOrder(job.id)).state, 'open');
      assert.equal(await ledger.balance(escrowAccount(job.id)), 0, 'nothing held for a refused bid');

      assert.equal((await market.bid('cap-ok', job.id, 1_200)).state, 'accepted');
      const claim = await store.claim(
        { id: 'cap-ok', kind: 'community', scope: { kind: 'community' } },
        { ...base, codecs: ['h264', 'hevc'], hwaccel: ['nvenc'], tags: ['gpu'] },
      );
      assert.equal(claim?.job.id, job.id, 'the capable winner leases the job');
      assert.equal(await store.canEncode(job.id, 'no-such-encoder'), false);
    });
  });
}

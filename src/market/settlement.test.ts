import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type OrderFacts, rankOffers, type Settlement, settlementOf } from './settlement.js';

const now = new Date('2026-01-01T12:00:00Z');
const past = new Date('2026-01-01T11:00:00Z');
const later = new Date('2026-01-01T13:00:00Z');
const accepted = (o: Partial<OrderFacts>): OrderFacts => ({
  state: 'accepted',
  encoderId: 'e1',
  deadline: later,
  jobStatus: 'running',
  jobEncoder: 'e1',
  excluded: [],
  ...o,
});

test('settlementOf decides release, refund or wait from the order and its job', () => {
  const cases: Array<[string, OrderFacts, Settlement]> = [
    ['completed by the accepted encoder', accepted({ jobStatus: 'completed' }), 'release'],
    ['completed by another encoder', accepted({ jobStatus: 'completed', jobEncoder: 'e2' }), 'refund-close'],
    ['dead', accepted({ jobStatus: 'dead' }), 'refund-close'],
    ['cancelled', accepted({ jobStatus: 'cancelled' }), 'refund-close'],
    ['rejected by verification', accepted({ jobStatus: 'queued', excluded: ['e1'] }), 'refund-reopen'],
    ['verifying', accepted({ jobStatus: 'verifying' }), 'wait'],
    ['deadline passed, job waiting', accepted({ jobStatus: 'queued', deadline: past }), 'refund-reopen'],
    ['deadline passed, job still leased', accepted({ jobStatus: 'running', deadline: past }), 'wait'],
    ['open, job queued', { ...accepted({ jobStatus: 'queued' }), state: 'open', encoderId: null }, 'wait'],
    [
      'open, job cancelled',
      { ...accepted({ jobStatus: 'cancelled' }), state: 'open', encoderId: null },
      'close',
    ],
    ['already paid', { ...accepted({ jobStatus: 'completed' }), state: 'paid' }, 'wait'],
  ];
  for (const [name, facts, want] of cases) assert.equal(settlementOf(facts, now), want, name);
});

test('rankOffers prefers score per price within the max price and skips full, excluded or unpriced offers', () => {
  const job = { durationS: 60, heights: [720, 480], maxPrice: 1000, excluded: ['banned'] };
  const offer = (encoderId: string, hd: number, sd: number, score: number, active = 0) => ({
    encoderId,
    prices: { hd, sd },
    maxConcurrent: 2,
    active,
    score,
  });
  const ranked = rankOffers(
    [
      offer('cheap-new', 100, 100, 0.5), // quote 200, value 2.5
      offer('good', 300, 200, 0.9), // quote 500, value 1.8
      offer('great-cheap', 150, 150, 0.9), // quote 300, value 3
      offer('too-dear', 900, 200, 1), // quote 1100 > max
      offer('full', 10, 10, 1, 2),
      offer('banned', 10, 10, 1),
      { encoderId: 'no-hd', prices: { sd: 10 }, maxConcurrent: 1, active: 0, score: 1 },
    ],
    job,
  );
  assert.deepEqual(
    ranked.map((r) => [r.encoderId, r.quote]),
    [
      ['great-cheap', 300],
      ['cheap-new', 200],
      ['good', 500],
    ],
  );
});

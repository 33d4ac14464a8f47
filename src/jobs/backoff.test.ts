import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBackoffPolicy, backoffDelayMs, backoffSchedule, DEFAULT_BACKOFF } from './backoff.js';

test('default backoff: 5 s doubling, capped at 10 min, ±20 % jitter', () => {
  const mid = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 8, 9, 20].map((n) => backoffDelayMs(n, DEFAULT_BACKOFF, mid)),
    [5_000, 10_000, 20_000, 40_000, 80_000, 600_000, 600_000, 600_000],
  );
  assert.equal(
    backoffDelayMs(1, DEFAULT_BACKOFF, () => 0),
    4_000,
  );
  assert.equal(
    backoffDelayMs(1, DEFAULT_BACKOFF, () => 0.999999),
    6_000,
  );
  assert.equal(backoffDelayMs(0, DEFAULT_BACKOFF, mid), 5_000, 'attempt < 1 counts as the first');
});

test('jitter spreads delays within the documented band', () => {
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelayMs(3, DEFAULT_BACKOFF);
    assert.ok(d >= 16_000 && d <= 24_000, `${d}`);
  }
  const schedule = backoffSchedule(4, { baseMs: 100, factor: 3, capMs: 1000, jitter: 0 });
  assert.deepEqual(schedule, [100, 300, 900, 1000]);
});

test('unusable policies are refused', () => {
  assert.throws(() => assertBackoffPolicy({ ...DEFAULT_BACKOFF, factor: 0.5 }), /factor/);
  assert.throws(() => assertBackoffPolicy({ ...DEFAULT_BACKOFF, jitter: 1 }), /jitter/);
  assert.throws(() => assertBackoffPolicy({ ...DEFAULT_BACKOFF, capMs: 1 }), /capMs/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EMPTY_REPUTATION,
  DEFAULT_VERIFICATION_POLICY as P,
  type Reputation,
  reputationScore,
  shouldSuspend,
  shouldVerify,
} from './reputation.js';

const rep = (passes: number, failures: number, consecutive = 0): Reputation => ({
  ...EMPTY_REPUTATION('e'),
  verifiedPasses: passes,
  verifiedFailures: failures,
  consecutiveFailures: consecutive,
});

test('reputationScore: new 0.5, passes raise it, a failure weighs three passes', () => {
  const cases: Array<[number, number, number]> = [
    [0, 0, 0.5],
    [8, 0, 0.9],
    [10, 1, 11 / 15],
    [0, 2, 1 / 8],
  ];
  for (const [p, f, want] of cases) assert.equal(reputationScore(rep(p, f)), want, `${p}/${f}`);
});

test('shouldVerify: always when asked, until trusted, after a failure; then the sample rate', () => {
  const cases: Array<[string, Reputation, 'always' | undefined, number, boolean]> = [
    ['job asks always', rep(100, 0), 'always', 0.99, true],
    ['new encoder', rep(0, 0), undefined, 0.99, true],
    ['9 passes', rep(9, 0), undefined, 0.99, true],
    ['trusted, outside the sample', rep(10, 0), undefined, 0.5, false],
    ['trusted, inside the sample', rep(10, 0), undefined, 0.1, true],
    ['trusted but failed last time', rep(20, 1, 1), undefined, 0.99, true],
  ];
  for (const [name, r, verify, draw, want] of cases) {
    assert.equal(
      shouldVerify(r, P, verify ? { verify } : {}, () => draw),
      want,
      name,
    );
  }
});

test('shouldSuspend: two consecutive failures, or a low score over enough results', () => {
  const cases: Array<[string, Reputation, boolean]> = [
    ['one failure', rep(0, 1, 1), false],
    ['two in a row', rep(5, 2, 2), true],
    ['low score', rep(1, 2, 0), true],
    ['good record', rep(30, 2, 0), false],
  ];
  for (const [name, r, want] of cases) assert.equal(shouldSuspend(r, P), want, name);
});

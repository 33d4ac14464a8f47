import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hwAccelOf } from './agent.js';

for (const [given, want] of [
  [undefined, 'none'],
  [[], 'none'],
  [['nvenc', 'vaapi'], 'nvenc'],
  [['cuda-decode', 'qsv'], 'qsv'],
  [['none'], 'none'],
] as const) {
  test(`hwAccelOf(${JSON.stringify(given)}) is ${want}`, () => {
    assert.equal(hwAccelOf(given), want);
  });
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planChunks } from './chunking.js';

const spans = (p: ReturnType<typeof planChunks>) =>
  p?.chunks.map((c) => [c.startS, c.durationS, c.firstSegment, c.segments]);

test('planChunks: split table (starts on segment boundaries, last chunk ends with the source)', () => {
  const cases: Array<[string, Parameters<typeof planChunks>, number[][] | null]> = [
    ['off never splits', [3600, 4, 'off'], null],
    ['auto below the 300 s threshold', [299, 4, 'auto'], null],
    ['auto at exactly the threshold', [300, 4, 'auto'], null],
    ['unknown duration', [undefined, 4, 'auto'], null],
    ['zero duration', [0, 4, { seconds: 4 }], null],
    [
      'auto 301 s: 60 s chunks of 15 segments, short last chunk',
      [301, 4, 'auto'],
      [
        [0, 60, 0, 15],
        [60, 60, 15, 15],
        [120, 60, 30, 15],
        [180, 60, 45, 15],
        [240, 60, 60, 15],
        [300, 1, 75, 1],
      ],
    ],
    [
      '12 s, 4 s chunks of 2 s segments',
      [12, 2, { seconds: 4 }],
      [
        [0, 4, 0, 2],
        [4, 4, 2, 2],
        [8, 4, 4, 2],
      ],
    ],
    ['explicit chunk longer than the source', [10, 2, { seconds: 30 }], null],
    [
      'chunk length rounded to whole segments (5 s → 3 × 2 s)',
      [9, 2, { seconds: 5 }],
      [
        [0, 6, 0, 3],
        [6, 3, 3, 2],
      ],
    ],
    [
      'chunk shorter than a segment becomes one segment',
      [5, 2, { seconds: 1 }],
      [
        [0, 2, 0, 1],
        [2, 2, 1, 1],
        [4, 1, 2, 1],
      ],
    ],
    [
      'ffprobe decimals: 12.0000001 s is still 3 chunks',
      [12.0000001, 2, { seconds: 4 }],
      [
        [0, 4, 0, 2],
        [4, 4, 2, 2],
        [8, 4, 4, 2],
      ],
    ],
    [
      'fractional end: 12.5 s',
      [12.5, 2, { seconds: 4 }],
      [
        [0, 4, 0, 2],
        [4, 4, 2, 2],
        [8, 4, 4, 2],
        [12, 0.5, 6, 1],
      ],
    ],
  ];
  for (const [name, args, want] of cases) assert.deepEqual(spans(planChunks(...args)) ?? null, want, name);
});

test('planChunks: a bad segment duration is a RangeError', () => {
  assert.throws(() => planChunks(100, 0, 'auto'), RangeError);
});

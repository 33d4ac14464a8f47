import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CHUNKING, PREROLL_SEGMENTS, planChunks } from './chunking.js';

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
      'auto 301 s: 60 s chunks of 15 segments, the 1 s tail merged into the last chunk',
      [301, 4, 'auto'],
      [
        [0, 60, 0, 15],
        [60, 60, 15, 15],
        [120, 60, 30, 15],
        [180, 60, 45, 15],
        [240, 61, 60, 16],
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
      'fractional end: the 0.5 s tail of 12.5 s is merged (8 s + 4.5 s)',
      [12.5, 2, { seconds: 4 }],
      [
        [0, 4, 0, 2],
        [4, 4, 2, 2],
        [8, 4.5, 4, 3],
      ],
    ],
    [
      'a 0.1 s tail (120.1 s in 60 s chunks) is merged into the previous chunk',
      [120.1, 4, { seconds: 60 }],
      [
        [0, 60, 0, 15],
        [60, 60.1, 15, 16],
      ],
    ],
    [
      'a tail just under half a chunk is merged (149.9 s in 60 s chunks)',
      [149.9, 4, { seconds: 60 }],
      [
        [0, 60, 0, 15],
        [60, 89.9, 15, 23],
      ],
    ],
    [
      'a tail of exactly half a chunk stays its own chunk (150 s in 60 s chunks)',
      [150, 4, { seconds: 60 }],
      [
        [0, 60, 0, 15],
        [60, 60, 15, 15],
        [120, 30, 30, 8],
      ],
    ],
    [
      'a merged tail that leaves one chunk means no split (70 s in 60 s chunks)',
      [70, 4, { seconds: 60 }],
      null,
    ],
    [
      'ffprobe decimals: a tail of half a chunk plus 1e-7 s stays its own chunk',
      [150.0000001, 4, { seconds: 60 }],
      [
        [0, 60, 0, 15],
        [60, 60, 15, 15],
        [120, 30, 30, 8],
      ],
    ],
  ];
  for (const [name, args, want] of cases) assert.deepEqual(spans(planChunks(...args)) ?? null, want, name);
});

test('planChunks: a bad segment duration is a RangeError', () => {
  assert.throws(() => planChunks(100, 0, 'auto'), RangeError);
});

test('planChunks: pre-roll table (whole segments before every chunk but the first, capped by the segments before it)', () => {
  const prerolls = (p: ReturnType<typeof planChunks>) => p?.chunks.map((c) => c.prerollS);
  const defaults = (prerollSegments?: number) => ({ ...DEFAULT_CHUNKING, prerollSegments });
  const cases: Array<[string, Parameters<typeof planChunks>, number[]]> = [
    ['default: one 4 s segment', [301, 4, 'auto'], [0, 4, 4, 4, 4]],
    ['default: one 2 s segment', [12, 2, { seconds: 4 }], [0, 2, 2]],
    ['prerollSegments absent is the default', [12, 2, { seconds: 4 }, defaults()], [0, 2, 2]],
    ['prerollSegments 0: no pre-roll', [12, 2, { seconds: 4 }, defaults(0)], [0, 0, 0]],
    ['two segments', [12, 2, { seconds: 4 }, defaults(2)], [0, 4, 4]],
    [
      'capped by the segments before the chunk (one-segment chunks)',
      [5, 2, { seconds: 1 }, defaults(2)],
      [0, 2, 4],
    ],
    ['a merged tail chunk gets the same pre-roll', [120.1, 4, { seconds: 60 }], [0, 4]],
  ];
  for (const [name, args, want] of cases) assert.deepEqual(prerolls(planChunks(...args)), want, name);
  assert.equal(PREROLL_SEGMENTS, 1);
});

test('planChunks: a negative or fractional pre-roll is a RangeError', () => {
  for (const prerollSegments of [-1, 0.5, Number.NaN])
    assert.throws(
      () => planChunks(12, 2, { seconds: 4 }, { ...DEFAULT_CHUNKING, prerollSegments }),
      RangeError,
    );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeProbe } from '../media/fake-probe.js';
import { planLadder } from '../media/index.js';
import { measuredNeeds } from './source-needs.js';

test('measuredNeeds: output duration and the tallest planned rendition, never above the source', () => {
  const cases: Array<[string, Parameters<typeof fakeProbe>, object, object]> = [
    [
      '720p source, default ladder',
      [{ width: 1280, height: 720 }, { durationS: 30 }],
      {},
      { durationS: 30, sourceHeight: 720 },
    ],
    [
      '720p source, 480p only',
      [{ width: 1280, height: 720 }, { durationS: 90 }],
      { only: ['480p'] },
      { durationS: 90, sourceHeight: 480 },
    ],
    [
      '1080p source, short mode cuts at 60 s',
      [{ width: 1920, height: 1080 }, { durationS: 300 }],
      { short: true },
      { durationS: 60, sourceHeight: 480 },
    ],
    ['audio-only source: nothing measured', [undefined, { kind: 'audio', durationS: 30 }], {}, {}],
  ];
  for (const [name, probe, ladder, want] of cases) {
    assert.deepEqual(measuredNeeds(planLadder(fakeProbe(...probe), ladder)), want, name);
  }
});

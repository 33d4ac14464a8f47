import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgressParser, type EncodeProgress, throttleProgress } from './progress.js';

const block = (outTimeUs: number, speed: string, end = false): string[] => [
  'frame=120',
  'fps=48.5',
  'bitrate=N/A',
  `out_time_us=${outTimeUs}`,
  `out_time_ms=${outTimeUs}`,
  'out_time=00:00:05.000000',
  `speed=${speed}`,
  `progress=${end ? 'end' : 'continue'}`,
];

test('progress blocks become percent, fps, speed and ETA events', () => {
  const parse = createProgressParser(20);
  const events = [...block(5_000_000, '2.5x'), ...block(20_000_000, '2.4x', true)]
    .map(parse)
    .filter((e): e is EncodeProgress => e !== undefined);
  assert.equal(events.length, 2);
  assert.deepEqual(events[0], {
    percent: 25,
    outTimeS: 5,
    fps: 48.5,
    speed: 2.5,
    etaS: 6,
    frame: 120,
    done: false,
  });
  assert.equal(events[1]?.percent, 100);
  assert.equal(events[1]?.done, true);
  assert.equal(events[1]?.etaS, 0);
});

test('unknown speed gives no ETA; N/A times count as zero', () => {
  const parse = createProgressParser(10);
  const e = ['out_time_us=N/A', 'speed=N/A', 'progress=continue'].map(parse).at(-1);
  assert.equal(e?.percent, 0);
  assert.equal(e?.etaS, undefined);
});

test('throttle passes one event per interval and always the final one', () => {
  let t = 0;
  const got: number[] = [];
  const emit = throttleProgress(
    (p) => got.push(p.percent),
    1000,
    () => t,
  );
  const ev = (percent: number, done = false): EncodeProgress => ({
    percent,
    outTimeS: 0,
    fps: 0,
    speed: 0,
    etaS: 0,
    frame: 0,
    done,
  });
  for (const [time, pct] of [
    [0, 1],
    [200, 2],
    [999, 3],
    [1000, 4],
    [1500, 5],
  ] as const) {
    t = time;
    emit(ev(pct));
  }
  t = 1600;
  emit(ev(100, true));
  assert.deepEqual(got, [1, 4, 100]);
});

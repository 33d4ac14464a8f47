import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkStoryboardVtt,
  planStoryboard,
  storyboardOptionsSchema,
  storyboardVtt,
  vttTime,
} from './storyboard.js';

const opts = (o: { interval?: number; width?: number }) => storyboardOptionsSchema.parse(o);

describe('planStoryboard', () => {
  const cases: Array<{
    name: string;
    options: { interval?: number; width?: number };
    durationS: number;
    display: { width: number; height: number };
    want: [count: number, w: number, h: number, columns: number, rows: number, sheets: number];
  }> = [
    {
      name: '3 s at 1 s: one row of 3',
      options: { interval: 1 },
      durationS: 3,
      display: { width: 1280, height: 720 },
      want: [3, 160, 90, 3, 1, 1],
    },
    {
      name: '60 s at the default 5 s: 12 in a 10 × 2 grid',
      options: {},
      durationS: 60,
      display: { width: 1920, height: 1080 },
      want: [12, 160, 90, 10, 2, 1],
    },
    {
      name: '1000 s at 4 s: 250 → three 10 × 10 sheets',
      options: { interval: 4 },
      durationS: 1000,
      display: { width: 1920, height: 1080 },
      want: [250, 160, 90, 10, 10, 3],
    },
    {
      name: 'portrait: height from the display aspect, even',
      options: { width: 120 },
      durationS: 9,
      display: { width: 1080, height: 1920 },
      want: [2, 120, 214, 2, 1, 1],
    },
    {
      name: 'shorter than one interval: one thumbnail',
      options: { interval: 10 },
      durationS: 0.04,
      display: { width: 640, height: 360 },
      want: [1, 160, 90, 1, 1, 1],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const sb = planStoryboard(opts(c.options), c.durationS, c.display);
      assert.deepEqual([sb.count, sb.width, sb.height, sb.columns, sb.rows, sb.sheets.length], c.want);
    });
  }
  test('options are bounded', () => {
    assert.throws(() => opts({ interval: 0.5 }));
    assert.throws(() => opts({ width: 4000 }));
  });
});

test('vttTime: WebVTT HH:MM:SS.mmm', () => {
  assert.equal(vttTime(0), '00:00:00.000');
  assert.equal(vttTime(3723.4567), '01:02:03.457');
});

test('storyboardVtt: cues row by row, next sheet after 100, last cue ends at the duration', () => {
  const sb = planStoryboard(opts({ interval: 2 }), 205, { width: 1280, height: 720 });
  const vtt = storyboardVtt(sb, 205);
  assert.ok(vtt.startsWith('WEBVTT\n\n'));
  const cues = vtt.trim().split('\n\n').slice(1);
  assert.equal(cues.length, 103);
  assert.equal(cues[0], '00:00:00.000 --> 00:00:02.000\nstoryboard_000.jpg#xywh=0,0,160,90');
  assert.equal(cues[11], '00:00:22.000 --> 00:00:24.000\nstoryboard_000.jpg#xywh=160,90,160,90');
  assert.equal(cues[100], '00:03:20.000 --> 00:03:22.000\nstoryboard_001.jpg#xywh=0,0,160,90');
  assert.equal(cues[102], '00:03:24.000 --> 00:03:25.000\nstoryboard_001.jpg#xywh=320,0,160,90');
});

test('checkStoryboardVtt: only cues on staged sprite tiles pass (untrusted encoders)', () => {
  const sheets = new Set(['storyboard_000.jpg']);
  const good = storyboardVtt(planStoryboard(opts({ interval: 1 }), 3, { width: 1280, height: 720 }), 3);
  assert.equal(checkStoryboardVtt(good, sheets), undefined);
  const bad: Array<[string, RegExp]> = [
    ['<html>', /not a WebVTT/],
    [
      'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhttps://evil.example/x.jpg#xywh=0,0,1,1\n',
      /not a staged sprite tile/,
    ],
    [
      'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard_009.jpg#xywh=0,0,1,1\n',
      /not a staged sprite tile/,
    ],
    [
      'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard_000.jpg#xywh=0,0,1,1\n<script>\n',
      /more than one payload/,
    ],
    ['WEBVTT\n\n0:0 --> 1:0\nstoryboard_000.jpg#xywh=0,0,1,1\n', /bad cue timing/],
    ['WEBVTT\n\n', /no cues/],
  ];
  for (const [text, re] of bad) assert.match(checkStoryboardVtt(text, sheets) ?? '', re, text);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  analysisWindows,
  buildSampleEncodeArgs,
  buildSampleSsimArgs,
  CRF_RANGE,
  parseSsimLog,
  pickCrf,
  ssimDb,
} from './analyze.js';
import { fakeProbe } from './fake-probe.js';
import { planLadder, withCrf } from './ladder.js';

describe('pickCrf: the CRF meeting the target SSIM, interpolated in SSIM-dB', () => {
  // Points measured on big_buck_bunny_10s 720p (veryfast): CRF 20 → 0.99096, CRF 27 → 0.97638.
  const bbb = [
    { crf: 20, ssim: 0.990962 },
    { crf: 27, ssim: 0.976384 },
  ];
  const cases: Array<[string, Array<{ crf: number; ssim: number }>, number, number]> = [
    ['target between the points', bbb, 0.99, 20.5],
    ['target at the lower point', bbb, 0.990962, 20],
    ['target at the upper point', bbb, 0.976384, 27],
    ['very high target: clamped to the minimum', bbb, 0.9995, CRF_RANGE.min],
    ['low target: clamped to the maximum', bbb, 0.9, CRF_RANGE.max],
    [
      'static content, SSIM flat: assumed slope from the nearer point',
      [
        { crf: 20, ssim: 0.995 },
        { crf: 27, ssim: 0.995 },
      ],
      0.99,
      32,
    ],
    ['one point at the target', [{ crf: 23, ssim: 0.99 }], 0.99, 23],
    // 0.993 → 21.55 dB; 1.55 dB above the 20 dB target at 0.5 dB per step: 3 steps up.
    ['one point above the target: assumed 0.5 dB per step', [{ crf: 23, ssim: 0.993 }], 0.99, 26],
    ['no usable point: x264 default', [{ crf: 20, ssim: Number.NaN }], 0.99, 23],
  ];
  for (const [name, points, target, want] of cases) {
    test(name, () => assert.equal(pickCrf(points, target), want));
  }
  test('ssimDb', () => {
    assert.ok(Math.abs(ssimDb(0.99) - 20) < 1e-9);
    assert.equal(ssimDb(1), 60);
  });
});

describe('analysisWindows: ~6 % of the duration, 0.5–6 s, up to 3 windows inside the title', () => {
  const cases: Array<[number, number, number]> = [
    // duration s, windows, total s
    [0.04, 1, 0.04],
    [2, 1, 0.5],
    [10, 1, 0.6],
    [30, 3, 1.8],
    [600, 3, 6],
  ];
  for (const [d, count, total] of cases) {
    test(`${d} s`, () => {
      const w = analysisWindows(d);
      assert.equal(w.length, count);
      assert.ok(Math.abs(w.reduce((a, x) => a + x.lengthS, 0) - total) < 0.01);
      for (const x of w) assert.ok(x.startS >= 0 && x.startS + x.lengthS <= d + 1e-9);
    });
  }
});

test('sample encode and SSIM argv: one process each, named SSIM filters', () => {
  const plan = planLadder(fakeProbe({}, { durationS: 60 }), { rateControl: 'capped-crf' });
  const windows = analysisWindows(60);
  const enc = buildSampleEncodeArgs(plan, windows, '/w');
  assert.equal(enc.filter((a) => a === '-i').length, 3, 'three windows');
  assert.match(enc[enc.indexOf('-filter_complex') + 1]!, /concat=n=3:v=1:a=0,fps=30\/1,split=6/);
  assert.deepEqual(
    enc.filter((a) => a.endsWith('.mkv')),
    ['1080p', '720p', '480p'].flatMap((r) => [`/w/${r}-crf23.mkv`, `/w/${r}-reference.mkv`]),
  );
  assert.deepEqual(
    enc.flatMap((a, i) => (a === '-maxrate' ? [enc[i + 1]] : [])),
    ['4500k', '2500k', '1000k'],
    'the caps of the real encode',
  );
  const ssim = buildSampleSsimArgs(plan, '/w');
  assert.deepEqual(
    ssim.filter((_, i) => ssim[i - 1] === '-i'),
    [
      ...['1080p', '720p', '480p'].map((r) => `/w/${r}-crf23.mkv`),
      ...['1080p', '720p', '480p'].map((r) => `/w/${r}-reference.mkv`),
    ],
    'samples and lossless references only: the source is not decoded again',
  );
  const graph = ssim[ssim.indexOf('-filter_complex') + 1]!;
  assert.equal((graph.match(/ssim@\w+=shortest=1/g) ?? []).length, 3);
  assert.match(graph, /^\[3:v\]settb=1\/30,setpts=N\*1,split=1\[r0c0\]/);
});

test('parseSsimLog reads each named filter', () => {
  const log =
    '[ssim@720p_crf20 @ 0x1] SSIM Y:0.99 (20) U:0.98 (17) V:0.98 (17) All:0.990962 (20.4)\n' +
    '[ssim@480p_crf27 @ 0x2] SSIM Y:0.97 (15) U:0.97 (15) V:0.97 (15) All:0.970468 (15.3)\n';
  assert.deepEqual(
    [...parseSsimLog(log)],
    [
      ['ssim@720p_crf20', 0.990962],
      ['ssim@480p_crf27', 0.970468],
    ],
  );
});

test('planning: fixed bitrate by default, capped CRF as an option, withCrf applies the analysis', () => {
  const crf = planLadder(fakeProbe({}), { rateControl: 'capped-crf' });
  assert.deepEqual(crf.rateControl, { mode: 'capped-crf', targetSsim: 0.99, analyze: true });
  assert.deepEqual(planLadder(fakeProbe({}), {}).rateControl, { mode: 'cbr' }, 'the default');
  const cbr = planLadder(fakeProbe({}), { rateControl: 'cbr' });
  assert.deepEqual(cbr.rateControl, { mode: 'cbr' });
  assert.ok(cbr.renditions.every((r) => r.kind === 'video' && r.crf === undefined));
  const fixed = planLadder(fakeProbe({}), { rateControl: 'capped-crf', crf: 21 });
  assert.equal(fixed.rateControl.mode === 'capped-crf' && fixed.rateControl.analyze, false);
  const tuned = withCrf(crf, { '720p': 19.5 });
  assert.deepEqual(
    tuned.renditions.map((r) => (r.kind === 'video' ? r.crf : undefined)),
    [23, 19.5, 23],
  );
  assert.equal(tuned.rateControl.mode === 'capped-crf' && tuned.rateControl.analyze, false);
  // The ceilings are the fixed ladder's target bitrates (it peaks at 1.5 × those).
  assert.deepEqual(
    crf.renditions.map((r) => (r.kind === 'video' ? r.maxrate : 0)),
    cbr.renditions.map((r) => (r.kind === 'video' ? r.videoBitrate : 0)),
  );
});

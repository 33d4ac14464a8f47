import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildLiveArgs, liveCodecs, liveLadder, liveWidth, parseSegmentCsv } from './live-args.js';

const flagValues = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

test('live ladder: named rungs highest first; an unknown name is refused', () => {
  assert.deepEqual(
    liveLadder(['480p', '720p']).map((r) => r.name),
    ['720p', '480p'],
  );
  assert.throws(() => liveLadder(['4k']), RangeError);
  assert.equal(liveWidth(720), 1280);
  assert.equal(liveWidth(360), 640);
  assert.equal(liveWidth(240), 426);
});

test('live argv: one decode, aligned 2 s keyframes in every rendition, zerolatency, copyts, one segment list per rendition', () => {
  const args = buildLiveArgs({
    input: 'pipe:0',
    inputFormat: 'flv',
    renditions: liveLadder(['720p', '480p']),
    outDir: '/w/live',
  });
  assert.equal(flagValues(args, '-i').length, 1);
  assert.deepEqual(flagValues(args, '-i'), ['pipe:0']);
  assert.deepEqual(args.slice(args.indexOf('-i') - 3, args.indexOf('-i')), ['-f', 'flv', '-copyts']);
  assert.ok(args.includes('-copyts'));
  assert.deepEqual(flagValues(args, '-progress'), ['pipe:1']);
  assert.match(
    flagValues(args, '-filter_complex')[0]!,
    /^\[0:v:0\]fps=30,split=2\[v0\]\[v1\];\[v0\]scale=-2:720/,
  );
  // Every rendition: the same GOP (60 frames at 30 fps = 2 s), forced keyframes, no scene cuts.
  assert.deepEqual(flagValues(args, '-g'), ['60', '60']);
  assert.deepEqual(flagValues(args, '-keyint_min'), ['60', '60']);
  assert.deepEqual(flagValues(args, '-sc_threshold'), ['0', '0']);
  assert.deepEqual(flagValues(args, '-tune'), ['zerolatency', 'zerolatency']);
  assert.deepEqual(flagValues(args, '-segment_time'), ['2', '2']);
  assert.deepEqual(flagValues(args, '-muxdelay'), ['0', '0']);
  assert.deepEqual(flagValues(args, '-level'), ['3.1', '3.0']);
  assert.deepEqual(flagValues(args, '-segment_list'), [
    '/w/live/720p/segments.csv',
    '/w/live/480p/segments.csv',
  ]);
  assert.deepEqual(args.slice(-1), ['/w/live/480p/seg_%06d.ts']);
  assert.throws(() => buildLiveArgs({ input: 'x', renditions: [], outDir: '/w' }), RangeError);
});

test('live argv: other segment durations move the GOP with them', () => {
  const args = buildLiveArgs({
    input: 'x.flv',
    renditions: liveLadder(['240p']),
    outDir: 'o',
    segmentS: 4,
    fps: 25,
  });
  assert.deepEqual(flagValues(args, '-g'), ['100']);
  assert.deepEqual(flagValues(args, '-segment_time'), ['4']);
  assert.ok(flagValues(args, '-force_key_frames')[0]!.includes('prev_forced_t+4'));
  assert.equal(flagValues(args, '-f').includes('flv'), false);
});

test('CODECS follow the level of each rung (RFC 6381 avc1.PPCCLL)', () => {
  assert.deepEqual(liveLadder(['1080p', '720p', '480p']).map(liveCodecs), [
    'avc1.4d4028,mp4a.40.2',
    'avc1.4d401f,mp4a.40.2',
    'avc1.4d401e,mp4a.40.2',
  ]);
});

for (const c of [
  {
    name: 'complete lines',
    text: 'seg_000000.ts,0.000000,2.033333\nseg_000001.ts,2.033333,4.033333\n',
    files: 2,
    consumed: 64,
  },
  {
    name: 'an unfinished last line is left for later',
    text: 'seg_000000.ts,0.000000,2.033333\nseg_0000',
    files: 1,
    consumed: 32,
  },
  { name: 'nothing yet', text: '', files: 0, consumed: 0 },
  { name: 'garbage lines are skipped', text: 'oops\nseg_1.ts,x,y\nseg_2.ts,1,3\n', files: 1, consumed: 31 },
]) {
  test(`segment list CSV: ${c.name}`, () => {
    const { entries, consumed } = parseSegmentCsv(c.text);
    assert.equal(entries.length, c.files);
    assert.equal(consumed, c.consumed);
  });
}

test('segment list CSV: file, start and end on the ingest timeline', () => {
  assert.deepEqual(parseSegmentCsv('seg_000007.ts,14.5,16.5\n').entries, [
    { file: 'seg_000007.ts', startS: 14.5, endS: 16.5 },
  ]);
});

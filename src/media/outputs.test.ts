import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fakeProbe } from './fake-probe.js';
import {
  type AspectMode,
  buildOutputsArgs,
  checkOutputOptions,
  type NamedOutput,
  type OutputOptionsInput,
  outputGeometry,
  outputOptionsSchema,
  planOutputs,
  posterTime,
  selectAtTimes,
} from './outputs.js';

const named = (name: string, o: OutputOptionsInput): NamedOutput => ({
  name,
  options: outputOptionsSchema.parse(o),
});

describe('outputGeometry', () => {
  const cases: Array<[string, [number, number], number | undefined, number | undefined, AspectMode, object]> =
    [
      ['no box: source size', [1280, 720], undefined, undefined, 'fit', { scale: [1280, 720], mode: 'none' }],
      ['height only keeps the aspect', [1920, 1080], undefined, 480, 'fit', { scale: [854, 480] }],
      ['width only keeps the aspect', [1920, 1080], 640, undefined, 'fit', { scale: [640, 360] }],
      ['fit inside a 4:3 box', [1920, 1080], 640, 480, 'fit', { scale: [640, 360], frame: [640, 360] }],
      [
        'fill covers and crops',
        [1920, 1080],
        640,
        480,
        'fill',
        { scale: [854, 480], frame: [640, 480], mode: 'crop' },
      ],
      [
        'pad fits and pads',
        [1920, 1080],
        640,
        480,
        'pad',
        { scale: [640, 360], frame: [640, 480], mode: 'pad' },
      ],
      ['pad of the same aspect needs no pad', [1920, 1080], 1280, 720, 'pad', { mode: 'none' }],
      ['portrait source into a landscape box', [1080, 1920], 1280, 720, 'fit', { scale: [406, 720] }],
      ['odd result rounded to even', [1280, 720], undefined, 362, 'fit', { scale: [644, 362] }],
    ];
  for (const [what, [w, h], bw, bh, aspect, want] of cases) {
    test(what, () => {
      const g = outputGeometry(w, h, bw, bh, aspect);
      for (const [k, value] of Object.entries(want)) assert.deepEqual(g[k as keyof typeof g], value, k);
    });
  }
});

describe('output options validation', () => {
  const bad: Array<[string, unknown]> = [
    ['unknown kind', { kind: 'gif' }],
    ['odd width', { kind: 'mp4', width: 641 }],
    ['huge height', { kind: 'mp4', height: 8640 }],
    ['bitrate out of bounds', { kind: 'mp4', videoBitrate: 10 }],
    ['free-form codec string', { kind: 'mp4', videoCodec: 'libx264 -vf evil' }],
    ['vp9 in mp4', { kind: 'mp4', videoCodec: 'vp9' }],
    ['unknown field (no free args)', { kind: 'webm', extraArgs: ['-i', 'http://x'] }],
    ['file name with a path', { kind: 'mp4', fileName: '../x.mp4' }],
    ['aspect not in the list', { kind: 'poster', aspect: 'stretch' }],
    ['too many thumbnail times', { kind: 'thumbnails', times: Array.from({ length: 101 }, (_, i) => i) }],
  ];
  for (const [what, value] of bad) {
    test(`refused: ${what}`, () => assert.equal(outputOptionsSchema.safeParse(value).success, false));
  }
  const crossField: Array<[string, OutputOptionsInput, RegExp]> = [
    ['crf and bitrate', { kind: 'mp4', crf: 20, videoBitrate: 1_000_000 }, /not both/],
    ['x264 crf above 51', { kind: 'mp4', crf: 60 }, /0\.\.51/],
    ['times and interval', { kind: 'thumbnails', times: [1], intervalS: 2 }, /not both/],
    ['wrong extension', { kind: 'webm', fileName: 'a.mp4' }, /\.webm/],
  ];
  for (const [what, value, message] of crossField) {
    test(`cross-field: ${what}`, () => {
      const problems = checkOutputOptions(outputOptionsSchema.parse(value));
      assert.ok(
        problems.some((p) => message.test(p)),
        problems.join('; '),
      );
    });
  }
  test('vp9 crf 40 is within range', () => {
    assert.deepEqual(checkOutputOptions(outputOptionsSchema.parse({ kind: 'webm', crf: 40 })), []);
  });
});

describe('planOutputs + buildOutputsArgs', () => {
  const probe = fakeProbe({ width: 1280, height: 720, displayWidth: 1280, displayHeight: 720 });
  const outputs = [
    named('hls', { kind: 'hls', ladder: { short: true } }),
    named('mp4-720', { kind: 'mp4', height: 720, videoBitrate: 2_500_000, speed: 'ultrafast' }),
    named('webm-480', { kind: 'webm', height: 480, crf: 36 }),
    named('thumbs', { kind: 'thumbnails', intervalS: 2, width: 320, height: 240, aspect: 'fill' }),
    named('audio', { kind: 'audio', format: 'mp3', audioBitrate: 96_000, channels: 1 }),
    named('poster', { kind: 'poster', format: 'webp', width: 640, height: 480, aspect: 'pad' }),
  ];
  const plan = planOutputs(probe, outputs);

  test('ladders go to the ladder encoder, files to the shared decode', () => {
    assert.deepEqual(
      plan.ladders.map((l) => l.name),
      ['hls'],
    );
    assert.deepEqual(
      plan.files.map((f) => f.name),
      ['mp4-720', 'webm-480', 'thumbs', 'audio', 'poster'],
    );
  });

  test('one decode: one input, one split feeding every video output', () => {
    const args = buildOutputsArgs(plan, '/out')!;
    assert.equal(args.filter((a) => a === '-i').length, 1);
    const graph = args[args.indexOf('-filter_complex') + 1]!;
    assert.match(graph, /^\[0:0\]split=4\[s0\]\[s1\]\[s2\]\[s3\];/);
    assert.match(graph, /\[s0\]scale=1280:720:flags=bicubic,setsar=1,format=yuv420p\[o0\]/);
    assert.match(graph, /\[s2\]fps=1\/2:round=down,scale=426:240:flags=bicubic,setsar=1,crop=320:240,/);
    assert.match(graph, /\[s3\]trim=start=2\.5,setpts=PTS-STARTPTS,scale=640:360.*pad=640:480:/);
    assert.ok(args.includes('/out/mp4-720/video.mp4'));
    assert.ok(args.includes('/out/thumbs/thumb_%04d.jpg'));
    assert.ok(args.includes('/out/audio/audio.mp3'));
    assert.ok(args.includes('/out/poster/poster.webp'));
  });

  test('codec argv per output: abr with VBV, vp9 constant quality, mp3 mono', () => {
    const mp4 = plan.files[0]!.args;
    assert.deepEqual(mp4.slice(mp4.indexOf('-b:v'), mp4.indexOf('-b:v') + 6), [
      ...['-b:v', '2500k', '-maxrate', '3750k', '-bufsize', '5000k'],
    ]);
    assert.ok(mp4.includes('+faststart'));
    const webm = plan.files[1]!.args;
    assert.deepEqual(webm.slice(webm.indexOf('-crf'), webm.indexOf('-crf') + 4), ['-crf', '36', '-b:v', '0']);
    assert.ok(webm.includes('libopus'));
    const mp3 = plan.files[3]!.args;
    assert.deepEqual(mp3.slice(0, 7), ['-vn', '-c:a', 'libmp3lame', '-b:a', '96k', '-ac', '1']);
  });

  test('an audio-only source: video outputs are impossible, audio runs', () => {
    const p = planOutputs(fakeProbe(undefined), outputs.slice(1));
    assert.deepEqual(
      p.impossible.map((i) => i.name),
      ['mp4-720', 'webm-480', 'thumbs', 'poster'],
    );
    assert.deepEqual(
      p.files.map((f) => f.name),
      ['audio'],
    );
    assert.equal(buildOutputsArgs(p, '/out')!.includes('-filter_complex'), false);
  });

  test('a silent source: the audio output is impossible, video outputs carry no audio', () => {
    const p = planOutputs(fakeProbe({}, { audio: [] }), outputs.slice(1, 2).concat(outputs.slice(4, 5)));
    assert.deepEqual(
      p.impossible.map((i) => i.name),
      ['audio'],
    );
    assert.ok(p.files[0]!.args.includes('-an'));
  });

  test('thumbnail times past the end: impossible; the ones before it are kept', () => {
    const p = planOutputs(probe, [
      named('late', { kind: 'thumbnails', times: [12, 20] }),
      named('some', { kind: 'thumbnails', times: [1, 12] }),
    ]);
    assert.deepEqual(
      p.impossible.map((i) => i.name),
      ['late'],
    );
    assert.equal(p.files[0]!.filters[0], 'select=gte(t\\,1)*lt(prev_pts*TB\\,1)');
  });

  test('an HDR source is tone-mapped once, before the split', () => {
    const hdr = fakeProbe({ hdr: 'pq', pixFmt: 'yuv420p10le', bitDepth: 10, colorTransfer: 'smpte2084' });
    const args = buildOutputsArgs(planOutputs(hdr, outputs.slice(1, 3)), '/out')!;
    const graph = args[args.indexOf('-filter_complex') + 1]!;
    assert.match(
      graph,
      /^\[0:0\]zscale=t=linear:npl=100,.*tonemap=tonemap=hable.*,format=yuv420p,split=2\[s0\]\[s1\];/,
    );
    assert.equal(graph.match(/tonemap=hable/g)?.length, 1);
  });

  test('dash output is an fMP4 ladder with a DASH manifest', () => {
    const p = planOutputs(probe, [named('d', { kind: 'dash' })], { short: true });
    assert.deepEqual(p.ladders[0]!.ladder, { short: true, format: 'fmp4', dash: true });
  });
});

describe('frame times', () => {
  test('select expression takes the first frame at or after each time', () => {
    assert.equal(selectAtTimes([2, 0, 2]), 'isnan(prev_pts)+gte(t\\,2)*lt(prev_pts*TB\\,2)');
  });
  test('poster time: a quarter in, capped at 30 s and before the end', () => {
    assert.equal(posterTime(undefined, 10), 2.5);
    assert.equal(posterTime(undefined, 600), 30);
    assert.equal(posterTime(50, 10), 9.9);
  });
});

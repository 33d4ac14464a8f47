import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '../errors.js';
import { fakeProbe } from './fake-probe.js';
import {
  LADDER_PRESETS,
  ladderCodecs,
  ladderOptionsSchema,
  ladderSpecs,
  minimumLevel,
  planLadder,
  withCrf,
} from './ladder.js';
import type { ProbeResult } from './types.js';

const sizes = (p: ReturnType<typeof planLadder>): string[] =>
  p.renditions.map((r) => (r.kind === 'video' ? `${r.name}=${r.width}x${r.height}` : r.name));

describe('planLadder', () => {
  const cases: Array<{
    name: string;
    probe: ProbeResult;
    options?: Parameters<typeof planLadder>[1];
    want: string[];
  }> = [
    {
      name: '1080p source: full default ladder',
      probe: fakeProbe({}),
      want: ['1080p=1920x1080', '720p=1280x720', '480p=854x480'],
    },
    {
      name: '720p source: 720p + 480p, never 1080p',
      probe: fakeProbe({ width: 1280, height: 720 }),
      want: ['720p=1280x720', '480p=854x480'],
    },
    {
      name: '180p source: one rendition at source size',
      probe: fakeProbe({ width: 320, height: 180, codec: 'vp9' }),
      want: ['180p=320x180'],
    },
    {
      name: 'rotated 1920x1080 (90°): portrait family labelled by the short side',
      probe: fakeProbe({ rotation: 90, displayWidth: 1080, displayHeight: 1920 }),
      want: ['1080p=1080x1920', '720p=720x1280', '480p=480x854'],
    },
    {
      name: 'SAR 2:1 640x360: square pixels 1280x360',
      probe: fakeProbe({
        width: 640,
        height: 360,
        sar: { num: 2, den: 1 },
        displayWidth: 1280,
        displayHeight: 360,
      }),
      want: ['360p=1280x360'],
    },
    {
      name: 'odd sizes are made even',
      probe: fakeProbe({ width: 1279, height: 719, displayWidth: 1279, displayHeight: 719 }),
      want: ['480p=854x480'],
    },
    {
      name: 'short mode: 480p only',
      probe: fakeProbe({}, { durationS: 300 }),
      options: { short: true },
      want: ['480p=854x480'],
    },
    {
      name: 'custom ladder, sorted, above-source entries dropped',
      probe: fakeProbe({ width: 1280, height: 720 }),
      options: {
        ladder: [
          { name: 'lo', height: 360, videoBitrate: 600_000 },
          { name: 'hi', height: 1440, videoBitrate: 9_000_000 },
          { name: 'mid', height: 540, videoBitrate: 1_500_000 },
        ],
      },
      want: ['mid=960x540', 'lo=640x360'],
    },
    { name: 'audio-only source: one audio rendition', probe: fakeProbe(undefined), want: ['audio'] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planLadder(c.probe, c.options);
      assert.deepEqual(sizes(plan), c.want);
      for (const r of plan.renditions) {
        if (r.kind === 'video') assert.ok(r.width % 2 === 0 && r.height % 2 === 0, `${r.name} even`);
      }
    });
  }

  test('short mode trims to the first 60 s; short sources are not trimmed', () => {
    assert.equal(planLadder(fakeProbe({}, { durationS: 300 }), { short: true }).trimS, 60);
    assert.equal(planLadder(fakeProbe({}, { durationS: 300 }), { short: true }).durationS, 60);
    assert.equal(planLadder(fakeProbe({}, { durationS: 30 }), { short: true }).trimS, undefined);
    assert.equal(planLadder(fakeProbe({}, { durationS: 300 })).trimS, undefined);
  });

  test('frame rate kept, capped at 60, VFR normalised to a constant rate, GOP = segment × fps', () => {
    const ntsc = planLadder(fakeProbe({ frameRate: { num: 30000, den: 1001 }, fps: 29.97 }));
    assert.deepEqual(ntsc.video?.frameRate, { num: 30000, den: 1001 });
    assert.equal(ntsc.video?.gopFrames, 120);
    const fast = planLadder(fakeProbe({ frameRate: { num: 120, den: 1 }, fps: 120 }), { segmentDuration: 2 });
    assert.deepEqual(fast.video?.frameRate, { num: 60, den: 1 });
    assert.equal(fast.video?.gopFrames, 120);
    const vfr = planLadder(fakeProbe({ vfr: true, frameRate: { num: 2997, den: 100 }, fps: 29.97 }));
    assert.equal(vfr.video?.vfr, true);
    assert.deepEqual(vfr.video?.frameRate, { num: 2997, den: 100 });
  });

  test('10-bit and HDR sources become 8-bit SDR, tone-mapped for PQ/HLG only', () => {
    const pq = planLadder(
      fakeProbe({ pixFmt: 'yuv420p10le', bitDepth: 10, hdr: 'pq', colorTransfer: 'smpte2084' }),
    );
    assert.equal(pq.video?.tonemap, 'pq');
    assert.equal(pq.video?.highBitDepth, true);
    const hlg = planLadder(fakeProbe({ pixFmt: 'yuv420p10le', bitDepth: 10, hdr: 'hlg' }));
    assert.equal(hlg.video?.tonemap, 'hlg');
    const sdr10 = planLadder(fakeProbe({ pixFmt: 'yuv420p10le', bitDepth: 10 }));
    assert.equal(sdr10.video?.tonemap, undefined);
    assert.equal(sdr10.video?.highBitDepth, true);
  });

  test('no audio: silent AAC track planned; audio stream chosen otherwise', () => {
    assert.equal(planLadder(fakeProbe({}, { audio: [] })).audio.mode, 'silent');
    const withAudio = planLadder(fakeProbe({}));
    assert.equal(withAudio.audio.mode, 'source');
    assert.equal(withAudio.audio.streamIndex, 1);
  });

  test('levels follow the blueprint and rise when size × rate needs it (1080p60 → 4.2)', () => {
    const p30 = planLadder(fakeProbe({}));
    assert.deepEqual(
      p30.renditions.map((r) => (r.kind === 'video' ? `${r.profile}@${r.level}` : '')),
      ['high@4.1', 'high@4.0', 'main@3.1'],
    );
    const p60 = planLadder(fakeProbe({ frameRate: { num: 60, den: 1 }, fps: 60 }));
    assert.equal(p60.renditions[0]?.kind === 'video' && p60.renditions[0].level, '4.2');
    assert.equal(minimumLevel(854, 480, 30, 1_500_000, 'main', '3.1'), '3.1');
    assert.equal(minimumLevel(3840, 2160, 30, 20_000_000, 'high', '4.1'), '5.1');
  });

  test('only selects renditions; unknown names and bad options are ValidationErrors', () => {
    assert.deepEqual(planLadder(fakeProbe({}), { only: ['480p'] }).encode, ['480p']);
    assert.throws(() => planLadder(fakeProbe({}), { only: ['4k'] }), ValidationError);
    assert.throws(() => planLadder(fakeProbe({}), { segmentDuration: 0 }), ValidationError);
    assert.throws(
      () => planLadder(fakeProbe({}), { ladder: [{ name: '../x', height: 480, videoBitrate: 1e6 }] }),
      ValidationError,
    );
    assert.throws(
      () => planLadder(fakeProbe({}), { extra: '-vf evil' } as unknown as Parameters<typeof planLadder>[1]),
      ValidationError,
    );
  });

  test('an unknown preset name is refused with the list of valid presets (the API and CLI show it)', () => {
    const result = ladderOptionsSchema.safeParse({ ladder: 'foo' });
    assert.equal(result.success, false);
    const message = result.error?.issues[0]?.message ?? '';
    assert.match(message, /unknown ladder preset "foo"/);
    for (const name of Object.keys(LADDER_PRESETS))
      assert.ok(message.includes(name), `${name} in ${message}`);
  });
});

describe('planLadder: codecs (issue #17)', () => {
  const summary = (p: ReturnType<typeof planLadder>): string[] =>
    p.renditions.map((r) =>
      r.kind === 'video'
        ? `${r.name} ${r.codec} ${r.width}x${r.height} ${r.videoBitrate} ${r.level ?? '-'}`
        : r.name,
    );
  const cases: Array<{
    name: string;
    options: Parameters<typeof planLadder>[1];
    format: string;
    want: string[];
  }> = [
    {
      name: 'default: H.264 in MPEG-TS',
      options: {},
      format: 'ts',
      want: ['720p h264 1280x720 2500000 4.0', '480p h264 854x480 1000000 3.1'],
    },
    {
      name: 'codecs [av1, h264]: AV1 with an H.264 fallback per size, AV1 at 0.6 × the bitrate, fMP4',
      options: { codecs: ['av1', 'h264'] },
      format: 'fmp4',
      want: [
        '720p-av1 av1 1280x720 1500000 -',
        '720p h264 1280x720 2500000 4.0',
        '480p-av1 av1 854x480 600000 -',
        '480p h264 854x480 1000000 3.1',
      ],
    },
    {
      name: 'codecs [hevc]: HEVC only at 0.7 ×',
      options: { codecs: ['hevc'] },
      format: 'fmp4',
      want: ['720p-hevc hevc 1280x720 1750000 -', '480p-hevc hevc 854x480 700000 -'],
    },
    {
      name: 'custom renditions with their own codec, mixed',
      options: {
        ladder: [
          { name: 'lo', height: 360, videoBitrate: 400_000, codec: 'vp9' },
          { name: 'hi', height: 720, videoBitrate: 2_000_000, codec: 'hevc' },
          { name: 'hi264', height: 720, videoBitrate: 2_500_000 },
        ],
      },
      format: 'fmp4',
      want: ['hi hevc 1280x720 2000000 -', 'hi264 h264 1280x720 2500000 3.1', 'lo vp9 640x360 400000 -'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planLadder(fakeProbe({ width: 1280, height: 720 }), c.options);
      assert.equal(plan.format, c.format);
      assert.deepEqual(summary(plan), c.want);
    });
  }

  test('a source below every rendition gets one rendition per codec at its own size', () => {
    const plan = planLadder(fakeProbe({ width: 320, height: 180 }), { codecs: ['h264', 'vp9'] });
    assert.deepEqual(
      plan.renditions.map((r) => r.name),
      ['180p', '180p-vp9'],
    );
  });

  test('capped CRF: the x264-scale CRF moves to each codec scale (x265 +5, SVT-AV1 +12, VP9 +10)', () => {
    const plan = planLadder(fakeProbe({ width: 854, height: 480 }), {
      codecs: ['h264', 'hevc', 'av1', 'vp9'],
      rateControl: 'capped-crf',
      crf: 24,
    });
    assert.deepEqual(
      plan.renditions.map((r) => (r.kind === 'video' ? [r.codec, r.crf] : [])),
      [
        ['h264', 24],
        ['hevc', 29],
        ['av1', 36],
        ['vp9', 34],
      ],
    );
    // The analysis measures H.264; the other codecs follow their same-size H.264 twin.
    const analysed = withCrf(
      { ...plan, rateControl: { mode: 'capped-crf', targetSsim: 0.99, analyze: true } },
      { '480p': 20 },
    );
    assert.deepEqual(
      analysed.renditions.map((r) => (r.kind === 'video' ? r.crf : 0)),
      [20, 25, 32, 30],
    );
  });

  test('ladderCodecs / ladderSpecs: what a job requires before the source is known', () => {
    assert.deepEqual(ladderCodecs(ladderOptionsSchema.parse({})), ['h264']);
    assert.deepEqual(ladderCodecs(ladderOptionsSchema.parse({ codecs: ['av1', 'h264'] })), ['av1', 'h264']);
    assert.deepEqual(
      ladderSpecs(ladderOptionsSchema.parse({ short: true, codecs: ['vp9'] })).map((r) => r.name),
      ['480p-vp9'],
    );
  });

  const refused: Array<{ name: string; options: Parameters<typeof planLadder>[1]; message: RegExp }> = [
    {
      name: 'HEVC in MPEG-TS',
      options: { codecs: ['hevc'], format: 'ts' },
      message: /format "ts" cannot carry hevc/,
    },
    { name: 'an unknown codec', options: { codecs: ['h266' as 'hevc'] }, message: /codecs/ },
    { name: 'duplicate codecs', options: { codecs: ['av1', 'av1'] }, message: /unique/ },
    {
      name: 'an H.264 level on an AV1 rendition',
      options: { ladder: [{ name: 'a', height: 480, videoBitrate: 500_000, codec: 'av1', level: '3.1' }] },
      message: /h264 renditions only/,
    },
    {
      name: 'codecs together with renditions that set a codec',
      options: {
        codecs: ['h264'],
        ladder: [{ name: 'a', height: 480, videoBitrate: 500_000, codec: 'vp9' }],
      },
      message: /cannot be combined/,
    },
  ];
  for (const c of refused) {
    test(`refused: ${c.name}`, () => {
      assert.throws(
        () => planLadder(fakeProbe({}), c.options),
        (err: unknown) => err instanceof ValidationError && c.message.test(err.message),
      );
    });
  }
});

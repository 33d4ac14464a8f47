import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DashRendition, isoDuration, mpdText, segmentTemplate } from './dash.js';
import type { RenditionResult } from './hls.js';

describe('segmentTemplate (ISO/IEC 23009-1 §5.3.9.4.4)', () => {
  const cases: Array<{ name: string; uris: string[]; want: ReturnType<typeof segmentTemplate> }> = [
    {
      name: 'vidmesh layout: zero-padded numbers from 0',
      uris: ['720p/seg_00000.m4s', '720p/seg_00001.m4s', '720p/seg_00002.m4s'],
      want: { media: '720p/seg_$Number%05d$.m4s', startNumber: 0 },
    },
    {
      name: '3speak layout: plain numbers',
      uris: ['480p/480p_0.m4s', '480p/480p_1.m4s', '480p/480p_2.m4s', '480p/480p_10.m4s'].slice(0, 3),
      want: { media: '480p/480p_$Number$.m4s', startNumber: 0 },
    },
    {
      name: 'a gap in the numbering: no template',
      uris: ['a/seg_00000.m4s', 'a/seg_00002.m4s'],
      want: undefined,
    },
    { name: 'MPEG-TS segments: no template', uris: ['a/seg_00000.ts'], want: undefined },
    {
      name: '`$` in a folder name is escaped as `$$`',
      uris: ['a$b/seg_00000.m4s'],
      want: { media: 'a$$b/seg_$Number%05d$.m4s', startNumber: 0 },
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(segmentTemplate(c.uris), c.want));
});

test('isoDuration: xs:duration with milliseconds', () => {
  assert.equal(isoDuration(3.0404), 'PT3.040S');
  assert.equal(isoDuration(0), 'PT0.000S');
});

describe('mpdText', () => {
  const rendition = (
    name: string,
    kind: 'video' | 'audio',
    codecs: string,
    segs: number[],
  ): DashRendition => ({
    result: {
      name,
      kind,
      width: kind === 'video' ? 640 : undefined,
      height: kind === 'video' ? 360 : undefined,
      bandwidth: 500_000,
      averageBandwidth: 400_000,
      codecs,
      frameRate: kind === 'video' ? 30000 / 1001 : undefined,
      durationS: segs.reduce((a, b) => a + b, 0),
      bytes: 1,
      segments: segs.length,
      playlist: `${name}/index.m3u8`,
    } satisfies RenditionResult,
    init: `${name}/init.mp4`,
    segments: segs.map((d, i) => ({ uri: `${name}/seg_${String(i).padStart(5, '0')}.m4s`, durationS: d })),
  });
  const text = mpdText([
    rendition('360p-av1', 'video', 'av01.0.04M.08', [2, 2, 1.5]),
    rendition('360p', 'video', 'avc1.64001e', [2, 2, 1.5]),
    rendition('audio', 'audio', 'mp4a.40.2', [2.005333, 2.005333, 1.5]),
  ]);

  test('one video AdaptationSet per codec family, one audio set, static, longest duration', () => {
    assert.equal((text.match(/<AdaptationSet /g) ?? []).length, 3);
    assert.match(text, /type="static" mediaPresentationDuration="PT5.511S"/);
    assert.match(text, /contentType="audio" mimeType="audio\/mp4"/);
    assert.match(
      text,
      /<Representation id="360p-av1" bandwidth="500000" codecs="av01.0.04M.08" width="640" height="360" sar="1:1" frameRate="30000\/1001">/,
    );
  });
  test('SegmentTemplate over the HLS files, timeline runs folded, microsecond timescale', () => {
    assert.match(
      text,
      /<SegmentTemplate timescale="1000000" initialization="360p\/init.mp4" media="360p\/seg_\$Number%05d\$.m4s" startNumber="0">\n<SegmentTimeline><S t="0" d="2000000" r="1"\/><S t="4000000" d="1500000"\/><\/SegmentTimeline>/,
    );
  });
  test('video codecs only in video Representations (the audio codec is its own set)', () => {
    assert.doesNotMatch(text, /codecs="[^"]*,/);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropLeadingSegments } from './chunk-encode.js';
import { EncodeError } from './errors.js';

const PLAYLIST = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-TARGETDURATION:4',
  '#EXT-X-MEDIA-SEQUENCE:0',
  '#EXT-X-PLAYLIST-TYPE:VOD',
  '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXTINF:4.000000,',
  'seg_00000.ts',
  '#EXTINF:4.000000,',
  'seg_00001.ts',
  '#EXTINF:3.966667,',
  'seg_00002.ts',
  '#EXT-X-ENDLIST',
  '',
].join('\n');

test('dropLeadingSegments: removes the first segments, raises MEDIA-SEQUENCE, keeps header and ENDLIST', () => {
  const cases: Array<[number, string[], string, Array<{ uri: string; durationS: number }>]> = [
    [0, ['seg_00000.ts', 'seg_00001.ts', 'seg_00002.ts'], '0', []],
    [1, ['seg_00001.ts', 'seg_00002.ts'], '1', [{ uri: 'seg_00000.ts', durationS: 4 }]],
    [
      2,
      ['seg_00002.ts'],
      '2',
      [
        { uri: 'seg_00000.ts', durationS: 4 },
        { uri: 'seg_00001.ts', durationS: 4 },
      ],
    ],
  ];
  for (const [count, uris, seq, dropped] of cases) {
    const out = dropLeadingSegments(PLAYLIST, count);
    const lines = out.text.split('\n');
    assert.deepEqual(
      lines.filter((l) => l.endsWith('.ts')),
      uris,
      `drop ${count}`,
    );
    assert.equal(lines.filter((l) => l.startsWith('#EXTINF')).length, uris.length, `drop ${count}: EXTINF`);
    assert.ok(lines.includes(`#EXT-X-MEDIA-SEQUENCE:${seq}`), `drop ${count}: sequence`);
    assert.deepEqual(out.dropped, dropped, `drop ${count}: dropped`);
    assert.deepEqual(lines.slice(0, 3), ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:4']);
    assert.ok(out.text.endsWith('#EXT-X-ENDLIST\n'), `drop ${count}: ENDLIST kept`);
  }
});

test('dropLeadingSegments: tags between a dropped EXTINF and its URI go with it', () => {
  const text = PLAYLIST.replace(
    '#EXTINF:4.000000,\nseg_00000.ts',
    '#EXTINF:4.000000,\n#EXT-X-BYTERANGE:100@0\nseg_00000.ts',
  );
  const out = dropLeadingSegments(text, 1);
  assert.doesNotMatch(out.text, /BYTERANGE|seg_00000/);
});

test('dropLeadingSegments: dropping all segments (or more) is an EncodeError', () => {
  assert.throws(() => dropLeadingSegments(PLAYLIST, 3), EncodeError);
  assert.throws(() => dropLeadingSegments(PLAYLIST, 5), EncodeError);
});

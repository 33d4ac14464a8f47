import assert from 'node:assert/strict';
import { test } from 'node:test';
import HLS from 'hls-parser';
import { liveLadder } from '../media/live-args.js';
import { type PlaylistSegment, renderMasterPlaylist, renderMediaPlaylist } from './playlist.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const seg = (seq: number, over: Partial<PlaylistSegment> = {}): PlaylistSegment => ({
  seq,
  durationS: 2,
  programDateTime: at(seq * 2),
  discontinuity: false,
  ...over,
});

test('event playlist: EVENT type, media sequence from 0, program date times, no ENDLIST while live', () => {
  const text = renderMediaPlaylist({
    segments: [seg(0), seg(1), seg(2)],
    kind: 'event',
    discontinuitySequence: 0,
    segmentS: 2,
    ended: false,
  });
  assert.match(text, /#EXT-X-PLAYLIST-TYPE:EVENT\n/);
  assert.match(text, /#EXT-X-MEDIA-SEQUENCE:0\n/);
  assert.match(text, /#EXT-X-TARGETDURATION:2\n/);
  assert.doesNotMatch(text, /ENDLIST/);
  const parsed = HLS.parse(text) as HLS.types.MediaPlaylist;
  assert.equal(parsed.segments.length, 3);
  assert.equal(parsed.segments[1]!.uri, '1.ts');
  assert.equal(parsed.segments[2]!.programDateTime?.toISOString(), '2026-01-01T00:00:04.000Z');
  assert.equal(parsed.endlist, false);
});

test('failover: EXT-X-DISCONTINUITY before the first segment of the new attempt, sequence unbroken, ENDLIST at the end', () => {
  const text = renderMediaPlaylist({
    segments: [seg(0), seg(1), seg(2, { discontinuity: true, durationS: 1.2 }), seg(3)],
    kind: 'event',
    discontinuitySequence: 0,
    segmentS: 2,
    ended: true,
  });
  const parsed = HLS.parse(text) as HLS.types.MediaPlaylist;
  assert.deepEqual(
    parsed.segments.map((s) => [s.mediaSequenceNumber, s.discontinuity === true]),
    [
      [0, false],
      [1, false],
      [2, true],
      [3, false],
    ],
  );
  assert.equal(parsed.endlist, true);
  assert.match(text, /#EXT-X-ENDLIST\n$/);
});

test('sliding window: media and discontinuity sequence of the first listed segment, no EVENT type', () => {
  const text = renderMediaPlaylist({
    segments: [seg(10, { discontinuity: true }), seg(11), seg(12, { discontinuity: true })],
    kind: 'sliding',
    discontinuitySequence: 2,
    segmentS: 2,
    ended: false,
  });
  assert.match(text, /#EXT-X-MEDIA-SEQUENCE:10\n/);
  assert.match(text, /#EXT-X-DISCONTINUITY-SEQUENCE:2\n/);
  assert.doesNotMatch(text, /PLAYLIST-TYPE/);
  // Only the one between listed segments is tagged; the first one's is counted in the sequence.
  assert.equal(text.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);
});

test('target duration: the longest segment rounded, never below the nominal duration', () => {
  const text = renderMediaPlaylist({
    segments: [seg(0, { durationS: 3.6 })],
    kind: 'event',
    discontinuitySequence: 0,
    segmentS: 2,
    ended: false,
  });
  assert.match(text, /#EXT-X-TARGETDURATION:4\n/);
  const empty = renderMediaPlaylist({
    segments: [],
    kind: 'event',
    discontinuitySequence: 0,
    segmentS: 2,
    ended: false,
  });
  assert.match(empty, /#EXT-X-MEDIA-SEQUENCE:0\n/);
});

test('master playlist: one variant per rung, highest first, with RESOLUTION and CODECS', () => {
  const parsed = HLS.parse(renderMasterPlaylist(liveLadder(['480p', '720p']))) as HLS.types.MasterPlaylist;
  assert.deepEqual(
    parsed.variants.map((v) => [v.uri, v.resolution?.width, v.resolution?.height, v.codecs]),
    [
      ['720p/index.m3u8', 1280, 720, 'avc1.4d401f,mp4a.40.2'],
      ['480p/index.m3u8', 854, 480, 'avc1.4d401e,mp4a.40.2'],
    ],
  );
});

test('recording: VOD type, every segment, the failover discontinuity kept, ENDLIST', () => {
  const text = renderMediaPlaylist({
    segments: [seg(0), seg(1, { discontinuity: true }), seg(2)],
    kind: 'vod',
    discontinuitySequence: 0,
    segmentS: 2,
    ended: true,
  });
  assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
  assert.doesNotMatch(text, /EVENT/);
  const parsed = HLS.parse(text) as HLS.types.MediaPlaylist;
  assert.equal(parsed.playlistType, 'VOD');
  assert.equal(parsed.endlist, true);
  assert.deepEqual(
    parsed.segments.map((s) => [s.uri, s.discontinuity === true]),
    [
      ['0.ts', false],
      ['1.ts', true],
      ['2.ts', false],
    ],
  );
});

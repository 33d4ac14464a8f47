import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import HLS from 'hls-parser';
import { EncodeError } from './errors.js';
import {
  avcCodecFromAnnexB,
  fixZeroTargetDuration,
  masterPlaylistText,
  measurePlaylist,
  type RenditionResult,
} from './hls.js';

test('avc1.PPCCLL comes from the SPS bytes (profile, constraint flags, level)', () => {
  const sps = Buffer.from([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9]);
  assert.equal(avcCodecFromAnnexB(sps), 'avc1.640028');
  const baseline = Buffer.from([0, 0, 1, 0x27, 0x42, 0xc0, 0x1f, 0x8c]);
  assert.equal(avcCodecFromAnnexB(baseline), 'avc1.42c01f');
  assert.equal(avcCodecFromAnnexB(Buffer.from([0, 0, 1, 0x65, 1, 2, 3, 4])), undefined);
});

const rendition = (over: Partial<RenditionResult>): RenditionResult => ({
  name: '720p',
  kind: 'video',
  width: 1280,
  height: 720,
  bandwidth: 3_000_000,
  averageBandwidth: 2_600_000,
  codecs: 'avc1.640028,mp4a.40.2',
  frameRate: 30000 / 1001,
  durationS: 10,
  bytes: 3_250_000,
  segments: 3,
  playlist: '720p/index.m3u8',
  ...over,
});

test('master playlist carries every RFC 8216 §4.3.4.2 attribute and parses back', () => {
  const text = masterPlaylistText(
    [
      rendition({}),
      rendition({
        name: 'audio',
        kind: 'audio',
        width: undefined,
        height: undefined,
        codecs: 'mp4a.40.2',
        frameRate: undefined,
        playlist: 'audio/index.m3u8',
      }),
    ],
    'ts',
  );
  assert.match(
    text,
    /#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2600000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=29.970/,
  );
  const parsed = HLS.parse(text) as InstanceType<typeof HLS.types.MasterPlaylist>;
  assert.equal(parsed.isMasterPlaylist, true);
  assert.deepEqual(
    parsed.variants.map((v) => v.uri),
    ['720p/index.m3u8', 'audio/index.m3u8'],
  );
  assert.equal(parsed.variants[1]?.resolution, undefined);
});

test('measurePlaylist: peak and average bitrates from segment sizes; incomplete playlists refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-hls-'));
  try {
    await writeFile(join(dir, 'a.ts'), Buffer.alloc(1000));
    await writeFile(join(dir, 'b.ts'), Buffer.alloc(250));
    const media =
      '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:4.0,\na.ts\n#EXTINF:0.5,\nb.ts\n';
    await writeFile(join(dir, 'index.m3u8'), `${media}#EXT-X-ENDLIST\n`);
    const m = await measurePlaylist(join(dir, 'index.m3u8'));
    assert.equal(m.durationS, 4.5);
    assert.equal(m.peakBitrate, 4000);
    assert.equal(m.averageBitrate, Math.ceil((1250 * 8) / 4.5));
    await writeFile(join(dir, 'live.m3u8'), media);
    await assert.rejects(measurePlaylist(join(dir, 'live.m3u8')), EncodeError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('fixZeroTargetDuration raises a 0 target duration (1-frame video) and leaves others alone', () => {
  const one = '#EXTM3U\n#EXT-X-TARGETDURATION:0\n#EXTINF:0.040000,\nseg_00000.ts\n#EXT-X-ENDLIST\n';
  assert.equal(fixZeroTargetDuration(one), one.replace('TARGETDURATION:0', 'TARGETDURATION:1'));
  assert.equal(HLS.parse(fixZeroTargetDuration(one)).isMasterPlaylist, false);
  const normal = '#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:4,\nseg.ts\n';
  assert.equal(fixZeroTargetDuration(normal), normal);
});

test('master playlist: video-only renditions beside an audio rendition share it as an EXT-X-MEDIA audio group', () => {
  const text = masterPlaylistText(
    [
      rendition({
        name: '720p-av1',
        codecs: 'av01.0.05M.08',
        playlist: '720p-av1/index.m3u8',
        bandwidth: 1_000_000,
      }),
      rendition({ codecs: 'avc1.640028', bandwidth: 2_000_000, averageBandwidth: 1_500_000 }),
      rendition({
        name: 'audio',
        kind: 'audio',
        width: undefined,
        height: undefined,
        codecs: 'mp4a.40.2',
        frameRate: undefined,
        playlist: 'audio/index.m3u8',
        bandwidth: 130_000,
        averageBandwidth: 128_000,
      }),
    ],
    'fmp4',
  );
  assert.match(
    text,
    /#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,.*URI="audio\/index.m3u8"/,
  );
  const parsed = HLS.parse(text) as InstanceType<typeof HLS.types.MasterPlaylist>;
  assert.deepEqual(
    parsed.variants.map((v) => [v.uri, v.bandwidth, v.averageBandwidth, v.codecs, v.audio[0]?.groupId]),
    [
      ['720p-av1/index.m3u8', 1_130_000, 2_728_000, 'av01.0.05M.08,mp4a.40.2', 'audio'],
      ['720p/index.m3u8', 2_130_000, 1_628_000, 'avc1.640028,mp4a.40.2', 'audio'],
    ],
  );
});

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeAudioTrack, encodeVideoChunk, stitchLadder } from '../../src/media/chunk-encode.js';
import { planChunks } from '../../src/media/chunking.js';
import { EncodeError, encodeLadder, type LadderPlan, planLadder, probe } from '../../src/media/index.js';
import { makeSyntheticClip } from '../helpers/media.js';
import { avOffsets, ffprobe, frameTimes, keyframeTimes, videoFrames } from './verify.js';

// 12 s source, 4 s chunks of 2 s segments: three chunk tasks, one audio task, one stitch. x264
// `veryfast` (the default speed) uses B-frames, so the encoder's output starts with a negative DTS:
// the case where a chunk's timeline could slip against the unchunked encode's.
let dir: string;
let plan: LadderPlan;
let whole: string;
let stitched: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-chunked-'));
  const input = await makeSyntheticClip(join(dir, 'src.mp4'), {
    kind: 'testsrc',
    seconds: 12,
    size: '640x360',
    fps: 25,
  });
  plan = planLadder(await probe(input), {
    speed: 'veryfast',
    segmentDuration: 2,
    mp4: true,
    ladder: [
      { name: '360p', height: 360, videoBitrate: 600_000 },
      { name: '240p', height: 240, videoBitrate: 300_000 },
    ],
  });
  whole = join(dir, 'whole');
  await encodeLadder(plan, whole);
  const split = planChunks(plan.durationS, plan.segmentDuration, { seconds: 4 });
  assert.equal(split?.chunks.length, 3);
  assert.deepEqual(
    split!.chunks.map((c) => c.prerollS),
    [0, 2, 2],
    'one 2 s segment of pre-roll before the 2nd and 3rd chunks',
  );
  const chunkDirs: string[] = [];
  for (const c of split!.chunks) {
    const out = join(dir, `chunk${c.index}`);
    await encodeVideoChunk(plan, c, out);
    chunkDirs.push(out);
  }
  const audioDir = join(dir, 'audio');
  await encodeAudioTrack(plan, audioDir);
  stitched = join(dir, 'stitched');
  await stitchLadder(plan, { chunkDirs, audioDir }, stitched);
});
after(() => rm(dir, { recursive: true, force: true }));

test('chunked: stitched renditions have the unchunked frame count, duration and A/V offset (±40 ms)', async () => {
  for (const r of ['360p', '240p']) {
    const a = join(whole, r, 'index.m3u8');
    const b = join(stitched, r, 'index.m3u8');
    assert.equal(await videoFrames(b), await videoFrames(a), `${r} frame count`);
    assert.equal(await videoFrames(b), 300, `${r}: 12 s at 25 fps`);
    const [syncA, syncB] = [await avOffsets(a), await avOffsets(b)];
    assert.ok(
      Math.abs(syncA.startS - syncB.startS) <= 0.04,
      `${r} A/V start ${syncB.startS} vs ${syncA.startS}`,
    );
    assert.ok(Math.abs(syncA.endS - syncB.endS) <= 0.04, `${r} A/V end ${syncB.endS} vs ${syncA.endS}`);
  }
});

test('chunked: stitched frames have the unchunked timestamps and audio offset to the ms (B-frames)', async () => {
  for (const r of ['360p', '240p']) {
    const a = join(whole, r, 'index.m3u8');
    const b = join(stitched, r, 'index.m3u8');
    assert.deepEqual(await frameTimes(b), await frameTimes(a), `${r}: frame times relative to the first`);
    const [syncA, syncB] = [await avOffsets(a), await avOffsets(b)];
    assert.ok(Math.abs(syncA.startS - syncB.startS) <= 0.001, `${r} A/V ${syncB.startS} vs ${syncA.startS}`);
  }
});

test('chunked: every chunk seam is an IDR segment boundary; one continuous playlist without discontinuity', async () => {
  const playlist = readFileSync(join(stitched, '360p', 'index.m3u8'), 'utf8');
  assert.doesNotMatch(playlist, /EXT-X-DISCONTINUITY/);
  assert.match(playlist, /#EXT-X-ENDLIST/);
  const uris = playlist.split('\n').filter((l) => l.endsWith('.ts'));
  assert.deepEqual(uris, [
    'seg_00000.ts',
    'seg_00001.ts',
    'seg_00002.ts',
    'seg_00003.ts',
    'seg_00004.ts',
    'seg_00005.ts',
  ]);
  const keys = await keyframeTimes(join(stitched, '360p', 'index.m3u8'));
  for (const t of [0, 2, 4, 6, 8, 10])
    assert.ok(keys.includes(t), `keyframe at ${t} s (got ${keys.join(', ')})`);
});

test('chunked: master lists measured BANDWIDTH and CODECS with audio; MP4 copies exist', async () => {
  const master = readFileSync(join(stitched, 'master.m3u8'), 'utf8');
  assert.match(master, /BANDWIDTH=\d+/);
  assert.match(master, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
  const mp4 = join(stitched, '360p.mp4');
  assert.equal(await videoFrames(mp4), 300);
});

/** Absolute video packet times (s, rounded to ms), display order, and which are keyframes. */
async function absolutePackets(path: string): Promise<Array<[number, boolean]>> {
  const j = await ffprobe(['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', path]);
  return ((j.packets ?? []) as Array<{ pts_time: string; flags: string }>)
    .map((p): [number, boolean] => [Math.round(Number(p.pts_time) * 1000) / 1000, p.flags.includes('K')])
    .sort((a, b) => a[0] - b[0]);
}

test('chunked: a pre-rolled chunk holds only its own range, on the same timeline as without pre-roll', async () => {
  const span = planChunks(plan.durationS, plan.segmentDuration, { seconds: 4 })!.chunks[1]!;
  const bare = join(dir, 'chunk1-bare');
  await encodeVideoChunk(plan, { ...span, prerollS: 0 }, bare);
  const pre = join(dir, 'chunk1');
  const playlist = readFileSync(join(pre, '360p', 'index.m3u8'), 'utf8');
  // The pre-roll was the encode's first segment (seg_00000): dropped from the playlist and the disk.
  assert.match(playlist, /#EXT-X-MEDIA-SEQUENCE:1\n/);
  assert.deepEqual(
    playlist.split('\n').filter((l) => l.endsWith('.ts')),
    ['seg_00001.ts', 'seg_00002.ts'],
  );
  assert.equal(existsSync(join(pre, '360p', 'seg_00000.ts')), false, 'pre-roll segment deleted');
  const [a, b] = [
    await absolutePackets(join(bare, '360p', 'index.m3u8')),
    await absolutePackets(join(pre, '360p', 'index.m3u8')),
  ];
  assert.equal(b.length, 100, '4 s at 25 fps');
  assert.deepEqual(
    b.map(([t]) => t),
    a.map(([t]) => t),
    'same absolute frame times as the chunk without pre-roll',
  );
  assert.equal(b[0]![1], true, 'the first kept frame is a keyframe');
});

test('chunked: a pre-roll that is not whole segments before the start is an EncodeError', async () => {
  const span = planChunks(plan.durationS, plan.segmentDuration, { seconds: 4 })!.chunks[1]!;
  for (const prerollS of [1, 6, -2])
    await assert.rejects(encodeVideoChunk(plan, { ...span, prerollS }, join(dir, 'bad')), EncodeError);
});

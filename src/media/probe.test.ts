import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mediaDir } from '../paths.js';
import {
  EmptyFileError,
  InputNotFoundError,
  NotMediaError,
  NoVideoError,
  TruncatedMediaError,
} from './errors.js';
import { parseProbeJson, probe } from './probe.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-probe-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function head(src: string, bytes: number, name: string): Promise<string> {
  const fh = await open(join(mediaDir(), src), 'r');
  try {
    const buf = Buffer.alloc(bytes);
    await fh.read(buf, 0, bytes, 0);
    const out = join(dir, name);
    await writeFile(out, buf);
    return out;
  } finally {
    await fh.close();
  }
}

describe('probe on real media', () => {
  test('720p H.264 + AAC', async () => {
    const p = await probe(join(mediaDir(), 'big_buck_bunny_10s.mp4'));
    assert.equal(p.kind, 'video');
    assert.equal(p.video?.codec, 'h264');
    assert.deepEqual([p.video?.displayWidth, p.video?.displayHeight, p.video?.fps], [1280, 720, 24]);
    assert.equal(p.video?.vfr, false);
    assert.equal(p.video?.bitDepth, 8);
    assert.ok(Math.abs(p.durationS - 10) < 0.05);
    assert.equal(p.audio[0]?.codec, 'aac');
    assert.equal(p.audio[0]?.channels, 2);
  });

  test('display matrix rotation: stored 1920x1080 displays as 1080x1920', async () => {
    const p = await probe(join(mediaDir(), 'rotate-buck-bunny.mp4'));
    assert.equal(p.video?.rotation, 90);
    assert.deepEqual([p.video?.width, p.video?.height], [1920, 1080]);
    assert.deepEqual([p.video?.displayWidth, p.video?.displayHeight], [1080, 1920]);
  });

  test('SAR 2:1 without audio displays as 1280x360', async () => {
    const p = await probe(join(mediaDir(), 'sar_2x1.mp4'));
    assert.deepEqual(p.video?.sar, { num: 2, den: 1 });
    assert.deepEqual([p.video?.displayWidth, p.video?.displayHeight], [1280, 360]);
    assert.deepEqual(p.audio, []);
  });

  test('VP9 WebM and HEVC sources', async () => {
    const webm = await probe(join(mediaDir(), 'Big_Buck_Bunny_180_10s.webm'));
    assert.equal(webm.video?.codec, 'vp9');
    assert.equal(webm.durationS, 10);
    const hevc = await probe(join(mediaDir(), 'video-h265.mp4'));
    assert.equal(hevc.video?.codec, 'hevc');
  });

  test('audio-only input is valid and reported as audio', async () => {
    const out = join(dir, 'tone.m4a');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:duration=2',
      '-c:a',
      'aac',
      out,
    ]);
    const p = await probe(out);
    assert.equal(p.kind, 'audio');
    assert.equal(p.video, undefined);
    assert.equal(p.audio.length, 1);
  });
});

describe('probe refuses bad input with typed errors', () => {
  test('missing file', async () => {
    await assert.rejects(
      probe(join(dir, 'nope.mp4')),
      (e) => e instanceof InputNotFoundError && e.status === 404,
    );
  });
  test('empty file', async () => {
    const f = join(dir, 'empty.mp4');
    await writeFile(f, '');
    await assert.rejects(probe(f), (e) => e instanceof EmptyFileError && e.code === 'empty_file');
  });
  test('text and random bytes are not media', async () => {
    const t = join(dir, 'notes.mp4');
    await writeFile(t, 'this is not a video\n'.repeat(50));
    await assert.rejects(probe(t), (e) => e instanceof NotMediaError && e.code === 'not_media');
    const r = join(dir, 'random.bin');
    await writeFile(r, randomBytes(64 * 1024));
    await assert.rejects(probe(r), (e) => e instanceof NotMediaError);
  });
  test('MP4 cut before its index (moov at the end)', async () => {
    const f = await head('big_buck_bunny_10s.mp4', 1_000_000, 'cut-moov.mp4');
    await assert.rejects(probe(f), (e) => e instanceof TruncatedMediaError && e.code === 'truncated');
  });
  test('MP4 with intact index but data cut short (faststart)', async () => {
    const f = await head('video.mp4', 1_000_000, 'cut-data.mp4');
    await assert.rejects(probe(f), TruncatedMediaError);
  });
  test('WebM cut short', async () => {
    const f = await head('Big_Buck_Bunny_180_10s.webm', 100_000, 'cut.webm');
    await assert.rejects(probe(f), TruncatedMediaError);
  });
  test('playlists are refused: no fetch of the URLs they name (SSRF)', async () => {
    const remote = join(dir, 'remote.m3u8');
    await writeFile(
      remote,
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n',
    );
    await assert.rejects(probe(remote), NotMediaError);
    const ts = join(dir, 'seg.ts');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=d=1:s=64x64',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      ts,
    ]);
    const local = join(dir, 'local.m3u8');
    await writeFile(local, `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\n${ts}\n#EXT-X-ENDLIST\n`);
    await assert.rejects(probe(local), (e) => e instanceof NotMediaError && /playlists/.test(e.message));
  });
  test('no video and no audio (a subtitle-only file)', async () => {
    const srt = join(dir, 'sub.srt');
    await writeFile(srt, '1\n00:00:00,000 --> 00:00:01,000\nhello\n');
    const mkv = join(dir, 'sub.mkv');
    execFileSync('ffmpeg', ['-v', 'error', '-i', srt, mkv]);
    await assert.rejects(probe(mkv), (e) => e instanceof NoVideoError && e.code === 'no_video');
  });
});

test('parseProbeJson: legacy rotate tag, 10-bit HDR, VFR', () => {
  const p = parseProbeJson('/x.mov', {
    format: { format_name: 'mov', duration: '3.5', size: '100' },
    streams: [
      {
        index: 0,
        codec_type: 'video',
        codec_name: 'hevc',
        width: 3840,
        height: 2160,
        pix_fmt: 'yuv420p10le',
        color_transfer: 'smpte2084',
        r_frame_rate: '60/1',
        avg_frame_rate: '2997/100',
        tags: { rotate: '270' },
      },
    ],
  });
  assert.equal(p.video?.rotation, 270);
  assert.deepEqual([p.video?.displayWidth, p.video?.displayHeight], [2160, 3840]);
  assert.equal(p.video?.bitDepth, 10);
  assert.equal(p.video?.hdr, 'pq');
  assert.equal(p.video?.vfr, true);
  assert.equal(p.audio.length, 0);
});

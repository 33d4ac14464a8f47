import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectCodecs, parseEncoderList } from './codecs.js';

test('parseEncoderList: software codecs, compiled-in hardware encoders, AAC', () => {
  const text = [
    'Encoders:',
    ' V..... = Video',
    ' ------',
    ' V....D libx264              libx264 H.264 / AVC (codec h264)',
    ' V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)',
    ' V....D libvpx-vp9           libvpx VP9 (codec vp9)',
    ' V....D hevc_vaapi           H.265/HEVC (VAAPI) (codec hevc)',
    ' V....D libaom-av1           libaom AV1 (codec av1)',
    ' A..... aac                  AAC (Advanced Audio Coding)',
  ].join('\n');
  assert.deepEqual(parseEncoderList(text), {
    software: ['h264', 'vp9'],
    hardware: { h264: ['h264_nvenc'], hevc: ['hevc_vaapi'] },
    aac: true,
  });
  assert.deepEqual(parseEncoderList(''), { software: [], hardware: {}, aac: false });
});

test('detectCodecs on this machine: Debian ffmpeg has x264, x265, VP9 and SVT-AV1', async () => {
  const r = await detectCodecs();
  assert.deepEqual(r.software, ['h264', 'hevc', 'vp9', 'av1']);
  assert.equal(r.aac, true);
});

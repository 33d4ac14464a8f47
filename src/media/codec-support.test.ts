import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type CodecCandidate, detectCodecSupport, supportFrom } from './codec-support.js';
import { detectHwaccel } from './hwaccel.js';

test('supportFrom: per codec, the backends whose test encode passed, in the hwaccel order', () => {
  const c = (
    codec: CodecCandidate['codec'],
    backend: CodecCandidate['backend'],
    ok: boolean,
  ): CodecCandidate => ({
    codec,
    backend,
    ok,
    encoder: `${codec}@${backend}`,
    ms: 1,
  });
  const s = supportFrom(
    [
      c('h264', 'nvenc', true),
      c('h264', 'libx264', true),
      c('hevc', 'nvenc', true),
      c('hevc', 'libx264', false),
      c('av1', 'nvenc', false), // a pre-Ada GPU: no AV1 NVENC
      c('av1', 'libx264', false), // and no SVT-AV1 in this ffmpeg
      c('vp9', 'libx264', true),
    ],
    { deviceKey: 'k', order: ['nvenc', 'libx264'] },
    { cached: false, detectedAt: 'now' },
  );
  assert.deepEqual(s.codecs, ['h264', 'hevc', 'vp9']);
  assert.deepEqual(s.backends, { h264: ['nvenc', 'libx264'], hevc: ['nvenc'], vp9: ['libx264'] });
});

test('detectCodecSupport on this machine: every software encoder passes a real test encode, then cached', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-codecs-'));
  try {
    const hwaccel = await detectHwaccel({ cacheDir: dir });
    const first = await detectCodecSupport({ hwaccel, cacheDir: dir });
    assert.equal(first.cached, false);
    assert.deepEqual(first.codecs, ['h264', 'hevc', 'vp9', 'av1']);
    const software = first.candidates.filter((x) => x.backend === 'libx264').map((x) => x.encoder);
    assert.deepEqual(software, ['libx264', 'libx265', 'libvpx-vp9', 'libsvtav1']);
    assert.equal(first.deviceKey, hwaccel.deviceKey);
    const cache = JSON.parse(await readFile(join(dir, 'codecs.json'), 'utf8'));
    assert.equal(cache.deviceKey, hwaccel.deviceKey);
    const second = await detectCodecSupport({ hwaccel, cacheDir: dir });
    assert.equal(second.cached, true);
    assert.deepEqual(second.backends, first.backends);
    // A different device key (new ffmpeg, driver or GPU) tests again.
    const retest = await detectCodecSupport({ hwaccel: { ...hwaccel, deviceKey: 'other' }, cacheDir: dir });
    assert.equal(retest.cached, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

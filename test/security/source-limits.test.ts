import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import {
  checkSourceLimits,
  DEFAULT_SOURCE_LIMITS,
  SourceLimitExceededError,
} from '../../src/encoder/source-limits.js';
import { VidmeshError } from '../../src/errors.js';
import { probe } from '../../src/media/index.js';

const SHARED = '/work/shared/media/video.mp4';

/** A PNG whose header declares `w`x`h` RGB pixels, with a 100-byte image body (69 bytes in all). */
function pngHeader(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(100))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

for (const [w, h] of [
  [16000, 16000],
  [100000, 100000],
] as const) {
  test(`a hostile ${w}x${h} header is refused after probe without decoding a frame`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vidmesh-limits-'));
    try {
      const path = join(dir, 'huge.png');
      await writeFile(path, pngHeader(w, h));
      // The probe's own peak memory, as the pipeline runs it (unbounded: ~800 MB for 16000x16000).
      const timed = spawnSync('/usr/bin/time', [
        '-f',
        '%M',
        'ffprobe',
        '-v',
        'quiet',
        '-max_pixels',
        String(8192 * 8192),
        path,
      ]);
      const peakKiB = Number(timed.stderr.toString().trim().split('\n').at(-1));
      assert.ok(peakKiB < 200 * 1024, `ffprobe peak ${peakKiB} KiB`);
      let refused: unknown;
      try {
        checkSourceLimits(await probe(path), DEFAULT_SOURCE_LIMITS);
      } catch (err) {
        refused = err;
      }
      assert.ok(refused instanceof VidmeshError, String(refused));
      assert.equal(refused.retryable, false);
      assert.ok(refused.status >= 400 && refused.status < 500, refused.code);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('each limit is enforced on a real source; a source within limits passes', async () => {
  const info = await probe(SHARED);
  assert.ok(info.video);
  checkSourceLimits(info, DEFAULT_SOURCE_LIMITS);
  const v = info.video;
  const tight = (over: Partial<typeof DEFAULT_SOURCE_LIMITS>) => ({ ...DEFAULT_SOURCE_LIMITS, ...over });
  const cases: Array<[string, Partial<typeof DEFAULT_SOURCE_LIMITS>]> = [
    ['dimension', { maxDimension: Math.max(v.width, v.height) - 1 }],
    ['area', { maxPixels: v.width * v.height - 1 }],
    ['duration', { maxDurationS: info.durationS / 2 }],
    ['frames', { maxFrames: 1 }],
  ];
  for (const [what, limits] of cases) {
    assert.throws(() => checkSourceLimits(info, tight(limits)), SourceLimitExceededError, what);
  }
});

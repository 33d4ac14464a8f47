import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeLadder, type LadderOptionsInput, planLadder, probe } from '../../src/media/index.js';
import { verifyStagedLadder } from '../../src/trust/verify.js';
import { hashFiles } from '../helpers/hashes.js';
import { makeClip } from '../helpers/media.js';

/**
 * Verification of untrusted ladders keeps working for HEVC, AV1 and VP9 (issue #17): the init
 * segments are required and hashed, the codec is checked against the plan, and the spot re-encode
 * decodes each fMP4 segment behind its init segment and compares it with the verifier's own encode.
 */
const LADDER: LadderOptionsInput = {
  ladder: [
    { name: 'hevc', height: 240, videoBitrate: 300_000, codec: 'hevc' },
    { name: 'av1', height: 240, videoBitrate: 300_000, codec: 'av1' },
    { name: 'vp9', height: 240, videoBitrate: 300_000, codec: 'vp9' },
  ],
  speed: 'ultrafast',
  segmentDuration: 1,
  poster: false,
  thumbnail: false,
};

describe('verification of fMP4 ladders in HEVC, AV1 and VP9', () => {
  let root: string;
  let clip: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-verify-codecs-'));
    clip = await makeClip(join(root, 'clip.mp4'), { seconds: 3 });
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('an honest encode passes every check, init segments hashed, spot SSIM above the bar', async () => {
    const info = await probe(clip);
    const plan = planLadder(info, LADDER);
    const out = join(root, 'honest');
    await encodeLadder(plan, out);
    const declared = await hashFiles(out);
    const report = await verifyStagedLadder({
      dir: out,
      master: 'master.m3u8',
      declared,
      plan,
      source: info,
      random: () => 0.5,
    });
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.equal(report.spots.length, 6);
    assert.ok(
      report.spots.every((s) => s.ssim > 0.95),
      JSON.stringify(report.spots),
    );
    assert.match(
      report.checks.find((c) => c.name === 'hashes')!.detail,
      /^16 files/,
      '3 × (playlist, init segment, 3 segments) + master',
    );

    // The init segment is part of what was declared: a swapped one is caught by the hashes.
    declared.set('av1/init.mp4', '0'.repeat(64));
    const swapped = await verifyStagedLadder({
      dir: out,
      master: 'master.m3u8',
      declared,
      plan,
      source: info,
      spotSegments: 0,
    });
    assert.equal(swapped.ok, false);
    assert.match(swapped.checks.at(-1)!.detail, /av1\/init\.mp4 \(hash differs\)/);
  });

  test('a CMAF/DASH ladder (video-only renditions + shared audio group) passes; its audio files are hashed', async () => {
    const info = await probe(clip);
    const plan = planLadder(info, {
      ...LADDER,
      ladder: [{ name: 'av1', height: 240, videoBitrate: 300_000, codec: 'av1' }],
      dash: true,
    });
    const out = join(root, 'dash');
    await encodeLadder(plan, out);
    const declared = await hashFiles(out);
    const report = await verifyStagedLadder({
      dir: out,
      master: 'master.m3u8',
      declared,
      plan,
      source: info,
      random: () => 0.5,
      spotSegments: 1,
    });
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    declared.set('audio/seg_00001.m4s', '0'.repeat(64));
    const swapped = await verifyStagedLadder({
      dir: out,
      master: 'master.m3u8',
      declared,
      plan,
      source: info,
      spotSegments: 0,
    });
    assert.match(swapped.checks.at(-1)!.detail, /audio\/seg_00001\.m4s \(hash differs\)/);
  });

  test('H.264 delivered where the plan asks for AV1 fails the plan check', async () => {
    const info = await probe(clip);
    const plan = planLadder(info, {
      ...LADDER,
      ladder: [{ name: 'av1', height: 240, videoBitrate: 300_000, codec: 'av1' }],
    });
    const cheap = planLadder(info, {
      ...LADDER,
      format: 'fmp4',
      ladder: [{ name: 'av1', height: 240, videoBitrate: 300_000 }],
    });
    const out = join(root, 'cheat');
    await encodeLadder(cheap, out);
    const report = await verifyStagedLadder({
      dir: out,
      master: 'master.m3u8',
      declared: await hashFiles(out),
      plan,
      source: info,
    });
    assert.equal(report.ok, false);
    assert.match(report.checks.at(-1)!.detail, /codec h264, planned av1/);
  });
});

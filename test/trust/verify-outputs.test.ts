import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  encodeFileOutputs,
  encodeLadder,
  type NamedOutput,
  outputOptionsSchema,
  type ProbeResult,
  planLadder,
  planOutputs,
  probe,
} from '../../src/media/index.js';
import { verifyStagedOutputs } from '../../src/trust/index.js';
import { hashFiles } from '../helpers/hashes.js';
import { makeClip, makeSyntheticClip } from '../helpers/media.js';

/**
 * Per-output verification of staged outputs (jobs with `outputs[]` on the community network) on real
 * encodes: the honest set (an hls ladder; webm, poster, mp3, thumbnails from one shared decode) passes every stage;
 * each cheat is the honest set with one dishonest change, declared with the hashes of what was staged,
 * and is caught by the check meant for it.
 */

const run = promisify(execFile);

const OUTPUTS: NamedOutput[] = [
  {
    name: 'hls',
    options: outputOptionsSchema.parse({
      kind: 'hls',
      ladder: {
        ladder: [{ name: '240p', height: 240, videoBitrate: 400_000 }],
        speed: 'ultrafast',
        segmentDuration: 1,
      },
    }),
  },
  { name: 'webm', options: outputOptionsSchema.parse({ kind: 'webm', height: 144, speed: 'ultrafast' }) },
  {
    name: 'poster',
    options: outputOptionsSchema.parse({ kind: 'poster', height: 120, format: 'png', timeS: 1 }),
  },
  { name: 'audio', options: outputOptionsSchema.parse({ kind: 'audio', format: 'mp3', channels: 1 }) },
  { name: 'thumbs', options: outputOptionsSchema.parse({ kind: 'thumbnails', height: 90, times: [0.5, 3] }) },
];

describe('verification of staged outputs (per output)', () => {
  let root: string;
  let info: ProbeResult;
  let honest: string;

  /** The honest set with `change` applied, in a fresh folder. */
  const cheatWith = async (change: (dir: string) => Promise<void>) => {
    const dir = await mkdtemp(join(root, 'cheat-'));
    await cp(honest, dir, { recursive: true });
    await change(dir);
    return dir;
  };
  const verify = async (dir: string, declared?: Map<string, string>) =>
    verifyStagedOutputs({
      dir,
      outputs: OUTPUTS,
      defaultLadder: {},
      source: info,
      declared: declared ?? (await hashFiles(dir)),
      random: () => 0.5,
    });
  const failed = (r: Awaited<ReturnType<typeof verify>>) => r.checks.find((c) => !c.ok);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-verify-outputs-test-'));
    const clip = await makeClip(join(root, 'clip.mp4'), { seconds: 4 });
    info = await probe(clip);
    honest = join(root, 'honest');
    const plan = planOutputs(info, OUTPUTS);
    await encodeFileOutputs(plan, honest);
    await encodeLadder(planLadder(info, plan.ladders[0]!.ladder), join(honest, 'hls'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('the honest set passes files, hashes, plan and the spot re-encode of the webm and images', async () => {
    const r = await verify(honest);
    assert.equal(r.ok, true, JSON.stringify(r.checks));
    assert.deepEqual(
      r.checks.map((c) => c.name),
      ['files', 'hashes', 'plan', 'spot re-encode'],
    );
    // 2 hls segments, 2 webm spans, the poster, 2 thumbnails; no audio spot.
    assert.deepEqual(r.spots.map((s) => s.rendition).sort(), [
      'hls/240p',
      'hls/240p',
      'poster',
      'thumbs',
      'thumbs',
      'webm',
      'webm',
    ]);
    for (const s of r.spots) assert.ok(s.ssim >= 0.95, `${s.rendition} ${s.segment} SSIM ${s.ssim}`);
    assert.ok(r.cpuS > 0, 'verifier CPU measured');
  });

  test('a file outside every completed output fails the files check', async () => {
    const dir = await cheatWith(async (d) => {
      await mkdir(join(d, 'extra'));
      await writeFile(join(d, 'extra', 'x.ts'), 'x');
    });
    assert.match(failed(await verify(dir))?.detail ?? '', /extra\/x\.ts belongs to no completed output/);
  });

  test('a staged file whose bytes differ from the declared hash fails the hashes check', async () => {
    const declared = await hashFiles(honest);
    const dir = await cheatWith((d) => writeFile(join(d, 'audio', 'audio.mp3'), 'not the declared bytes'));
    const r = await verify(dir, declared);
    assert.equal(failed(r)?.name, 'hashes');
    assert.match(failed(r)?.detail ?? '', /audio\/audio\.mp3 \(hash differs\)/);
  });

  test('an h264 mp4 staged as the planned VP9 webm fails the plan check (container, codec)', async () => {
    const dir = await cheatWith(async (d) => {
      await run('ffmpeg', [
        ...['-v', 'error', '-y', '-i', join(honest, 'webm', 'video.webm'), '-c:v', 'libx264'],
        ...['-preset', 'ultrafast', '-c:a', 'aac', '-f', 'mp4', join(d, 'webm', 'video.webm')],
      ]);
    });
    const r = await verify(dir);
    assert.equal(failed(r)?.name, 'plan');
    assert.match(
      failed(r)?.detail ?? '',
      /webm: container .*mp4.*planned webm; webm: codec h264, planned vp9/,
    );
  });

  test('stereo audio where mono was planned fails the plan check (channels)', async () => {
    const dir = await cheatWith(async (d) => {
      await run('ffmpeg', [
        ...['-v', 'error', '-y', '-i', join(honest, 'audio', 'audio.mp3'), '-ac', '2', '-c:a', 'libmp3lame'],
        join(d, 'audio', 'audio.mp3'),
      ]);
    });
    assert.match(failed(await verify(dir))?.detail ?? '', /audio: 2 channels, planned 1/);
  });

  test('an hls output with a segment missing fails the plan check (its playlists)', async () => {
    const dir = await cheatWith((d) => rm(join(d, 'hls', '240p', 'seg_00001.ts')));
    assert.match(
      failed(await verify(dir))?.detail ?? '',
      /hls: playlists: .*seg_00001\.ts, which was not uploaded/,
    );
  });

  test('a missing thumbnail fails the plan check (image count)', async () => {
    const dir = await cheatWith((d) => rm(join(d, 'thumbs', 'thumb_0002.jpg')));
    assert.match(failed(await verify(dir))?.detail ?? '', /thumbs: 1 images, planned 2/);
  });

  test('a substituted poster of the planned size fails the spot re-encode', async () => {
    const planned = (await probe(join(honest, 'poster', 'poster.png'))).video!;
    const other = await makeSyntheticClip(join(root, 'other.mp4'), {
      kind: 'testsrc',
      seconds: 1,
      size: `${planned.width}x${planned.height}`,
    });
    const dir = await cheatWith(async (d) => {
      await run('ffmpeg', [
        ...['-v', 'error', '-y', '-i', other, '-frames:v', '1', '-pix_fmt', 'rgb24'],
        join(d, 'poster', 'poster.png'),
      ]);
    });
    const r = await verify(dir);
    assert.equal(failed(r)?.name, 'spot re-encode', JSON.stringify(r.checks));
    assert.match(failed(r)?.detail ?? '', /poster\/poster\.png SSIM/);
  });
});

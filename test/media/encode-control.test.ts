import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  CancelledError,
  EncodeStalledError,
  encodeLadder,
  type LadderPlan,
  planLadder,
  probe,
} from '../../src/media/index.js';
import { mediaDir } from '../../src/paths.js';
import { ffprobe, masterVariants, streamDurationS, verifyLadder } from './verify.js';

let dir: string;
let input: string;
let plan: LadderPlan;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-control-'));
  // 4 s of the 720p clip: two renditions, cheap to encode.
  input = join(dir, 'bbb4.mp4');
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-t',
    '4',
    '-i',
    join(mediaDir(), 'big_buck_bunny_10s.mp4'),
    '-c',
    'copy',
    input,
  ]);
  plan = planLadder(await probe(input), { speed: 'ultrafast', segmentDuration: 2 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** ffmpeg processes whose command line mentions `needle` (read from /proc, Linux). */
function ffmpegProcessesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith('ffmpeg') && cmd.includes(needle)) pids.push(Number(entry));
    } catch {
      // process ended meanwhile
    }
  }
  return pids;
}

test('cancelling kills ffmpeg and removes the staging folder', async () => {
  const out = join(dir, 'cancelled');
  const controller = new AbortController();
  const running = encodeLadder(plan, out, {
    signal: controller.signal,
    progressIntervalMs: 0,
    onProgress: () => controller.abort(),
  });
  await assert.rejects(running, (e) => e instanceof CancelledError && e.code === 'cancelled');
  assert.deepEqual(ffmpegProcessesMentioning(out), [], 'no ffmpeg left running');
  assert.deepEqual(readdirSync(out), [], 'nothing left in the output folder');
});

test('an already aborted signal starts nothing', async () => {
  const out = join(dir, 'pre-aborted');
  await assert.rejects(encodeLadder(plan, out, { signal: AbortSignal.abort() }), CancelledError);
  assert.equal(existsSync(out), false);
});

test('the stall watchdog kills a silent ffmpeg with a typed, retryable error', async () => {
  const out = join(dir, 'stalled');
  // 1 ms of silence is shorter than ffmpeg's start-up, so the watchdog must fire.
  await assert.rejects(
    encodeLadder(plan, out, { stallTimeoutMs: 1 }),
    (e) => e instanceof EncodeStalledError && e.code === 'encode_stalled' && e.retryable,
  );
  assert.deepEqual(ffmpegProcessesMentioning(out), []);
  assert.deepEqual(readdirSync(out), []);
});

test('a failing backend falls back to the next one and the result says so', async () => {
  const out = join(dir, 'fallback');
  const result = await encodeLadder(plan, out, {
    hwaccel: ['vaapi', 'libx264'],
    vaapiDevice: join(dir, 'no-such-gpu'),
  });
  assert.equal(result.backend, 'libx264');
  assert.equal(result.fallbacks.length, 1);
  assert.equal(result.fallbacks[0]?.backend, 'vaapi');
  assert.match(result.fallbacks[0]!.reason, /vaapi/);
  assert.deepEqual(
    result.renditions.map((r) => r.name),
    ['720p', '480p'],
  );
});

test('re-running one rendition keeps the others and rebuilds the master', async () => {
  const out = join(dir, 'fallback');
  const before = readFileSync(join(out, '720p', 'seg_00000.ts'));
  const only = planLadder(await probe(input), { speed: 'ultrafast', segmentDuration: 2, only: ['480p'] });
  const result = await encodeLadder(only, out);
  assert.deepEqual(result.encoded, ['480p']);
  assert.deepEqual(
    masterVariants(join(out, 'master.m3u8')).map((v) => v.URI),
    ['720p/index.m3u8', '480p/index.m3u8'],
  );
  assert.deepEqual(readFileSync(join(out, '720p', 'seg_00000.ts')), before, '720p untouched');
});

test('fMP4 segments in the 3Speak layout, with MP4 copies', async () => {
  const out = join(dir, 'fmp4');
  const p = planLadder(await probe(input), {
    speed: 'ultrafast',
    segmentDuration: 2,
    format: 'fmp4',
    layout: '3speak',
    mp4: true,
    poster: false,
    thumbnail: false,
  });
  const result = await encodeLadder(p, out);
  assert.equal(result.master, 'manifest.m3u8');
  assert.ok(existsSync(join(out, '720p', 'init.mp4')));
  assert.ok(existsSync(join(out, '480p', '480p_0.m4s')));
  assert.match(readFileSync(join(out, 'manifest.m3u8'), 'utf8'), /#EXT-X-VERSION:7/);
  assert.equal(result.poster, undefined);
  await verifyLadder(result, {
    renditions: ['720p=1280x720', '480p=854x480'],
    segmentDuration: 2,
    sourceVideoS: await streamDurationS(input, 'v:0'),
    sourceAudioS: await streamDurationS(input, 'a:0'),
  });
  for (const r of result.renditions) {
    assert.equal(r.mp4, `${r.name}.mp4`);
    assert.ok(Math.abs((await streamDurationS(join(out, r.mp4), 'v:0')) - r.durationS) < 0.2);
  }
});

test('10-bit PQ HDR source becomes 8-bit yuv420p BT.709 (tone-mapped)', async () => {
  const hdr = join(dir, 'hdr.mp4');
  execFileSync('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=640x360:d=2:r=30', '-pix_fmt', 'yuv420p10le'],
    ...['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error'],
    ...['-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', hdr],
  ]);
  const source = await probe(hdr);
  assert.equal(source.video?.hdr, 'pq');
  assert.equal(source.video?.bitDepth, 10);
  const result = await encodeLadder(
    planLadder(source, { speed: 'ultrafast', segmentDuration: 1 }),
    join(dir, 'hdr'),
  );
  const j = await ffprobe([
    '-show_entries',
    'stream=pix_fmt,color_transfer',
    join(dir, 'hdr', result.renditions[0]!.playlist),
  ]);
  const video = (j.streams as Array<Record<string, string>>).find((s) => s.pix_fmt !== undefined)!;
  assert.equal(video.pix_fmt, 'yuv420p');
  assert.equal(video.color_transfer, 'bt709');
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { buildStoryboardArgs, encodeLadder, planLadder, probe, runProcess } from '../../src/media/index.js';
import { makeClip, makeSyntheticClip } from '../helpers/media.js';
import { ffprobe } from './verify.js';

const run = promisify(execFile);

/** Issue #17 storyboard: sprite sheets + WebVTT thumbnail track, checked on real ffmpeg output. */
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-storyboard-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const size = async (path: string): Promise<[number, number]> => {
  const s = (
    (await ffprobe(['-show_entries', 'stream=width,height', path])).streams as Array<{
      width: number;
      height: number;
    }>
  )[0]!;
  return [s.width, s.height];
};

/** Cues of a WebVTT thumbnail track: start/end seconds, sheet and xywh (parsed here, not by the code under test). */
function cues(vtt: string): Array<{ start: number; end: number; sheet: string; xywh: number[] }> {
  assert.match(vtt, /^WEBVTT\n\n/);
  const secs = (t: string) => t.split(':').reduce((a, x) => a * 60 + Number(x), 0);
  return [
    ...vtt.matchAll(
      /^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n([^#\n]+)#xywh=(\d+),(\d+),(\d+),(\d+)$/gm,
    ),
  ].map((m) => ({
    start: secs(m[1]!),
    end: secs(m[2]!),
    sheet: m[3]!,
    xywh: [m[4], m[5], m[6], m[7]].map(Number),
  }));
}

test('a ladder with storyboard {interval 1, width 160}: VTT cues cover the video, tiles in the sprite, tile n is the frame at n s', async () => {
  const input = await makeClip(join(dir, 'bbb3.mp4'), { seconds: 3 });
  const plan = planLadder(await probe(input), {
    ladder: [{ name: '240p', height: 240, videoBitrate: 300_000 }],
    speed: 'ultrafast',
    storyboard: { interval: 1, width: 160 },
  });
  const out = join(dir, 'out');
  const result = await encodeLadder(plan, out);
  assert.deepEqual(result.storyboard, { vtt: 'storyboard.vtt', sheets: ['storyboard_000.jpg'] });
  assert.deepEqual(await size(join(out, 'storyboard_000.jpg')), [480, 90], '3 tiles of 160x90 in one row');
  const list = cues(readFileSync(join(out, 'storyboard.vtt'), 'utf8'));
  assert.deepEqual(
    list.map((c) => [c.start, c.end, c.sheet, ...c.xywh]),
    [
      [0, 1, 'storyboard_000.jpg', 0, 0, 160, 90],
      [1, 2, 'storyboard_000.jpg', 160, 0, 160, 90],
      [2, Math.round(plan.durationS * 1000) / 1000, 'storyboard_000.jpg', 320, 0, 160, 90],
    ],
    'the last cue runs to the end of the video',
  );
  // The middle tile is the source frame at 1 s (SSIM against that frame scaled to the tile).
  const { stderr } = await run('ffmpeg', [
    ...['-hide_banner', '-i', join(out, 'storyboard_000.jpg'), '-ss', '1', '-i', input],
    ...[
      '-filter_complex',
      '[0:v]crop=160:90:160:0,format=yuv420p[a];[1:v]scale=160:90,format=yuv420p,trim=end_frame=1[b];[a][b]ssim',
    ],
    ...['-frames:v', '1', '-f', 'null', '-'],
  ]);
  const ssim = Number(/All:([\d.]+)/.exec(stderr)?.[1]);
  assert.ok(ssim > 0.85, `tile 1 vs frame at 1 s: SSIM ${ssim}`);
});

test('more than 100 thumbnails: a full 10 × 10 sheet and a partial second one', async () => {
  const input = await makeSyntheticClip(join(dir, 'long.mp4'), {
    kind: 'testsrc',
    seconds: 101,
    size: '320x180',
    fps: 2,
  });
  const plan = planLadder(await probe(input), { storyboard: { interval: 1, width: 64 } });
  const sb = plan.storyboard!;
  assert.deepEqual(
    [sb.count, sb.columns, sb.rows, sb.sheets],
    [101, 10, 10, ['storyboard_000.jpg', 'storyboard_001.jpg']],
  );
  const out = await runProcess('ffmpeg', buildStoryboardArgs(plan, sb, dir, []), {});
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(await size(join(dir, 'storyboard_000.jpg')), [640, 360]);
  assert.deepEqual(
    await size(join(dir, 'storyboard_001.jpg')),
    [640, 360],
    'the last sheet keeps the grid size',
  );
});

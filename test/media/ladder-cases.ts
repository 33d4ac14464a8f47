import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeLadder, type LadderOptionsInput, planLadder, probe } from '../../src/media/index.js';
import { mediaDir } from '../../src/paths.js';
import { imageSize, meanLuma, streamDurationS, verifyLadder } from './verify.js';

// Every real test video becomes a valid ladder. Fast x264 preset and 2 s segments keep the CPU cost
// low and still give several segments per clip; the 10 s 1080p HEVC clip is trimmed to 4 s.
export const FAST: LadderOptionsInput = { speed: 'ultrafast', segmentDuration: 2 };

export const LADDER_CASES: Array<{ file: string; want: string[]; trimS?: number }> = [
  { file: 'big_buck_bunny_10s.mp4', want: ['720p=1280x720', '480p=854x480'] },
  { file: 'video.mp4', want: ['1080p=1920x1080', '720p=1280x720', '480p=854x480'], trimS: 4 },
  { file: 'video-h265.mp4', want: ['1080p=1920x1080', '720p=1280x720', '480p=854x480'], trimS: 4 },
  { file: 'video-1080p-60fps-2s.mp4', want: ['1080p=1920x1080', '720p=1280x720', '480p=854x480'] },
  { file: 'rotate-buck-bunny.mp4', want: ['1080p=1080x1920', '720p=720x1280', '480p=480x854'] },
  { file: 'sar_2x1.mp4', want: ['360p=1280x360'] },
  { file: 'Big_Buck_Bunny_180_10s.webm', want: ['180p=320x180'] },
];

/** Registers one test per case: encode the real file, then verify the ladder with ffprobe. */
export function ladderTests(cases: typeof LADDER_CASES): void {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-ladder-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  describe('real media → HLS ladder', () => {
    for (const c of cases) {
      test(c.file, async () => {
        let input = join(mediaDir(), c.file);
        if (c.trimS) {
          const trimmed = join(dir, `trim-${c.file}`);
          execFileSync('ffmpeg', ['-v', 'error', '-t', String(c.trimS), '-i', input, '-c', 'copy', trimmed]);
          input = trimmed;
        }
        const source = await probe(input);
        const plan = planLadder(source, FAST);
        const out = join(dir, c.file.replace(/\W/g, '_'));
        const events: number[] = [];
        const result = await encodeLadder(plan, out, {
          onProgress: (p) => events.push(p.percent),
          progressIntervalMs: 0,
        });
        assert.equal(result.backend, 'libx264');
        assert.deepEqual(result.fallbacks, []);
        assert.equal(events.at(-1), 100, 'final progress event is 100 %');

        await verifyLadder(result, {
          renditions: c.want,
          segmentDuration: 2,
          sourceVideoS: await streamDurationS(input, 'v:0'),
          sourceAudioS: source.audio.length > 0 ? await streamDurationS(input, 'a:0') : undefined,
        });

        // Poster at the top rendition's size, thumbnail 180 px on the short side, neither black.
        const top = result.renditions[0]!;
        assert.deepEqual(await imageSize(join(out, result.poster!)), [top.width, top.height]);
        const [tw, th] = await imageSize(join(out, result.thumbnail!));
        assert.equal(Math.min(tw, th), Math.min(180, top.width!, top.height!));
        assert.ok((await meanLuma(join(out, result.poster!))) > 25, 'poster is not a black frame');
        assert.deepEqual(
          readdirSync(out).filter((f) => f.startsWith('.')),
          [],
          'no staging folder left behind',
        );
      });
    }
  });
}

/** Names of the videos in the media folder. */
export function mediaFiles(): string[] {
  return readdirSync(mediaDir()).filter((f) => /\.(mp4|webm|mkv|mov)$/i.test(f));
}

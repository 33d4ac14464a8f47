import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mediaDir } from '../../src/paths.js';

const run = promisify(execFile);

/**
 * Writes a real test clip: the first `seconds` of big_buck_bunny_10s.mp4 (720p H.264 + AAC), or that
 * file looped `loops` extra times (stream copy: costs no encode).
 */
export async function makeClip(
  out: string,
  opts: { seconds?: number; loops?: number } = {},
): Promise<string> {
  const src = join(mediaDir(), 'big_buck_bunny_10s.mp4');
  const args = ['-v', 'error', '-y'];
  if (opts.loops) args.push('-stream_loop', String(opts.loops));
  args.push('-i', src);
  if (opts.seconds) args.push('-t', String(opts.seconds));
  args.push('-c', 'copy', '-movflags', '+faststart', out);
  await run('ffmpeg', args);
  return out;
}

/**
 * Writes a synthetic H.264 + AAC clip of `seconds` seconds at `size` (`WxH`) and `fps`: the lavfi test
 * pattern with a sine tone (`testsrc`) or black frames with silence (`black`). `format` `mpegts` makes a
 * bare HLS-style segment instead of an MP4.
 */
export async function makeSyntheticClip(
  out: string,
  opts: {
    kind: 'testsrc' | 'black';
    seconds: number;
    size?: string;
    fps?: number;
    format?: 'mp4' | 'mpegts';
  },
): Promise<string> {
  const size = opts.size ?? '1280x720';
  const fps = opts.fps ?? 24;
  const video =
    opts.kind === 'testsrc'
      ? `testsrc2=size=${size}:rate=${fps}:duration=${opts.seconds}`
      : `color=black:size=${size}:rate=${fps}:duration=${opts.seconds}`;
  const audio = opts.kind === 'testsrc' ? `sine=duration=${opts.seconds}` : 'anullsrc=r=48000:cl=stereo';
  await run('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', audio],
    ...['-t', String(opts.seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac'],
    ...(opts.format === 'mpegts' ? ['-f', 'mpegts'] : []),
    out,
  ]);
  return out;
}

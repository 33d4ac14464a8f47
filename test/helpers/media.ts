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

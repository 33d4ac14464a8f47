/**
 * Codec benchmark (issue #17): one rendition per codec at the same size and settings, encoded
 * separately (one ffmpeg process each), against H.264 measured in the same run.
 *
 *   npm run build && node dist/bench/codecs.js [--input file] [--seconds 3] [--height 240]
 *        [--speed ultrafast] [--rate cbr|capped-crf]
 *
 * Default input: the first `--seconds` of big_buck_bunny_10s.mp4 (the tests' clip). Prints per codec
 * the encoder, wall time of the ladder encode, bytes of the rendition (segments + init + playlist),
 * SSIM against the source scaled to the rendition, and ratios to H.264.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ENCODERS,
  encodeLadder,
  type PlannedVideoRendition,
  planLadder,
  probe,
  renditionSsim,
  VIDEO_CODECS,
} from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';

const { values } = parseArgs({
  options: {
    input: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    height: { type: 'string', default: '240' },
    speed: { type: 'string', default: 'ultrafast' },
    rate: { type: 'string', default: 'cbr' },
  },
});

const work = await mkdtemp(join(tmpdir(), 'vidmesh-bench-codecs-'));
try {
  const input = values.input ?? join(work, 'clip.mp4');
  if (!values.input) {
    execFileSync('ffmpeg', [
      ...['-v', 'error', '-y', '-i', join(mediaDir(), 'big_buck_bunny_10s.mp4')],
      ...['-t', values.seconds!, '-c', 'copy', input],
    ]);
  }
  const info = await probe(input);
  const height = Number(values.height);
  const rows: Array<{ codec: string; encoder: string; wallS: number; bytes: number; ssim: number }> = [];
  for (const codec of VIDEO_CODECS) {
    const plan = planLadder(info, {
      ladder: [{ name: codec, height, videoBitrate: Math.round(height * height * 5.2), codec }],
      format: 'fmp4',
      speed: values.speed as 'ultrafast',
      rateControl: values.rate as 'cbr',
      ...(values.rate === 'capped-crf' ? { crf: 23 } : {}),
      poster: false,
      thumbnail: false,
    });
    const r = await encodeLadder(plan, join(work, codec));
    const rendition = r.renditions[0]!;
    const planned = plan.renditions[0] as PlannedVideoRendition;
    const ssim = await renditionSsim(plan, join(work, codec, rendition.playlist), planned);
    rows.push({
      codec,
      encoder: ENCODERS[codec].software,
      wallS: r.encodeWallS,
      bytes: rendition.bytes,
      ssim,
    });
  }
  const base = rows[0]!;
  const table = [['codec', 'encoder', 'wall s', 'wall/h264', 'bytes', 'bytes/h264', 'SSIM']];
  for (const x of rows) {
    table.push([
      x.codec,
      x.encoder,
      x.wallS.toFixed(2),
      (x.wallS / base.wallS).toFixed(2),
      String(x.bytes),
      (x.bytes / base.bytes).toFixed(3),
      x.ssim.toFixed(4),
    ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  console.log(
    `${info.path}: ${info.durationS.toFixed(2)} s, ${height}p, speed ${values.speed}, rate control ${values.rate}`,
  );
  for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
} finally {
  await rm(work, { recursive: true, force: true });
}

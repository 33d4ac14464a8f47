/**
 * Cost of verifying an untrusted encoder's result (issue #14, docs/verification.md) against the cost
 * of the encode itself, measured in the same run on the same source: the job's ladder is encoded the
 * way an encoder would (`encodeLadder`), then verified by the coordinator's `verifyStagedLadder` with
 * K = 0 (playlists, hashes, packet scan only), K = 1 and K = 2 spot-re-encoded segments per rendition.
 * CPU seconds (user + system) of every ffmpeg/ffprobe child, for the encode and each verification
 * alike, from this process's waited-for children (/proc/self/stat cutime + cstime).
 *
 * Run: `npm run build && node dist/bench/verify.js [--seconds 30] [--segment 4] [--input file]`
 * Prints a table with verification CPU as a share of the encode CPU.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeLadder, planLadder, probe, runProcess } from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';
import { verifyStagedLadder } from '../src/trust/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    segment: { type: 'string', default: '4' },
    input: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const segment = Number(values.segment);
const input = resolve(values.input ?? join(mediaDir(), 'big_buck_bunny_10s.mp4'));

/** CPU seconds of finished children of this process (Linux /proc: cutime + cstime, clock ticks). */
async function childCpuS(): Promise<number> {
  const stat = (await readFile('/proc/self/stat', 'utf8')).split(') ')[1]?.split(' ') ?? [];
  // Fields after the comm: state is index 0, so cutime (16th field) is index 13 and cstime index 14.
  return (Number(stat[13]) + Number(stat[14])) / 100;
}

const dir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-verify-'));
try {
  // A `seconds`-long source: the input looped (stream copy costs no encode).
  const source = join(dir, 'source.mp4');
  const loops = Math.max(0, Math.ceil(seconds / 10) - 1);
  await runProcess('ffmpeg', [
    ...['-v', 'error', '-y', '-stream_loop', String(loops), '-i', input, '-t', String(seconds)],
    ...['-c', 'copy', source],
  ]);
  const info = await probe(source);
  const plan = planLadder(info, {
    segmentDuration: segment,
    speed: 'veryfast',
    poster: false,
    thumbnail: false,
  });
  const out = join(dir, 'out');
  const before = await childCpuS();
  const t0 = Date.now();
  await encodeLadder(plan, out);
  const encodeCpuS = (await childCpuS()) - before;
  const encodeWallS = (Date.now() - t0) / 1000;
  const declared = new Map<string, string>();
  for (const e of await readdir(out, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    declared.set(
      relative(out, full).split(sep).join('/'),
      createHash('sha256')
        .update(await readFile(full))
        .digest('hex'),
    );
  }
  const rows: Array<[string, number, number, string]> = [];
  for (const k of [0, 1, 2]) {
    const cpu0 = await childCpuS();
    const r = await verifyStagedLadder({
      dir: out,
      master: 'master.m3u8',
      declared,
      plan,
      source: info,
      spotSegments: k,
    });
    if (!r.ok) throw new Error(`an honest encode failed verification: ${JSON.stringify(r.checks)}`);
    const lowest = r.spots.length ? Math.min(...r.spots.map((x) => x.ssim)).toFixed(4) : '—';
    rows.push([`verify, K = ${k}`, (await childCpuS()) - cpu0, r.wallS, lowest]);
  }
  const renditions = plan.encode.join(', ');
  console.log(
    `source ${seconds} s, ${renditions}, ${segment} s segments, veryfast; load ${loadavg()[0]!.toFixed(1)}\n`,
  );
  console.log('| step | CPU s | wall s | CPU vs encode | lowest spot SSIM |');
  console.log('|---|---|---|---|---|');
  console.log(`| encode (baseline) | ${encodeCpuS.toFixed(2)} | ${encodeWallS.toFixed(2)} | 1.000 | — |`);
  for (const [label, cpu, wall, ssim] of rows) {
    console.log(
      `| ${label} | ${cpu.toFixed(2)} | ${wall.toFixed(2)} | ${(cpu / encodeCpuS).toFixed(3)} | ${ssim} |`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

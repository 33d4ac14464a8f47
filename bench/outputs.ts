// Job outputs benchmark (issue 18, docs/outputs.md): the shared decode against one ffmpeg per output.
//
// The same file outputs of one source (MP4 720p, WebM 480p, M4A, thumbnails every 2 s, a poster) are
// encoded (a) by the shared decode of `encodeFileOutputs` (one process, the source decoded once and
// split), and (b) one output at a time, each in its own ffmpeg process decoding the source again (the
// same argv per output: `buildOutputsArgs` of a one-output plan). Printed: wall time and CPU seconds
// (user + sys of the ffmpeg children) of each, with the ratio b/a, measured in this run, `--runs`
// times each, alternating, median shown.
//
// Run: npm run build && node dist/bench/outputs.js [--seconds 10] [--runs 3] [--speed veryfast]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import {
  encodeFileOutputs,
  type NamedOutput,
  type OutputsPlan,
  outputOptionsSchema,
  planOutputs,
  probe,
} from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    speed: { type: 'string', default: 'veryfast' },
  },
});

/** CPU seconds of this process's finished children (the ffmpeg runs). */
async function childrenCpuS(): Promise<number> {
  // /proc/self/stat fields 16 and 17 (proc(5)): cutime, cstime, clock ticks (100/s) of waited-for children.
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function timed(fn: () => Promise<void>): Promise<{ wallS: number; cpuS: number }> {
  const cpu0 = await childrenCpuS();
  const t0 = performance.now();
  await fn();
  return { wallS: (performance.now() - t0) / 1000, cpuS: (await childrenCpuS()) - cpu0 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-outputs-'));
  try {
    const clip = join(dir, 'clip.mp4');
    await run('ffmpeg', [
      ...['-v', 'error', '-stream_loop', '3', '-i', join(mediaDir(), 'big_buck_bunny_10s.mp4')],
      ...['-t', values.seconds!, '-c', 'copy', clip],
    ]);
    const info = await probe(clip);
    const speed = values.speed as 'veryfast';
    const outputs: NamedOutput[] = [
      ['mp4-720', { kind: 'mp4', height: 720, videoBitrate: 2_500_000, speed }],
      ['webm-480', { kind: 'webm', height: 480, videoBitrate: 1_000_000, speed }],
      ['audio', { kind: 'audio', format: 'm4a' }],
      ['thumbs', { kind: 'thumbnails', intervalS: 2, width: 320 }],
      ['poster', { kind: 'poster' }],
    ].map(([name, o]) => ({ name: name as string, options: outputOptionsSchema.parse(o) }));
    const shared = planOutputs(info, outputs);
    const single: OutputsPlan[] = outputs.map((o) => planOutputs(info, [o]));
    const a: Array<{ wallS: number; cpuS: number }> = [];
    const b: Array<{ wallS: number; cpuS: number }> = [];
    for (let i = 0; i < Number(values.runs); i++) {
      a.push(await timed(() => encodeFileOutputs(shared, join(dir, 'a')).then(() => undefined)));
      b.push(
        await timed(async () => {
          for (const p of single) await encodeFileOutputs(p, join(dir, 'b'));
        }),
      );
    }
    const row = (name: string, xs: typeof a) =>
      `| ${name.padEnd(34)} | ${median(xs.map((x) => x.wallS))
        .toFixed(2)
        .padStart(7)} | ${median(xs.map((x) => x.cpuS))
        .toFixed(2)
        .padStart(7)} |`;
    const ratio = (f: (x: { wallS: number; cpuS: number }) => number) => median(b.map(f)) / median(a.map(f));
    console.log(
      `source: ${values.seconds} s of big_buck_bunny (720p), ${outputs.length} file outputs, ${values.runs} runs, median`,
    );
    console.log('| run                                |  wall s |   cpu s |');
    console.log('| ---------------------------------- | ------: | ------: |');
    console.log(row('(a) shared decode, one process', a));
    console.log(row('(b) one process per output', b));
    console.log(
      `| ratio b/a                          | ${ratio((x) => x.wallS)
        .toFixed(2)
        .padStart(7)} | ${ratio((x) => x.cpuS)
        .toFixed(2)
        .padStart(7)} |`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

/**
 * Live ladder capacity (issue 23, docs/live.md): how many 720p → (720p, 480p) live ladders one encoder
 * machine sustains in real time. A 720p30 FLV source (testsrc2 + sine, `--seconds` long, x264 like an
 * OBS publisher) is encoded by N live-ladder ffmpeg processes at once, each with the encoder's real
 * argv (`buildLiveArgs`, `veryfast`, `zerolatency`, 2 s segments); unpaced, so the speed each reaches
 * is the headroom over real time. A ladder is sustained when its speed is ≥ 1.0× (it keeps up with a
 * publisher); the table gives N, the slowest and mean speed, and the ratio of the mean to N = 1 (the
 * baseline measured in the same run).
 *
 * Run: `npm run build && node dist/bench/live.js [--seconds 10] [--max 4] [--preset veryfast]`
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildLiveArgs, liveLadder } from '../src/media/live-args.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    max: { type: 'string', default: '4' },
    preset: { type: 'string', default: 'veryfast' },
  },
});
const seconds = Math.max(2, Number(values.seconds));
const maxN = Math.max(1, Number(values.max));

const run = (args: string[]) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg exit ${code}: ${err.slice(-400)}`)),
    );
  });

const dir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-live-'));
try {
  const source = join(dir, 'source.flv');
  await run([
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30'],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(seconds)],
    ...[
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-b:v',
      '4M',
      '-g',
      '60',
      '-c:a',
      'aac',
      '-f',
      'flv',
      source,
    ],
  ]);
  const renditions = liveLadder(['720p', '480p']);
  const rows: Array<{ n: number; minSpeed: number; meanSpeed: number; wallS: number; load: number }> = [];
  for (let n = 1; n <= maxN; n++) {
    const started = Date.now();
    const walls = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const outDir = join(dir, `n${n}-${i}`);
        for (const r of renditions) await mkdir(join(outDir, r.name), { recursive: true });
        const t0 = Date.now();
        await run(buildLiveArgs({ input: source, renditions, outDir, preset: values.preset }));
        return (Date.now() - t0) / 1000;
      }),
    );
    const speeds = walls.map((w) => seconds / w);
    rows.push({
      n,
      minSpeed: Math.min(...speeds),
      meanSpeed: speeds.reduce((a, b) => a + b, 0) / speeds.length,
      wallS: (Date.now() - started) / 1000,
      load: loadavg()[0]!,
    });
    await rm(join(dir, `n${n}-0`), { recursive: true, force: true });
  }
  const base = rows[0]!.meanSpeed;
  console.log(
    `live ladder 720p → 720p + 480p, ${seconds} s source, preset ${values.preset}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`,
  );
  console.log(
    '| ladders | wall s | slowest speed | mean speed | mean vs 1 ladder | real time (≥ 1.0×) | load avg |',
  );
  console.log(
    '| ------- | ------ | ------------- | ---------- | ---------------- | ------------------ | -------- |',
  );
  for (const r of rows) {
    console.log(
      `| ${r.n} | ${r.wallS.toFixed(1)} | ${r.minSpeed.toFixed(2)}× | ${r.meanSpeed.toFixed(2)}× | ${(r.meanSpeed / base).toFixed(2)} | ${r.minSpeed >= 1 ? 'yes' : 'no'} | ${r.load.toFixed(1)} |`,
    );
  }
  const sustained = rows.filter((r) => r.minSpeed >= 1).map((r) => r.n);
  console.log(`sustained in real time: ${sustained.length ? Math.max(...sustained) : 0} ladder(s)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

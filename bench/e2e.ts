/**
 * Orchestration overhead of vidmesh's main job (issue 4 benchmark). The same 10 s input is encoded
 * (a) directly with media's `encodeLadder` (what `vidmesh encode` runs) and (b) through a running
 * coordinator: upload + submit over HTTP, lease by the in-process encoder, fetch, encode, publish,
 * complete, observed by the client over SSE. Prints both wall times (median of `--runs`, default 3,
 * alternating), the ratio b/a (target ≤ 1.10×), and submit→claim / submit→encoding-start latency.
 *
 * Run: `npm run build && node dist/bench/e2e.js [--runs 3] [--input file]`
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { createClient, startCoordinator } from '../src/coordinator/index.js';
import { encodeLadder, planLadder, probe } from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, input: { type: 'string' } },
});
const runs = Math.max(1, Number(values.runs));
const input = values.input ?? join(mediaDir(), 'big_buck_bunny_10s.mp4');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-e2e-'));
const config = loadConfig({
  env: {},
  flags: { port: 0, dataDir: join(dir, 'serve'), logLevel: 'silent', heartbeatMs: 1000 },
});
const server = await startCoordinator(config);
const client = createClient({ url: server.url, apiKey: server.apiKey });
await server.encoders[0].ready;

const direct: number[] = [];
const viaServe: number[] = [];
const toClaim: number[] = [];
const toEncode: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    const plan = planLadder(await probe(input), {});
    await encodeLadder(plan, join(dir, `direct-${i}`), { hwaccel: 'libx264' });
    direct.push((performance.now() - t0) / 1000);

    t0 = performance.now();
    const { source } = await client.upload(input);
    const job = await client.submitJob({ source });
    const submittedAt = performance.now();
    let encodingAt: number | undefined;
    let final = job;
    for await (const ev of client.followJob(job.id)) {
      if (encodingAt === undefined && ev.job.stage === 'encoding') encodingAt = performance.now();
      final = ev.job;
      if (ev.type === 'end') break;
    }
    viaServe.push((performance.now() - t0) / 1000);
    if (final.status !== 'completed') throw new Error(`job ${job.id} ended ${final.status}`);
    const history = await client.jobHistory(job.id);
    const leased = history.find((e) => e.to === 'leased');
    if (leased) toClaim.push(Date.parse(leased.at) - Date.parse(job.createdAt));
    if (encodingAt !== undefined) toEncode.push(encodingAt - submittedAt);
    process.stderr.write(
      `run ${i + 1}/${runs}: direct ${direct[i].toFixed(2)} s, serve+submit ${viaServe[i].toFixed(2)} s\n`,
    );
  }
} finally {
  await server.stop({ graceMs: 0 });
  await rm(dir, { recursive: true, force: true });
}

const a = median(direct);
const b = median(viaServe);
const rows = [
  ['path', 'median wall (s)', 'runs'],
  ['vidmesh encode (encodeLadder)', a.toFixed(2), direct.map((x) => x.toFixed(2)).join(' ')],
  ['serve + upload + submit (SSE to end)', b.toFixed(2), viaServe.map((x) => x.toFixed(2)).join(' ')],
];
for (const r of rows) console.log(`${r[0].padEnd(40)} ${r[1].padStart(16)}   ${r[2]}`);
console.log(`ratio serve/encode: ${(b / a).toFixed(3)}x (target <= 1.10x)`);
console.log(`submit -> claim (leased event): median ${median(toClaim).toFixed(0)} ms`);
console.log(`submit -> encoding stage seen by the client: median ${median(toEncode).toFixed(0)} ms`);

/**
 * Submit → completed of a 3Speak job through `vidmesh serve --threespeak-gateway` (issue 19), with
 * both client generations' protocols played by the test stand-ins (test/compat/legacy-client.ts,
 * test/compat/v2-client.ts) and a real encode: the stand-in downloads the source from the
 * coordinator's `/ipfs`, encodes the 3Speak ladder (never upscaled) with vidmesh's media module, and
 * uploads over kubo RPC. Measured in one run, median of `--runs` (default 3), alternating:
 *   (a) baseline: the same encode alone (`encodeLadder`, 3Speak layout);
 *   (b) legacy protocol: myJob → acceptJob → download → encode → pingJob → kubo add → finishJob;
 *   (c) v2 embed protocol: myJob → download → encode → progress → hotnode add → webhook.
 * Printed: wall times, ratios b/a and c/a (the gateway's overhead), and the seed (`ipfs add`) time.
 * The real clients also wait for their poll (once a minute) and the stager gateway (docs/3speak.md).
 *
 * Run: `npm run build && node dist/bench/threespeak-roundtrip.js [--runs 3] [--input file]`
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { threeSpeakSubmitInput } from '../src/compat/threespeak/index.js';
import { loadConfig } from '../src/config.js';
import { startCoordinator } from '../src/coordinator/index.js';
import { encodeLadder, planLadder, probe } from '../src/media/index.js';
import { mediaDir } from '../src/paths.js';
import { LegacyClient } from '../test/compat/legacy-client.js';
import { V2Client } from '../test/compat/v2-client.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, input: { type: 'string' } },
});
const runs = Math.max(1, Number(values.runs));
const input = values.input ?? join(mediaDir(), 'big_buck_bunny_10s.mp4');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const dir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-3speak-'));
const server = await startCoordinator(
  loadConfig({
    env: {},
    flags: {
      port: 0,
      dataDir: join(dir, 'serve'),
      encoders: '0',
      logLevel: 'silent',
      threespeakGateway: true,
    },
  }),
);

/** The stand-in's encode: the 3Speak ladder of `source` into `out`. */
async function encode(source: string, out: string): Promise<void> {
  const plan = planLadder(await probe(source), {
    layout: '3speak',
    speed: 'veryfast',
    poster: false,
    thumbnail: false,
  });
  await encodeLadder(plan, out);
}

async function download(cid: string, to: string): Promise<void> {
  const res = await fetch(`${server.url}/ipfs/${cid}`);
  if (!res.ok) throw new Error(`download ${res.status}`);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(to, Buffer.from(await res.arrayBuffer()));
}

async function until(what: string, fn: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 600_000; Date.now() < end; ) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out: ${what}`);
}

const direct: number[] = [];
const legacy: number[] = [];
const embed: number[] = [];
let seedMs = 0;
try {
  const t0 = performance.now();
  const form = new FormData();
  form.append('file', new Blob([await readFile(input)]), 'source.mp4');
  const added = await fetch(`${server.url}/api/v0/add`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiKey}` },
    body: form,
  });
  const cid = ((await added.json()) as { Hash: string }).Hash;
  seedMs = performance.now() - t0;
  const submit = async (permlink: string) =>
    (
      await server.store.submit(
        threeSpeakSubmitInput({
          input: { uri: `ipfs://${cid}`, size: 1 },
          metadata: { video_owner: 'bench', video_permlink: permlink },
        }),
      )
    ).id;
  const completed = (id: string) =>
    until(id, async () => (await server.store.get(id)).status === 'completed');
  const legacyNode = await LegacyClient.create(server.url);

  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    await encode(input, join(dir, `direct-${i}`));
    direct.push(performance.now() - t);

    t = performance.now();
    const id = await submit(`legacy-${i}`);
    const job = ((await legacyNode.myJob()).body as { job: { id: string } }).job;
    await legacyNode.acceptJob(job.id);
    const src = join(dir, `legacy-src-${i}.mp4`);
    await download(cid, src);
    await legacyNode.pingJob(job.id, 5, 100);
    await encode(src, join(dir, `legacy-${i}`));
    await legacyNode.pingJob(job.id, 100, 100);
    const out = await legacyNode.addDirectory(join(dir, `legacy-${i}`));
    await legacyNode.finishJob(job.id, out.cid);
    await completed(id);
    legacy.push(performance.now() - t);

    const outDir = join(dir, `embed-${i}`);
    const v2 = await V2Client.create({
      gatewayUrl: server.url,
      ipfsGatewayUrl: server.url,
      ipfsApiUrl: server.url,
      trafficDirectorUrl: `${server.url}/api/v0/gateway/hotnode`,
      outputDir: outDir,
    });
    t = performance.now();
    const eid = await submit(`embed-${i}`);
    const ejob = await v2.myJob();
    if (!ejob) throw new Error('no embed job');
    const esrc = join(dir, `embed-src-${i}.mp4`);
    await download(ejob.input_cid, esrc);
    await v2.progress(ejob, 5);
    await encode(esrc, outDir);
    const { cid: ecid } = await v2.upload();
    await v2.webhook(ejob, { status: 'complete', manifest_cid: ecid, qualities_encoded: [] });
    await completed(eid);
    embed.push(performance.now() - t);
  }
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}

const a = median(direct);
const rows: Array<[string, number, string]> = [
  ['(a) encode alone (baseline)', a, '1.00x'],
  ['(b) legacy protocol, submit -> completed', median(legacy), `${(median(legacy) / a).toFixed(2)}x`],
  ['(c) v2 embed protocol, submit -> completed', median(embed), `${(median(embed) / a).toFixed(2)}x`],
];
console.log(`input ${input}, ${runs} run(s), medians; seeding it (ipfs add): ${seedMs.toFixed(0)} ms`);
console.log(`${'path'.padEnd(44)} ${'wall ms'.padStart(10)}   ratio vs (a)`);
for (const [name, ms, ratio] of rows)
  console.log(`${name.padEnd(44)} ${ms.toFixed(0).padStart(10)}   ${ratio}`);

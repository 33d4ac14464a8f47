import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import { runRetention } from '../../src/coordinator/retention.js';
import type { JobView } from '../../src/coordinator/schemas.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { packageRoot } from '../../src/paths.js';
import { addDirectory, addPin, diskUsage, FsBlockstore, readPins } from '../../src/storage/index.js';
import { makeClip } from '../helpers/media.js';
import { startReceiver } from '../helpers/receiver.js';

/**
 * Retention (issue 18) on `vidmesh serve` (PGlite, one encoder): two finished jobs with outputs in
 * local storage and the embedded IPFS store; a sweep two hours later purges the one whose
 * `retainHours` (1) has passed — its folder, its rows, and its IPFS blocks (garbage-collected with the
 * other job's root as the pin set) — and frees exactly the bytes it reports, while the other job's
 * ladder stays whole and a queued job is never touched. `vidmesh retention --dry-run` lists and
 * measures without changing anything.
 */

const run = promisify(execFile);

/** Bytes of the blocks in the embedded IPFS store (its pin list excluded). */
async function blockBytes(dir: string): Promise<number> {
  return (await diskUsage(dir)).bytes - (await diskUsage(join(dir, 'pins.json'))).bytes;
}

async function waitFinal(client: VidmeshClient, id: string): Promise<JobView> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const job = await client.getJob(id);
    if (['completed', 'dead', 'cancelled'].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('retention of outputs (vidmesh serve, PGlite)', () => {
  let tmp: string;
  let dataDir: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let server: RunningCoordinator | undefined;
  let client: VidmeshClient;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-retention-'));
    await mkdir(join(tmp, 'src'), { recursive: true });
    await makeClip(join(tmp, 'src', 'clip.mp4'), { seconds: 2 });
    receiver = await startReceiver(tmp);
    dataDir = join(tmp, 'coordinator');
    server = await startCoordinator(
      loadConfig({
        env: { VIDMESH_SSRF_ALLOW: '127.0.0.1' },
        flags: { port: 0, dataDir, maintenanceMs: 500, logLevel: 'silent' },
      }),
    );
    client = createClient({ url: server.url, apiKey: server.apiKey });
  });

  after(async () => {
    await server?.stop({ graceMs: 1000 });
    await receiver?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const outputs = [
    {
      name: 'hls',
      kind: 'hls',
      ladder: { short: true, speed: 'ultrafast', segmentDuration: 1 },
      destination: { type: 'ipfs' },
    },
    { name: 'mp4', kind: 'mp4', height: 240, videoBitrate: 300_000, speed: 'ultrafast' },
  ];

  test('a sweep past retainHours frees the local and IPFS bytes it reports and unpins; kept, pinned and queued stay', async () => {
    const source = { type: 'http', url: `${receiver.url}/src/clip.mp4` };
    const expiring = await client.submitJob({ source, outputs, retainHours: 1 });
    const kept = await client.submitJob({
      source,
      outputs: [
        { ...outputs[0], ladder: { short: true, speed: 'ultrafast', segmentDuration: 2 } },
        outputs[1],
      ],
    });
    const a = await waitFinal(client, expiring.id);
    const b = await waitFinal(client, kept.id);
    assert.equal(a.status, 'completed', JSON.stringify(a.outputs));
    assert.equal(b.status, 'completed', JSON.stringify(b.outputs));
    // Queued for ever: it needs a tag no encoder has.
    const queued = await client.submitJob({ source, outputs, retainHours: 0, tags: ['no-such-encoder'] });
    const keptCid = b.outputs?.find((o) => o.name === 'hls')?.cid ?? '';
    assert.match(keptCid, /^Qm/);

    const media = join(dataDir, 'media');
    const ipfs = join(dataDir, 'ipfs');
    // A root a legacy encoder added with pin=true (kubo RPC stand-in), and the expiring job's root pinned too.
    const foreign = join(tmp, 'foreign');
    await mkdir(foreign, { recursive: true });
    await writeFile(join(foreign, 'note.txt'), 'pinned by someone else');
    const foreignRoot = (await addDirectory(foreign, new FsBlockstore(ipfs))).cid;
    await addPin(ipfs, foreignRoot.toString());
    const expiringCid = a.outputs?.find((o) => o.name === 'hls')?.cid ?? '';
    await addPin(ipfs, expiringCid);
    const before = { local: (await diskUsage(media)).bytes, ipfs: await blockBytes(ipfs) };
    const jobFolder = (await diskUsage(join(media, a.id))).bytes;
    assert.ok(jobFolder > 0, 'the expiring job has local outputs');
    const store = server!.store;
    const sweep = (dryRun: boolean) =>
      runRetention({
        store,
        localRoot: media,
        blockstoreDir: ipfs,
        defaultHours: undefined,
        now: new Date(Date.now() + 2 * 3_600_000),
        gcGraceMs: 0,
        dryRun,
      });

    const dry = await sweep(true);
    assert.deepEqual(dry.jobs, [a.id]);
    assert.equal(dry.localBytes, jobFolder);
    assert.ok((dry.ipfs?.removedBytes ?? 0) > 0, 'the expiring ladder has blocks of its own');
    assert.deepEqual(
      { local: (await diskUsage(media)).bytes, ipfs: await blockBytes(ipfs) },
      before,
      'dry-run changes nothing',
    );

    const report = await sweep(false);
    assert.deepEqual(report.jobs, [a.id]);
    const afterUse = { local: (await diskUsage(media)).bytes, ipfs: await blockBytes(ipfs) };
    assert.equal(before.local - afterUse.local, report.localBytes, 'local bytes freed as reported');
    assert.equal(before.ipfs - afterUse.ipfs, report.ipfs?.removedBytes, 'IPFS bytes freed as reported');
    assert.deepEqual(report.ipfs, dry.ipfs, 'the dry run predicted the sweep');
    await assert.rejects(client.getJob(a.id), (err: { status?: number }) => err.status === 404);
    const pins = await readPins(ipfs);
    assert.ok(!pins.has(expiringCid), 'the purged root is unpinned');
    assert.ok(pins.has(foreignRoot.toString()), 'other pins stay');
    assert.ok(await new FsBlockstore(ipfs).has(foreignRoot), 'a pinned root is never collected');

    // The kept job: its row, its local MP4 and every file of its ladder in the IPFS store.
    assert.equal((await client.getJob(b.id)).status, 'completed');
    assert.ok((await diskUsage(join(media, b.id))).bytes > 0);
    // Every file of its ladder still reads through the gateway (each block verified against its CID).
    const gw = (path: string) => fetch(`${server!.url}/ipfs/${keptCid}/${path}`);
    const uris = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    const master = await gw('master.m3u8');
    assert.equal(master.status, 200);
    let files = 1;
    for (const variant of uris(await master.text())) {
      const playlist = await gw(variant);
      assert.equal(playlist.status, 200, variant);
      const dir = variant.split('/').slice(0, -1).join('/');
      for (const segment of uris(await playlist.text())) {
        const res = await gw(`${dir}/${segment}`);
        assert.equal(res.status, 200, segment);
        assert.ok((await res.arrayBuffer()).byteLength > 0);
        files += 1;
      }
      files += 1;
    }
    assert.ok(files >= 3, `kept ladder readable (${files} files)`);
    assert.equal(
      (await client.getJob(queued.id)).status,
      'queued',
      'a job that is not finished is never purged',
    );
  });

  test('vidmesh retention --dry-run lists the jobs and bytes a sweep would purge and changes nothing', async () => {
    const jobs = await client.listJobs({ status: 'completed' });
    const completed = jobs.jobs.map((j) => j.id);
    await server?.stop({ graceMs: 1000 });
    server = undefined;
    const before = (await diskUsage(join(dataDir, 'media'))).bytes;
    const { stdout } = await run(process.execPath, [
      join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
      ...['retention', '--dry-run', '--retention-hours', '0', '--data-dir', dataDir],
    ]);
    assert.match(stdout, new RegExp(`would purge ${completed.length} finished job`));
    for (const id of completed) assert.ok(stdout.includes(id), stdout);
    assert.match(stdout, new RegExp(`local storage: ${before} bytes`));
    assert.equal((await diskUsage(join(dataDir, 'media'))).bytes, before);
  });
});

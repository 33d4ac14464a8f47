import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';

import { exporter } from 'ipfs-unixfs-exporter';
import S3rver from 's3rver';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { JobView } from '../../src/coordinator/schemas.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { mediaDir } from '../../src/paths.js';
import { cidOfBytes, FsBlockstore } from '../../src/storage/index.js';
import { s3rverClient, startFtpServer } from '../storage/helpers.js';

/**
 * Storage end to end (issue 5): `startCoordinator` (what `vidmesh serve` runs) on PGlite with its one
 * in-process encoder, against real servers started here: s3rver (S3 API) and ftp-srv (FTP), on
 * 127.0.0.1, which reaches them only because the coordinator's config allowlists that host
 * (`VIDMESH_SSRF_ALLOW`), both for the submit-time URL check and for the encoder's connections.
 * (a) S3 source -> embedded IPFS destination, read back through the coordinator's `/ipfs/<cid>/…`
 * gateway and verified against the DAG; (b) FTP source -> S3 destination, checked in the bucket.
 * A 3 s stream-copied clip, one 480p rendition, x264 ultrafast: a few CPU seconds per job.
 */

const run = promisify(execFile);
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const SRC_BUCKET = 'vidmesh-src';
const OUT_BUCKET = 'vidmesh-out';
const LADDER = { short: true, speed: 'ultrafast', segmentDuration: 1 };

async function waitDone(client: VidmeshClient, id: string, timeoutMs: number): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.getJob(id);
    if (['completed', 'dead', 'cancelled'].includes(job.status)) return job;
    if (Date.now() > deadline)
      throw new Error(`job ${id} still ${job.status}/${job.stage} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Video stream of a media file (ffprobe), to prove bytes are a real segment, not just any bytes. */
async function probeVideo(path: string): Promise<{ codec_name: string; height: number }> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,height',
    '-of',
    'json',
    path,
  ]);
  const stream = (JSON.parse(stdout) as { streams: Array<{ codec_name: string; height: number }> })
    .streams[0];
  assert.ok(stream, `no video stream in ${path}`);
  return stream;
}

/** First URI line of an HLS playlist (RFC 8216 §4.1: lines not starting with `#` are URIs). */
function firstUri(playlist: string): string {
  const uri = playlist.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
  assert.ok(uri, `no URI in playlist:\n${playlist}`);
  return uri.trim();
}

describe('storage end to end through vidmesh serve (PGlite, 1 encoder)', () => {
  let tmp: string;
  let s3: S3rver;
  let endpoint: string;
  let ftp: Awaited<ReturnType<typeof startFtpServer>> | undefined;
  let ftpPort: number;
  let server: RunningCoordinator;
  let client: VidmeshClient;
  let dataDir: string;
  const s3client = () => s3rverClient(endpoint);

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-e2e-storage-'));
    const clip = join(tmp, 'clip.mp4');
    await run('ffmpeg', [
      '-v',
      'error',
      '-t',
      '3',
      '-i',
      join(mediaDir(), 'big_buck_bunny_10s.mp4'),
      '-c',
      'copy',
      clip,
    ]);

    s3 = new S3rver({
      port: 0,
      address: '127.0.0.1',
      directory: join(tmp, 's3rver'),
      silent: true,
      configureBuckets: [{ name: SRC_BUCKET }, { name: OUT_BUCKET }],
    });
    endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
    const c = s3client();
    await c.send(
      new PutObjectCommand({ Bucket: SRC_BUCKET, Key: 'in/clip.mp4', Body: await readFile(clip) }),
    );
    c.destroy();

    const ftpRoot = join(tmp, 'ftproot');
    await mkdir(join(ftpRoot, 'in'), { recursive: true });
    await copyFile(clip, join(ftpRoot, 'in', 'clip.mp4'));
    ftp = await startFtpServer(ftpRoot, 44000);
    ftpPort = ftp.port;

    dataDir = join(tmp, 'coordinator');
    const config = loadConfig({
      env: { VIDMESH_SSRF_ALLOW: '127.0.0.1' },
      flags: { port: 0, dataDir, heartbeatMs: 1000, maintenanceMs: 500, logLevel: 'silent' },
    });
    assert.equal(config.allowPrivateNetworks, false, 'only the allowlist opens 127.0.0.1');
    server = await startCoordinator(config);
    client = createClient({ url: server.url, apiKey: server.apiKey });
  });

  after(async () => {
    await server?.stop({ graceMs: 1000 });
    await ftp?.close();
    await s3?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('a private address not on the allowlist is refused at submit', async () => {
    await assert.rejects(
      client.submitJob({
        source: {
          type: 's3',
          bucket: SRC_BUCKET,
          key: 'in/clip.mp4',
          endpoint: 'http://127.0.0.2:9',
          credentials,
        },
      }),
      (err: { code?: string; status?: number }) => err.code === 'url_forbidden' && err.status === 400,
    );
  });

  test('S3 source -> IPFS (embedded): root CID in the result, served at /ipfs/<cid>/…, segment verifies', async () => {
    const submitted = await client.submitJob({
      source: {
        type: 's3',
        bucket: SRC_BUCKET,
        key: 'in/clip.mp4',
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials,
      },
      destination: { type: 'ipfs' },
      ladder: LADDER,
    });
    const job = await waitDone(client, submitted.id, 60_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    assert.ok(job.result);
    const cid = job.result.ipfsCid ?? '';
    assert.match(cid, /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/, 'root CID (CIDv0, as kubo `ipfs add` prints it)');
    assert.equal(job.result.masterUrl, `ipfs://${cid}/master.m3u8`);

    const master = await fetch(`${server.url}/ipfs/${cid}/master.m3u8`);
    assert.equal(master.status, 200);
    assert.equal(master.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    const masterText = await master.text();
    assert.match(masterText, /^#EXTM3U/);
    const variantPath = firstUri(masterText);
    const variant = await fetch(`${server.url}/ipfs/${cid}/${variantPath}`);
    assert.equal(variant.status, 200);
    assert.equal(variant.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    const segmentPath = `${variantPath.split('/').slice(0, -1).join('/')}/${firstUri(await variant.text())}`;
    const segment = await fetch(`${server.url}/ipfs/${cid}/${segmentPath}`);
    assert.equal(segment.status, 200);
    assert.equal(segment.headers.get('content-type'), 'video/mp2t');
    const bytes = new Uint8Array(await segment.arrayBuffer());
    assert.equal(Number(segment.headers.get('content-length')), bytes.length);

    // The bytes served over HTTP hash to the CID the root's DAG links at that path, and are video.
    const entry = await exporter(`${cid}/${segmentPath}`, new FsBlockstore(join(dataDir, 'ipfs')) as never);
    assert.equal(await cidOfBytes(bytes), entry.cid.toString());
    const segFile = join(tmp, 'fetched-segment.ts');
    await writeFile(segFile, bytes);
    const video = await probeVideo(segFile);
    assert.equal(video.codec_name, 'h264');
    assert.equal(video.height, 480);

    // Unknown CID, unknown path, a directory, and a malformed CID.
    const unknown = await cidOfBytes(randomBytes(64));
    assert.equal((await fetch(`${server.url}/ipfs/${unknown}/master.m3u8`)).status, 404);
    assert.equal((await fetch(`${server.url}/ipfs/${cid}/nope/seg_000.ts`)).status, 404);
    assert.equal((await fetch(`${server.url}/ipfs/${cid}/${variantPath.split('/')[0]}`)).status, 404);
    assert.equal((await fetch(`${server.url}/ipfs/not-a-cid/master.m3u8`)).status, 400);
  });

  test('FTP source -> S3: master playlist and segments in the bucket with HLS content types', async () => {
    const submitted = await client.submitJob({
      source: {
        type: 'ftp',
        host: '127.0.0.1',
        port: ftpPort,
        user: 'enc',
        password: 'pw',
        path: '/in/clip.mp4',
      },
      destination: {
        type: 's3',
        bucket: OUT_BUCKET,
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials,
        prefix: 'videos/{jobId}',
      },
      ladder: LADDER,
    });
    const job = await waitDone(client, submitted.id, 60_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));

    const c = s3client();
    try {
      const prefix = `videos/${job.id}/`;
      const listed = await c.send(new ListObjectsV2Command({ Bucket: OUT_BUCKET, Prefix: prefix }));
      const keys = (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
      assert.ok(keys.includes(`${prefix}master.m3u8`), `keys: ${keys.join(', ')}`);
      const master = await c.send(new GetObjectCommand({ Bucket: OUT_BUCKET, Key: `${prefix}master.m3u8` }));
      assert.equal(master.ContentType, 'application/vnd.apple.mpegurl');
      const masterText = (await master.Body?.transformToString()) ?? '';
      assert.match(masterText, /^#EXTM3U/);
      const variantKey = `${prefix}${firstUri(masterText)}`;
      const variant = await c.send(new GetObjectCommand({ Bucket: OUT_BUCKET, Key: variantKey }));
      assert.equal(variant.ContentType, 'application/vnd.apple.mpegurl');
      const segments = keys.filter((k) => k.endsWith('.ts'));
      assert.ok(segments.length >= 2, `3 s in 1 s segments, got ${segments.join(', ')}`);
      const firstSegKey = `${variantKey.split('/').slice(0, -1).join('/')}/${firstUri((await variant.Body?.transformToString()) ?? '')}`;
      assert.ok(segments.includes(firstSegKey), `${firstSegKey} listed by the playlist is in the bucket`);
      for (const key of segments) {
        const head = await c.send(new HeadObjectCommand({ Bucket: OUT_BUCKET, Key: key }));
        assert.equal(head.ContentType, 'video/mp2t', key);
      }
      const seg = await c.send(new GetObjectCommand({ Bucket: OUT_BUCKET, Key: firstSegKey }));
      const segFile = join(tmp, 'bucket-segment.ts');
      await writeFile(segFile, await (seg.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
      assert.equal((await probeVideo(segFile)).height, 480);
      assert.ok(job.result?.masterUrl.endsWith(`${prefix}master.m3u8`), job.result?.masterUrl);
    } finally {
      c.destroy();
    }
  });
});

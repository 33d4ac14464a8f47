import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { JobView } from '../../src/coordinator/schemas.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { makeClip } from '../helpers/media.js';
import { type ReceivedJson, startReceiver } from '../helpers/receiver.js';
import { s3rverClient, startFtpServer } from '../storage/helpers.js';

/**
 * Outputs end to end (issue 18): `startCoordinator` (what `vidmesh serve` runs) on PGlite with its
 * in-process encoder, one submit of a 3 s clip with four outputs, each to its own real destination
 * started here: HLS to the embedded IPFS store (read back through `/ipfs/<cid>/…`), an MP4 720p to
 * s3rver, a WebM 480p to ftp-srv, thumbnails PUT to a local HTTP receiver. Every output is checked with
 * ffprobe where it landed; the job view and the `output.completed` webhooks report each one. Then one
 * output fails at its destination and is retried alone.
 */

const run = promisify(execFile);
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const BUCKET = 'vidmesh-outputs';

interface Stream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
}
/** Streams and duration (s) of a media file or URL, by ffprobe. */
async function ffprobe(target: string): Promise<{ streams: Stream[]; durationS: number }> {
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height:format=duration'],
    ...['-of', 'json', target],
  ]);
  const out = JSON.parse(stdout) as { streams: Stream[]; format: { duration?: string } };
  return { streams: out.streams, durationS: Number(out.format.duration ?? 0) };
}

/** The webhook bodies among the receiver's JSON requests. */
const hooksOf = (json: readonly ReceivedJson[]) =>
  json.map((j) => j.body as { type: string; data: { jobId: string; output?: { name: string } } });

async function waitFinal(client: VidmeshClient, id: string, timeoutMs: number): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.getJob(id);
    if (['completed', 'dead', 'cancelled'].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}/${job.stage}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('job outputs end to end through vidmesh serve (PGlite, 1 encoder)', () => {
  let tmp: string;
  let s3: S3rver;
  let endpoint: string;
  let ftp: Awaited<ReturnType<typeof startFtpServer>>;
  let ftpRoot: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let receiverRoot: string;
  let server: RunningCoordinator;
  let client: VidmeshClient;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-e2e-outputs-'));
    receiverRoot = join(tmp, 'receiver');
    await mkdir(join(receiverRoot, 'src'), { recursive: true });
    await makeClip(join(receiverRoot, 'src', 'clip.mp4'), { seconds: 3 });
    receiver = await startReceiver(receiverRoot);
    s3 = new S3rver({
      port: 0,
      address: '127.0.0.1',
      directory: join(tmp, 's3rver'),
      silent: true,
      configureBuckets: [{ name: BUCKET }],
    });
    endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
    ftpRoot = join(tmp, 'ftproot');
    await mkdir(ftpRoot, { recursive: true });
    ftp = await startFtpServer(ftpRoot, 47000);
    const config = loadConfig({
      env: { VIDMESH_SSRF_ALLOW: '127.0.0.1' },
      flags: { port: 0, dataDir: join(tmp, 'coordinator'), maintenanceMs: 500, logLevel: 'silent' },
    });
    server = await startCoordinator(config);
    client = createClient({ url: server.url, apiKey: server.apiKey });
  });

  after(async () => {
    await server?.stop({ graceMs: 1000 });
    await ftp?.close();
    await s3?.close();
    await receiver?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const outputs = () => [
    {
      name: 'hls',
      kind: 'hls' as const,
      ladder: { short: true, speed: 'ultrafast' as const, segmentDuration: 1 },
      destination: { type: 'ipfs' as const },
    },
    {
      name: 'mp4-720',
      kind: 'mp4' as const,
      height: 720,
      videoBitrate: 1_500_000,
      speed: 'ultrafast' as const,
      destination: {
        type: 's3' as const,
        bucket: BUCKET,
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials,
        prefix: 'videos/{jobId}',
      },
    },
    {
      name: 'webm-480',
      kind: 'webm' as const,
      height: 480,
      crf: 40,
      speed: 'ultrafast' as const,
      destination: {
        type: 'ftp' as const,
        host: '127.0.0.1',
        port: ftp.port,
        user: 'enc',
        password: 'pw',
        dir: '/out/{jobId}',
      },
    },
    {
      name: 'thumbs',
      kind: 'thumbnails' as const,
      intervalS: 1,
      width: 320,
      destination: { type: 'http' as const, baseUrl: `${receiver.url}/thumbs/{jobId}/` },
    },
  ];

  test('four outputs from one submit: HLS on IPFS, MP4 720p on S3, WebM 480p on FTP, thumbnails over HTTP', async () => {
    const submitted = await client.submitJob({
      source: { type: 'http', url: `${receiver.url}/src/clip.mp4` },
      outputs: outputs(),
      webhook: { url: `${receiver.url}/hook/${'a'.repeat(4)}` },
    });
    assert.deepEqual(
      submitted.outputs?.map((o) => [o.name, o.status]),
      [
        ['hls', 'pending'],
        ['mp4-720', 'pending'],
        ['webm-480', 'pending'],
        ['thumbs', 'pending'],
      ],
    );
    const job = await waitFinal(client, submitted.id, 120_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.error ?? job.outputs));
    const byName = new Map((job.outputs ?? []).map((o) => [o.name, o]));
    for (const o of byName.values()) {
      assert.equal(o.status, 'completed', `${o.name}: ${JSON.stringify(o.error)}`);
      assert.ok((o.bytes ?? 0) > 0, `${o.name} has bytes`);
    }
    assert.equal(job.renditions.length, 0, 'the rows of a job with outputs are shown as outputs');

    // HLS: the master through the coordinator's IPFS gateway, a 480p H.264 variant with audio.
    const hls = byName.get('hls')!;
    assert.match(hls.cid ?? '', /^Qm/);
    assert.equal(hls.url, `ipfs://${hls.cid}/master.m3u8`);
    const hlsProbe = await ffprobe(`${server.url}/ipfs/${hls.cid}/master.m3u8`);
    const hlsVideo = hlsProbe.streams.find((s) => s.codec_type === 'video');
    assert.equal(hlsVideo?.codec_name, 'h264');
    assert.equal(hlsVideo?.height, 480);
    assert.ok(hlsProbe.streams.some((s) => s.codec_type === 'audio'));

    // MP4 in the bucket: H.264 1280x720 + AAC, 3 s.
    const mp4 = byName.get('mp4-720')!;
    const key = `videos/${job.id}/video.mp4`;
    assert.equal(mp4.url, `s3://${BUCKET}/${key}`);
    const c = s3rverClient(endpoint);
    const obj = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.equal(obj.ContentType, 'video/mp4');
    const mp4File = join(tmp, 'from-bucket.mp4');
    await writeFile(mp4File, await obj.Body!.transformToByteArray());
    const mp4Probe = await ffprobe(mp4File);
    assert.deepEqual(
      mp4Probe.streams.map((s) => [s.codec_type, s.codec_name, s.width, s.height]),
      [
        ['video', 'h264', 1280, 720],
        ['audio', 'aac', undefined, undefined],
      ],
    );
    assert.ok(Math.abs(mp4Probe.durationS - 3) < 0.2, `mp4 duration ${mp4Probe.durationS}`);
    assert.ok(Math.abs((mp4.durationS ?? 0) - 3) < 0.2, 'reported duration');
    assert.deepEqual([mp4.width, mp4.height], [1280, 720]);

    // WebM on the FTP server, read back over FTP by ffprobe: VP9 854x480 + Opus.
    const webm = byName.get('webm-480')!;
    assert.equal(webm.url, `ftp://127.0.0.1:${ftp.port}/out/${job.id}/video.webm`);
    const webmProbe = await ffprobe(`ftp://enc:pw@127.0.0.1:${ftp.port}/out/${job.id}/video.webm`);
    assert.deepEqual(
      webmProbe.streams.map((s) => [s.codec_type, s.codec_name, s.width, s.height]),
      [
        ['video', 'vp9', 854, 480],
        ['audio', 'opus', undefined, undefined],
      ],
    );

    // Thumbnails the receiver stored: one JPEG per second of the 3 s clip, 320x180.
    const thumbsDir = join(receiverRoot, 'thumbs', job.id);
    const thumbs = (await readdir(thumbsDir)).sort();
    assert.deepEqual(thumbs, ['thumb_0001.jpg', 'thumb_0002.jpg', 'thumb_0003.jpg']);
    for (const t of thumbs) {
      const p = await ffprobe(join(thumbsDir, t));
      assert.deepEqual(
        p.streams.map((s) => [s.codec_name, s.width, s.height]),
        [['mjpeg', 320, 180]],
      );
    }
    assert.equal(byName.get('thumbs')?.files?.length, 3);

    // One output.completed per output, before job.completed.
    const events = (json: readonly ReceivedJson[]) => hooksOf(json).filter((b) => b.data.jobId === job.id);
    const received = events(await receiver.settle((j) => events(j).some((e) => e.type === 'job.completed')));
    const types = received.map((e) => e.type);
    const done = received.filter((e) => e.type === 'output.completed');
    assert.deepEqual(
      done.map((e) => e.data.output?.name),
      ['hls', 'mp4-720', 'webm-480', 'thumbs'],
    );
    assert.ok(types.lastIndexOf('output.completed') < types.indexOf('job.completed'), types.join());
  });

  test('an output refused by its destination fails alone, output.failed fires, and a retry re-runs only it', async () => {
    receiver.refuse.add('/refused/');
    const [, mp4, , thumbs] = outputs();
    const submitted = await client.submitJob({
      source: { type: 'http', url: `${receiver.url}/src/clip.mp4` },
      outputs: [
        { ...mp4!, name: 'mp4' },
        { ...thumbs!, destination: { type: 'http', baseUrl: `${receiver.url}/refused/{jobId}/` } },
      ],
      webhook: { url: `${receiver.url}/hook/retry` },
    });
    const first = await waitFinal(client, submitted.id, 120_000);
    assert.equal(first.status, 'completed');
    const failed = first.outputs?.find((o) => o.name === 'thumbs');
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.error?.code, 'storage_rejected', JSON.stringify(failed?.error));
    assert.equal(first.outputs?.find((o) => o.name === 'mp4')?.status, 'completed');
    const c = s3rverClient(endpoint);
    const key = `videos/${first.id}/video.mp4`;
    const before = await c.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));

    receiver.refuse.delete('/refused/');
    await client.retryJob(first.id, { renditions: ['thumbs'] });
    const second = await waitFinal(client, first.id, 120_000);
    assert.equal(second.status, 'completed');
    assert.deepEqual(
      second.outputs?.map((o) => [o.name, o.status]),
      [
        ['mp4', 'completed'],
        ['thumbs', 'completed'],
      ],
    );
    assert.equal(second.outputs?.[0]?.url, `s3://${BUCKET}/${key}`, 'the kept output keeps its result');
    assert.equal((await readdir(join(receiverRoot, 'refused', first.id))).length, 3);
    const afterHead = await c.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.equal(afterHead.ETag, before.ETag);
    assert.equal(
      afterHead.LastModified?.getTime(),
      before.LastModified?.getTime(),
      'the MP4 was not re-encoded or re-uploaded',
    );
    const logs = await fetch(`${server.url}/api/v1/jobs/${first.id}/logs`, {
      headers: { authorization: `Bearer ${server.apiKey}` },
    }).then((r) => r.json() as Promise<{ lines: { line: string }[] }>);
    assert.ok(logs.lines.some((l) => l.line.includes('outputs: thumbs (thumbnails);')));

    const hooks = (json: readonly ReceivedJson[]) =>
      hooksOf(json).filter((b) => b.data.jobId === first.id && b.type.startsWith('output.'));
    assert.deepEqual(
      hooks(await receiver.settle((j) => hooks(j).length >= 3)).map((h) => [h.type, h.data.output?.name]),
      [
        ['output.completed', 'mp4'],
        ['output.failed', 'thumbs'],
        ['output.completed', 'thumbs'],
      ],
    );
  });
});

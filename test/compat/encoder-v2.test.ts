import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { loadConfig } from '../../src/config.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { makeClip } from '../helpers/media.js';
import { type ReceivedJson, startReceiver } from '../helpers/receiver.js';
import { s3rverClient, startFtpServer } from '../storage/helpers.js';

/**
 * The Encoder v2 compatible API (issue 18) of `vidmesh serve --encoder-v2-api /encoder` (PGlite, one
 * in-process encoder): the original's documented request body (S3 source with `access_key_id` /
 * `access_key_secret`, outputs with `container`/`videoCodec`/`videoBitrate`/…, S3 `path` as the object
 * key, `notificationUrl`) against s3rver, ftp-srv and a local HTTP receiver; the callbacks arrive;
 * credentials are sealed at rest and never echoed; DELETE cascades to the job's local files.
 */

const run = promisify(execFile);
const SECRET = 'S3RVER';
const BUCKET = 'encoder-v2';
/** The S3 output's `contentType`: not the type by extension (`video/mp4`), so honouring it shows. */
const MP4_TYPE = 'video/mp4; codecs="avc1.64001f,mp4a.40.2"';

async function probeStreams(path: string): Promise<string[]> {
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', path],
  ]);
  return stdout.trim().split('\n');
}

describe('Encoder v2 API (vidmesh serve --encoder-v2-api /encoder)', () => {
  let tmp: string;
  let s3: S3rver;
  let endpoint: string;
  let ftp: Awaited<ReturnType<typeof startFtpServer>>;
  let ftpRoot: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let receiverRoot: string;
  let server: RunningCoordinator;
  let base: string;
  let dataDir: string;
  const auth = () => ({ authorization: `Bearer ${server.apiKey}` });
  const api = async (method: string, path: string, body?: unknown, headers = auth()) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const waitDone = async (id: string) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { json } = await api('GET', `/jobs/${id}`);
      if (['completed', 'failed', 'cancelled'].includes(String(json.status))) return json;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${json.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-encoder-v2-'));
    const clip = await makeClip(join(tmp, 'clip.mp4'), { seconds: 2 });
    s3 = new S3rver({
      port: 0,
      address: '127.0.0.1',
      directory: join(tmp, 's3rver'),
      silent: true,
      configureBuckets: [{ name: BUCKET }],
    });
    endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
    const c = s3rverClient(endpoint);
    await c.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/input/video.mp4', Body: await readFile(clip) }),
    );
    c.destroy();
    ftpRoot = join(tmp, 'ftproot');
    await mkdir(ftpRoot, { recursive: true });
    ftp = await startFtpServer(ftpRoot, 49000);
    receiverRoot = join(tmp, 'receiver');
    await mkdir(receiverRoot, { recursive: true });
    receiver = await startReceiver(receiverRoot);
    dataDir = join(tmp, 'coordinator');
    server = await startCoordinator(
      loadConfig({
        env: { VIDMESH_SSRF_ALLOW: '127.0.0.1', VIDMESH_ENCODER_V2_API: '/encoder' },
        flags: { port: 0, dataDir, maintenanceMs: 500, logLevel: 'silent' },
      }),
    );
    base = `${server.url}/encoder`;
  });

  after(async () => {
    await server?.stop({ graceMs: 1000 });
    await ftp?.close();
    await s3?.close();
    await receiver?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('GET /health answers without a key; the job routes need the vidmesh API key', async () => {
    assert.deepEqual((await api('GET', '/health', undefined, {} as never)).json, { status: 'ok' });
    const anonymous = await api('GET', '/jobs', undefined, {} as never);
    assert.equal(anonymous.status, 401);
    const wrong = await api('GET', '/jobs', undefined, { authorization: 'Bearer vk_nope' });
    assert.equal(wrong.status, 401);
  });

  test("the original's request body: S3 source, MP4 to S3 with its contentType, WebM to FTP, MP4 POSTed over HTTP, callbacks arrive", async () => {
    const body = {
      source: {
        kind: 's3',
        access_key_id: 'S3RVER',
        access_key_secret: SECRET,
        region: 'us-east-1',
        bucket: BUCKET,
        path: 'uploads/input/video.mp4',
        endpoint,
        forcePathStyle: true,
      },
      outputs: [
        {
          container: 'mp4',
          videoCodec: 'libx264',
          videoBitrate: '2500k',
          audioCodec: 'aac',
          audioBitrate: '128k',
          width: 1280,
          height: 720,
          destination: {
            kind: 's3',
            access_key_id: 'S3RVER',
            access_key_secret: SECRET,
            region: 'us-east-1',
            bucket: BUCKET,
            path: 'processed/output/video_720p.mp4',
            acl: 'public-read',
            contentType: MP4_TYPE,
            endpoint,
            forcePathStyle: true,
          },
        },
        {
          container: 'webm',
          videoCodec: 'libvpx-vp9',
          videoBitrate: '800k',
          audioCodec: 'libopus',
          height: 360,
          destination: { kind: 'ftp', url: `ftp://enc:pw@127.0.0.1:${ftp.port}/processed/video_360p.webm` },
        },
        {
          container: 'mp4',
          videoCodec: 'h264',
          videoBitrate: '600k',
          width: 640,
          height: 360,
          destination: { kind: 'http', url: `${receiver.url}/incoming/small.mp4`, method: 'POST' },
        },
      ],
      notificationUrl: `${receiver.url}/notify`,
    };
    const created = await api('POST', '/jobs', body);
    assert.equal(created.status, 202, created.text);
    assert.deepEqual(Object.keys(created.json).sort(), ['id', 'status', 'uuid']);
    assert.equal(created.json.status, 'queued');
    const id = String(created.json.id);
    const job = await waitDone(id);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const outputs = job.outputs as Array<{ id: string; status: string; url?: string; size?: number }>;
    assert.deepEqual(
      outputs.map((o) => [o.id, o.status]),
      [
        ['o1', 'uploaded'],
        ['o2', 'uploaded'],
        ['o3', 'uploaded'],
      ],
    );
    assert.equal(outputs[0]?.url, `s3://${BUCKET}/processed/output/video_720p.mp4`);

    const c = s3rverClient(endpoint);
    const head = await c.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: 'processed/output/video_720p.mp4' }),
    );
    assert.equal(head.ContentType, MP4_TYPE, "the output's S3 contentType is the object's Content-Type");
    const obj = await c.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'processed/output/video_720p.mp4' }),
    );
    const mp4 = join(tmp, 'from-s3.mp4');
    await writeFile(mp4, await obj.Body!.transformToByteArray());
    assert.deepEqual(await probeStreams(mp4), ['h264,1280,720', 'aac']);
    c.destroy();
    assert.deepEqual(await probeStreams(join(ftpRoot, 'processed', 'video_360p.webm')), [
      'vp9,640,360',
      'opus',
    ]);
    assert.deepEqual(await probeStreams(join(receiverRoot, 'incoming', 'small.mp4')), [
      'h264,640,360',
      'aac',
    ]);

    // Callbacks: the job's completion and one per output, at notificationUrl.
    const typesOf = (json: readonly ReceivedJson[]) =>
      json.filter((j) => j.path === '/notify').map((j) => (j.body as { type: string }).type);
    const types = typesOf(await receiver.settle((j) => typesOf(j).includes('job.completed')));
    assert.ok(types.includes('job.started'), types.join());
    assert.equal(types.filter((t) => t === 'output.completed').length, 3, types.join());
    assert.ok(types.includes('job.completed'), types.join());
    assert.ok(!types.includes('job.progress'));

    // Never echoed, sealed at rest.
    for (const path of [`/jobs/${id}`, '/jobs']) {
      assert.ok(!(await api('GET', path)).text.includes(SECRET), `${path} shows no credential`);
    }
    const stored = await server.db.query<{ spec: string }>(
      'SELECT spec::text AS spec FROM jobs WHERE id = $1',
      [id],
    );
    assert.ok(!stored.rows[0]?.spec.includes(`"${SECRET}"`), 'the secret is sealed in the stored spec');
    assert.ok(!stored.rows[0]?.spec.includes('"pw"'), 'the FTP password is sealed in the stored spec');

    const list = await api('GET', '/jobs');
    assert.ok(Array.isArray(list.json));
    assert.equal((list.json as unknown as Array<{ id: string }>)[0]?.id, id);
    const workers = (await api('GET', '/workers')).json as unknown as Array<{ kind: string; status: string }>;
    assert.ok(workers.some((w) => w.kind === 'infrastructure' && w.status === 'online'));
  });

  test('bad bodies (a free codec string, an unknown container, an S3 contentType with CR/LF or on HLS) are 400 problems naming the field; an unknown job id is 404', async () => {
    const bad = await api('POST', '/jobs', {
      source: { kind: 'http', url: `${receiver.url}/x.mp4` },
      outputs: [{ container: 'mp4', videoCodec: 'libx264 -vf evil', destination: { kind: 'local' } }],
    });
    assert.equal(bad.status, 400, bad.text);
    assert.match(String(bad.json.detail), /videoCodec/);
    const gif = await api('POST', '/jobs', {
      source: { kind: 'http', url: `${receiver.url}/x.mp4` },
      outputs: [{ container: 'gif', destination: { kind: 'local' } }],
    });
    assert.equal(gif.status, 400);
    const s3Out = { kind: 's3', bucket: BUCKET, path: 'x/a.mp4', endpoint, forcePathStyle: true };
    const crlf = await api('POST', '/jobs', {
      source: { kind: 'http', url: `${receiver.url}/x.mp4` },
      outputs: [
        { container: 'mp4', destination: { ...s3Out, contentType: 'video/mp4\r\nx-amz-acl: public-read' } },
      ],
    });
    assert.equal(crlf.status, 400, crlf.text);
    assert.match(String(crlf.json.detail), /contentType/);
    const hls = await api('POST', '/jobs', {
      source: { kind: 'http', url: `${receiver.url}/x.mp4` },
      outputs: [{ container: 'hls', destination: { ...s3Out, path: 'x/hls', contentType: 'video/mp2t' } }],
    });
    assert.equal(hls.status, 400, hls.text);
    assert.match(String(hls.json.detail), /contentType/);
    assert.equal((await api('GET', '/jobs/00000000-0000-0000-0000-000000000000')).status, 404);
  });

  test('DELETE /jobs/:id removes the job, its outputs and its files in local storage', async () => {
    await makeClip(join(receiverRoot, 'src.mp4'), { seconds: 1 });
    const created = await api('POST', '/jobs', {
      source: { kind: 'http', url: `${receiver.url}/src.mp4` },
      outputs: [
        {
          container: 'mp4',
          videoBitrate: '300k',
          height: 240,
          destination: { kind: 'local', path: 'mine' },
        },
      ],
    });
    assert.equal(created.status, 202, created.text);
    const id = String(created.json.id);
    const job = await waitDone(id);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const folder = join(dataDir, 'media', id);
    assert.ok(existsSync(join(folder, 'mine', 'o1', 'video.mp4')));
    const deleted = await api('DELETE', `/jobs/${id}`);
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(existsSync(folder), false, 'local files removed');
    assert.equal((await api('GET', `/jobs/${id}`)).status, 404);
    const rows = await server.db.query('SELECT 1 FROM renditions WHERE job_id = $1', [id]);
    assert.equal(rows.rows.length, 0, 'output rows removed');
  });

  test('DELETE /jobs/:id of a job whose market order is not settled is a 409 problem that keeps job and files; settled, it is removed', async () => {
    await makeClip(join(receiverRoot, 'priced.mp4'), { seconds: 1 });
    const created = await api('POST', '/jobs', {
      source: { kind: 'http', url: `${receiver.url}/priced.mp4` },
      outputs: [{ container: 'mp4', height: 240, destination: { kind: 'local', path: 'priced' } }],
    });
    assert.equal(created.status, 202, created.text);
    const id = String(created.json.id);
    assert.equal((await waitDone(id)).status, 'completed');
    // The escrow of an accepted bid still holds its price (the settlement pass has not run yet).
    await server.db.query(
      `INSERT INTO market_orders (job_id, payer, max_price, auto_accept, state, bid_id, encoder_id, price, fee)
       VALUES ($1, 'acme', 1000, false, 'accepted', 'bid_v2', 'enc-v2', 900, 0)`,
      [id],
    );
    const refused = await api('DELETE', `/jobs/${id}`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.json.code, 'order_unsettled');
    assert.ok(existsSync(join(dataDir, 'media', id, 'priced')), 'local files kept');
    assert.equal((await api('GET', `/jobs/${id}`)).status, 200);
    await server.db.query(`UPDATE market_orders SET state = 'paid' WHERE job_id = $1`, [id]);
    const deleted = await api('DELETE', `/jobs/${id}`);
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(existsSync(join(dataDir, 'media', id)), false);
    assert.equal((await api('GET', `/jobs/${id}`)).status, 404);
  });

  test('DELETE /jobs/:id of a job that has not finished cancels it first; nothing is published after', async () => {
    await makeClip(join(receiverRoot, 'unfinished.mp4'), { seconds: 1 });
    const created = await api('POST', '/jobs', {
      source: { kind: 'http', url: `${receiver.url}/unfinished.mp4` },
      outputs: [{ container: 'mp4', height: 240, destination: { kind: 'local' } }],
    });
    assert.equal(created.status, 202, created.text);
    const id = String(created.json.id);
    const deleted = await api('DELETE', `/jobs/${id}`);
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal((await api('GET', `/jobs/${id}`)).status, 404);
    // An encoder that had claimed it loses its lease (the job is gone) before it may publish.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(existsSync(join(dataDir, 'media', id)), false, 'no output published for a deleted job');
    const events = await server.db.query('SELECT 1 FROM jobs WHERE id = $1', [id]);
    assert.equal(events.rows.length, 0);
  });
});

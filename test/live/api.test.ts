import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { loadConfig } from '../../src/config.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { createSqlApiKeyStore } from '../../src/identity/index.js';
import type { Claim, EncoderCapabilities } from '../../src/jobs/index.js';
import { endLiveStream } from '../../src/live/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { s3rverClient } from '../storage/helpers.js';

/**
 * The live API without media (issue 23, docs/live.md): bad input is a 4xx problem, another tenant's
 * stream is invisible, the segment route is fenced by the lease and takes MPEG-TS only, the coordinator
 * numbers segments and marks a new attempt with a discontinuity, and `finish` waits for the publisher.
 */

const KEY = 'live-api-test-admin-key-0123456789';
const caps: EncoderCapabilities = {
  codecs: ['h264', 'aac'],
  hwaccel: [],
  maxHeight: 2160,
  concurrency: 1,
  tags: ['live'],
};
const run = promisify(execFile);
const BUCKET = 'live-recordings';
// s3rver checks signatures against its one account, S3RVER/S3RVER.
const S3_SECRET = 'S3RVER';
/** A minimal MPEG-TS packet: sync byte 0x47, 188 bytes. */
const TS = Buffer.concat([Buffer.from([0x47, 0x40, 0x00, 0x10]), Buffer.alloc(184, 0xff)]);

describe('live API: input, tenants, lease-fenced segments, playlists', { timeout: 60_000 }, () => {
  let tdb: TestDatabase;
  let dir: string;
  let c: RunningCoordinator;
  let tenantKey: string;
  let s3rver: S3rver;
  let s3Endpoint: string;
  const call = async (path: string, init: RequestInit & { key?: string } = {}) => {
    const res = await fetch(`${c.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${init.key ?? KEY}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  };

  before(async () => {
    tdb = await createTestDatabase({ driver: 'postgres' });
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-live-api-'));
    s3rver = new S3rver({
      port: 0,
      address: '127.0.0.1',
      directory: join(dir, 's3rver'),
      silent: true,
      configureBuckets: [{ name: BUCKET }],
    });
    s3Endpoint = `http://127.0.0.1:${(await s3rver.run()).port}`;
    c = await startCoordinator(
      loadConfig({
        env: { VIDMESH_SSRF_ALLOW: '127.0.0.1' },
        flags: {
          port: 0,
          dataDir: join(dir, 'coordinator'),
          databaseUrl: tdb.url,
          apiKey: KEY,
          encoders: 0,
          logLevel: 'silent',
          liveRtmpPort: 0,
          liveRtmpHost: '127.0.0.1',
        },
      }),
    );
    tenantKey = (
      await createSqlApiKeyStore(c.db).create({ name: 'other', scopes: ['read', 'submit'], tenant: 'other' })
    ).plaintext;
  });
  after(async () => {
    await c?.stop({ graceMs: 0 });
    await s3rver?.close();
    await tdb?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('bad bodies are 400 problems: unknown rendition, duplicates, record with a sliding window, unknown field, a destination without record or invalid', async () => {
    for (const body of [
      { renditions: ['4k'] },
      { renditions: ['720p', '720p'] },
      { record: true, playlist: 'sliding' },
      { streamKey: 'mine' },
      { windowSegments: 1000 },
      { destination: { type: 'local' } },
      { record: true, destination: { type: 's3', bucket: 'Not_A_Bucket' } },
    ]) {
      const r = await call('/api/v1/live', { method: 'POST', body: JSON.stringify(body) });
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.text}`);
      assert.equal(r.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    }
  });

  test("another tenant's stream answers 404 and is not listed", async () => {
    const mine = (await call('/api/v1/live', { method: 'POST', body: '{}' })).json() as {
      job: { id: string };
    };
    assert.equal((await call(`/api/v1/live/${mine.job.id}`, { key: tenantKey })).status, 404);
    const listed = (await call('/api/v1/live', { key: tenantKey })).json() as { streams: unknown[] };
    assert.equal(listed.streams.length, 0);
    const theirs = await call('/api/v1/live', { method: 'POST', body: '{}', key: tenantKey });
    assert.equal(theirs.status, 201);
    const theirId = (theirs.json() as { job: { id: string } }).job.id;
    assert.equal((await call(`/api/v1/live/${theirId}`, { key: tenantKey })).status, 200);
    assert.equal(
      ((await call('/api/v1/live', { key: tenantKey })).json() as { streams: unknown[] }).streams.length,
      1,
    );
  });

  test('segments: lease-fenced, MPEG-TS only, numbered by the coordinator, a new lease starts with a discontinuity; sliding window', async () => {
    const created = (await call('/api/v1/live', {
      method: 'POST',
      body: JSON.stringify({ renditions: ['240p'], playlist: 'sliding', windowSegments: 3 }),
    }).then((r) => r.json())) as { job: { id: string } };
    const jobId = created.job.id;
    const enc = await c.store.registerEncoder({
      name: 'live-api-enc',
      kind: 'infrastructure',
      capabilities: caps,
    });
    const claimLive = async (): Promise<Claim> => {
      for (;;) {
        const cl = await c.store.claim({ id: enc.id, kind: 'infrastructure' }, caps, { waitMs: 2000 });
        assert.ok(cl, 'claimed');
        // Streams of the other tests are older, so claimed first: keep their leases, claim on.
        if (cl.job.id === jobId) return cl;
      }
    };
    const first = await claimLive();
    assert.equal(first.job.queue, 'live');
    const post = (token: string, body: Buffer, start: number) =>
      call(`/api/v1/agent/live/${jobId}/segments/240p`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'video/mp2t',
          'x-lease-token': token,
          'x-segment-start': String(start),
          'x-segment-duration': '2',
        },
      });
    assert.equal((await post('not-the-token', TS, 0)).status, 409);
    const html = await post(first.leaseToken, Buffer.from('<html><script>alert(1)</script></html>'), 0);
    assert.equal(html.status, 400, html.text);
    const noHeaders = await call(`/api/v1/agent/live/${jobId}/segments/240p`, {
      method: 'POST',
      body: TS,
      headers: { 'content-type': 'video/mp2t', 'x-lease-token': first.leaseToken },
    });
    assert.equal(noHeaders.status, 400);
    const unknown = await call(`/api/v1/agent/live/${jobId}/segments/..%2F..%2Fetc`, {
      method: 'POST',
      body: TS,
      headers: { 'x-lease-token': first.leaseToken, 'x-segment-start': '0', 'x-segment-duration': '2' },
    });
    assert.equal(unknown.status, 400);
    for (let i = 0; i < 3; i++) {
      const r = await post(first.leaseToken, TS, i * 2);
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(r.json(), { seq: i, discontinuity: false });
    }
    // The publisher never came: finish is refused while the stream may still start.
    // (No body, like the runner's call.)
    const early = await fetch(`${c.url}/api/v1/agent/live/${jobId}/finish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'x-lease-token': first.leaseToken },
    });
    assert.equal(early.status, 409);
    assert.equal(((await early.json()) as { code: string }).code, 'live_not_ended');

    // The encoder dies; the next attempt continues the numbering after a discontinuity.
    await c.store.release(jobId, first.leaseToken, enc.id, 'encoder lost');
    const second = await claimLive();
    assert.equal((await post(first.leaseToken, TS, 6)).status, 409, 'the old lease is fenced off');
    const next = await post(second.leaseToken, TS, 6);
    assert.deepEqual(next.json(), { seq: 3, discontinuity: true });
    assert.deepEqual((await post(second.leaseToken, TS, 8)).json(), { seq: 4, discontinuity: false });

    const playlist = await fetch(`${c.url}/live/${jobId}/240p/index.m3u8`);
    assert.equal(playlist.headers.get('cache-control'), 'no-cache');
    assert.equal(playlist.headers.get('x-content-type-options'), 'nosniff');
    const text = await playlist.text();
    assert.match(text, /#EXT-X-MEDIA-SEQUENCE:2\n/);
    assert.doesNotMatch(text, /PLAYLIST-TYPE/);
    assert.deepEqual(
      [...text.matchAll(/^(\d+)\.ts$/gm)].map((m) => m[1]),
      ['2', '3', '4'],
    );
    assert.match(text, /2\.ts\n#EXT-X-DISCONTINUITY\n/);
    const seg = await fetch(`${c.url}/live/${jobId}/240p/3.ts`);
    assert.equal(seg.status, 200);
    assert.equal(seg.headers.get('content-type'), 'video/mp2t');
    assert.equal(seg.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.deepEqual(Buffer.from(await seg.arrayBuffer()), TS);
    // A sliding window deletes segment files one window after they left the playlist.
    for (let i = 5; i < 8; i++) assert.equal((await post(second.leaseToken, TS, i * 2)).status, 201);
    assert.equal((await fetch(`${c.url}/live/${jobId}/240p/0.ts`)).status, 404);
    assert.equal((await fetch(`${c.url}/live/${jobId}/240p/1.ts`)).status, 404);
    assert.equal((await fetch(`${c.url}/live/${jobId}/240p/2.ts`)).status, 200);
    // In-progress uploads are never served.
    assert.ok([403, 404].includes((await fetch(`${c.url}/live/${jobId}/240p/.incoming`)).status));
  });

  /**
   * Claims live job `jobId` through the agent route as a new live encoder would (other tests' older
   * streams are claimed first and kept) and hands in three real 2 s segments of one ffmpeg run (segment
   * muxer), as the live runner does. Returns the handout's spec, the lease headers and the segments.
   */
  const handInThreeSegments = async (jobId: string, name: string) => {
    const segDir = join(dir, `rec-${jobId}`);
    await mkdir(segDir);
    await run('ffmpeg', [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=6'],
      ...['-f', 'lavfi', '-i', 'sine=duration=6', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '60'],
      ...['-c:a', 'aac', '-f', 'segment', '-segment_time', '2', '-segment_format', 'mpegts'],
      join(segDir, '%d.ts'),
    ]);
    const enc = await c.store.registerEncoder({ name, kind: 'infrastructure', capabilities: caps });
    let handout: { job: { id: string; spec: Record<string, unknown> }; leaseToken: string } | undefined;
    while (handout?.job.id !== jobId) {
      const r = await call('/api/v1/agent/claim', {
        method: 'POST',
        body: JSON.stringify({ encoderId: enc.id, waitMs: 2000 }),
      });
      assert.equal(r.status, 200, `claimed: ${r.text}`);
      handout = r.json() as typeof handout;
    }
    const lease = { authorization: `Bearer ${KEY}`, 'x-lease-token': handout.leaseToken };
    const segments = [0, 1, 2].map((i) => readFileSync(join(segDir, `${i}.ts`)));
    for (const [i, body] of segments.entries()) {
      const r = await fetch(`${c.url}/api/v1/agent/live/${jobId}/segments/240p`, {
        method: 'POST',
        body,
        headers: {
          ...lease,
          'content-type': 'video/mp2t',
          'x-segment-start': String(i * 2),
          'x-segment-duration': '2',
        },
      });
      assert.equal(r.status, 201, await r.text());
    }
    return { spec: handout.job.spec, lease, segments };
  };

  test('record: finish publishes the closed stream as a VOD at /media/<job>/ (VOD playlists with ENDLIST, every segment)', async () => {
    const created = (await call('/api/v1/live', {
      method: 'POST',
      body: JSON.stringify({ renditions: ['240p'], record: true }),
    }).then((r) => r.json())) as { job: { id: string } };
    const jobId = created.job.id;
    const { lease, segments } = await handInThreeSegments(jobId, 'live-rec-enc');
    // The publisher is gone past its grace: what the ingest records then.
    await endLiveStream(c.db, jobId);
    const fin = await fetch(`${c.url}/api/v1/agent/live/${jobId}/finish`, { method: 'POST', headers: lease });
    assert.equal(fin.status, 200);
    const { masterUrl, recordingUrl } = (await fin.json()) as { masterUrl: string; recordingUrl: string };
    assert.equal(masterUrl, `${c.url}/live/${jobId}/master.m3u8`);
    assert.equal(recordingUrl, `${c.url}/media/${jobId}/master.m3u8`);

    const master = await (await fetch(recordingUrl)).text();
    assert.match(master, /#EXT-X-STREAM-INF:.*\n240p\/index\.m3u8\n/);
    const media = await (await fetch(`${c.url}/media/${jobId}/240p/index.m3u8`)).text();
    assert.match(media, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
    assert.match(media, /#EXT-X-ENDLIST\n$/);
    assert.deepEqual(
      [...media.matchAll(/^(\d+)\.ts$/gm)].map((m) => m[1]),
      ['0', '1', '2'],
    );
    for (const [i, body] of segments.entries()) {
      const seg = await fetch(`${c.url}/media/${jobId}/240p/${i}.ts`);
      assert.deepEqual(Buffer.from(await seg.arrayBuffer()), body, `segment ${i} published as handed in`);
    }
    // The recording plays as one 6 s VOD (ffprobe reads the published playlist over HTTP).
    const { stdout } = await run('ffprobe', [
      ...['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0'],
      `${c.url}/media/${jobId}/240p/index.m3u8`,
    ]);
    assert.ok(Math.abs(Number(stdout) - 6) < 0.2, `recording duration ${stdout}`);
    // The live playlists stay closed (EVENT + ENDLIST) for players that were watching.
    assert.match(await (await fetch(`${c.url}/live/${jobId}/240p/index.m3u8`)).text(), /#EXT-X-ENDLIST\n$/);
  });

  test('record with an S3 destination: finish publishes the recording to the bucket; the credentials are sealed, never shown and never handed to the encoder', async () => {
    const created = await call('/api/v1/live', {
      method: 'POST',
      body: JSON.stringify({
        renditions: ['240p'],
        record: true,
        destination: {
          type: 's3',
          bucket: BUCKET,
          prefix: 'recordings/{jobId}',
          endpoint: s3Endpoint,
          forcePathStyle: true,
          credentials: { accessKeyId: 'S3RVER', secretAccessKey: S3_SECRET },
        },
      }),
    });
    assert.equal(created.status, 201, created.text);
    assert.ok(!created.text.includes(S3_SECRET), 'the create answer shows no credential');
    const jobId = (created.json() as { job: { id: string } }).job.id;
    const stored = await c.db.query<{ spec: string }>('SELECT spec::text AS spec FROM jobs WHERE id = $1', [
      jobId,
    ]);
    assert.ok(!stored.rows[0]!.spec.includes(S3_SECRET), 'sealed in the stored spec');
    assert.ok(!(await call(`/api/v1/jobs/${jobId}`)).text.includes(S3_SECRET), 'not in the job view');
    const { spec, lease, segments } = await handInThreeSegments(jobId, 'live-rec-s3-enc');
    assert.equal(spec.kind, 'live');
    assert.equal(spec.destination, undefined, 'the live encoder gets no destination');

    await endLiveStream(c.db, jobId);
    const fin = await fetch(`${c.url}/api/v1/agent/live/${jobId}/finish`, { method: 'POST', headers: lease });
    assert.equal(fin.status, 200);
    const { recordingUrl } = (await fin.json()) as { recordingUrl: string };
    assert.equal(recordingUrl, `s3://${BUCKET}/recordings/${jobId}/master.m3u8`);
    const s3 = s3rverClient(s3Endpoint);
    try {
      const get = async (key: string) =>
        Buffer.from(
          await (
            await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
          ).Body!.transformToByteArray(),
        );
      const prefix = `recordings/${jobId}`;
      assert.match(
        (await get(`${prefix}/master.m3u8`)).toString(),
        /#EXT-X-STREAM-INF:.*\n240p\/index\.m3u8\n/,
      );
      const media = (await get(`${prefix}/240p/index.m3u8`)).toString();
      assert.match(media, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
      assert.match(media, /#EXT-X-ENDLIST\n$/);
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}/240p/index.m3u8` }));
      assert.equal(head.ContentType, 'application/vnd.apple.mpegurl');
      for (const [i, body] of segments.entries())
        assert.deepEqual(
          await get(`${prefix}/240p/${i}.ts`),
          body,
          `segment ${i} in the bucket as handed in`,
        );
    } finally {
      s3.destroy();
    }
    assert.equal((await fetch(`${c.url}/media/${jobId}/master.m3u8`)).status, 404, 'not in the media store');
  });

  test('cancelling a live job disconnects its publisher and spends the key', async () => {
    const live = (await call('/api/v1/live', {
      method: 'POST',
      body: JSON.stringify({ renditions: ['240p'] }),
    }).then((r) => r.json())) as { ingestUrl: string; job: { id: string } };
    const publisher = spawn(
      'ffmpeg',
      [
        ...[
          '-hide_banner',
          '-loglevel',
          'error',
          '-re',
          '-f',
          'lavfi',
          '-i',
          'testsrc2=size=320x180:rate=15',
        ],
        ...['-t', '30', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-f', 'flv', live.ingestUrl],
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((r) => publisher.on('exit', (code) => r(code)));
    try {
      const state = async () =>
        ((await call(`/api/v1/live/${live.job.id}`)).json() as { ingest: { state: string } | null }).ingest
          ?.state;
      for (let i = 0; (await state()) !== 'publishing'; i++) {
        assert.ok(i < 100, 'publishing within 20 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal((await call(`/api/v1/jobs/${live.job.id}`, { method: 'DELETE' })).status, 200);
      // The coordinator closes the connection: ffmpeg stops with an error long before its 30 s.
      assert.notEqual(await exited, 0);
      assert.equal(await state(), 'ended');
      const row = await c.db.query<{ ended_at: Date | null }>(
        'SELECT ended_at FROM live_streams WHERE job_id = $1',
        [live.job.id],
      );
      assert.notEqual(row.rows[0]!.ended_at, null);
    } finally {
      publisher.kill('SIGKILL');
    }
  });

  test('the stream key has its documented form and only its SHA-256 is stored', async () => {
    const live = (await call('/api/v1/live', { method: 'POST', body: '{}' }).then((r) => r.json())) as {
      streamKey: string;
      job: { id: string };
    };
    assert.match(live.streamKey, /^lk_[\w-]{43}$/);
    const row = await c.db.query<{ key_sha256: string }>(
      'SELECT key_sha256 FROM live_streams WHERE job_id = $1',
      [live.job.id],
    );
    assert.notEqual(row.rows[0]!.key_sha256, live.streamKey, 'only the hash is stored');
    assert.match(row.rows[0]!.key_sha256, /^[0-9a-f]{64}$/);
  });
});

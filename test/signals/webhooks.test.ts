// Webhooks end to end on real PostgreSQL: transitions enqueue deliveries in their own transaction
// (triggers), the sender signs and POSTs them to a real local HTTP receiver, retries on a short
// schedule, keeps per-job order, logs every attempt, gives up, and re-sends on request.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startWebhookSender, type WebhookSender, webhookBody } from '../../src/coordinator/webhooks/index.js';
import { verifyWebhookSignature } from '../../src/identity/index.js';
import {
  createJobStore,
  createWebhookQueue,
  type EncoderCapabilities,
  type JobStore,
  type WebhookQueue,
} from '../../src/jobs/index.js';
import { withTestDatabase } from '../helpers/db.js';

const SECRET = 'whsec_test_secret_0123456789';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  status: number;
}

/** A webhook receiver answering 500 to the first `failFirst` requests, then 200. */
async function receiver(
  failFirst: number,
  port = 0,
): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  let seen = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen++;
      const status = seen <= failFirst ? 500 : 200;
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again later');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: p } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${p}/hook`, got };
}

const close = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('webhooks', () => {
  const t = withTestDatabase();
  let store: JobStore;
  let queue: WebhookQueue;
  let sender: WebhookSender | undefined;
  const tag = `wh-${randomUUID().slice(0, 8)}`;
  const caps: EncoderCapabilities = {
    codecs: ['h264'],
    hwaccel: [],
    maxHeight: 2160,
    concurrency: 1,
    tags: [tag],
  };
  const enc = { id: `${tag}-enc`, kind: 'infrastructure' as const };

  before(() => {
    store = createJobStore(t.current.db);
    queue = createWebhookQueue(t.current.db);
  });
  after(async () => {
    await sender?.stop();
    await store.close();
  });

  const stopSender = async () => {
    await sender?.stop();
    sender = undefined;
  };
  const startSender = (scheduleMs: number[]) => {
    sender = startWebhookSender({
      queue,
      store,
      publicUrl: () => 'http://coordinator.test',
      ssrf: { allowHosts: ['127.0.0.1'] },
      scheduleMs,
      intervalMs: 20,
    });
    return sender;
  };

  const runJob = async (url: string, tenant = 'default') => {
    const job = await store.submit({
      spec: {
        source: { type: 'url', url: 'https://example.com/a.mp4' },
        webhook: { url, secret: SECRET },
        metadata: { ref: 'abc' },
      },
      renditions: ['720p', '360p'],
      tenant,
      requirements: { tags: [tag] },
    });
    const claim = await store.claim(enc, caps);
    assert.ok(claim);
    assert.equal(claim.job.id, job.id);
    await store.renew(job.id, claim.leaseToken, enc.id, { stage: 'encoding', progress: 10 });
    await store.renew(job.id, claim.leaseToken, enc.id, { progress: 12 }); // < 5 points and < 10 s: throttled
    await store.renew(job.id, claim.leaseToken, enc.id, { progress: 60 });
    await store.complete(job.id, claim.leaseToken, enc.id, {
      result: {
        masterUrl: '/media/x/master.m3u8',
        posterUrl: '/media/x/poster.jpg',
        renditions: [
          {
            name: '720p',
            width: 1280,
            height: 720,
            bandwidth: 2_500_000,
            durationS: 2,
            bytes: 600_000,
            playlist: '720p/index.m3u8',
          },
          {
            name: '360p',
            width: 640,
            height: 360,
            bandwidth: 800_000,
            durationS: 2,
            bytes: 200_000,
            playlist: '360p/index.m3u8',
          },
        ],
      },
    });
    return job;
  };

  test('a receiver failing the first 3 deliveries gets every event, in order, signed, accepted once', async () => {
    const rx = await receiver(3);
    try {
      const job = await runJob(rx.url);
      const queued = await queue.list({ jobId: job.id });
      assert.deepEqual(queued.map((d) => d.event).reverse(), [
        'job.queued',
        'job.started',
        'job.progress',
        'job.progress',
        'rendition.completed',
        'rendition.completed',
        'job.completed',
      ]);
      startSender([30, 30, 30, 30]);
      await waitFor(
        'all delivered',
        async () => (await queue.list({ jobId: job.id, status: 'delivered' })).length === 7,
      );
      await stopSender();

      const accepted = rx.got.filter((r) => r.status === 200);
      assert.equal(rx.got.length, 10, '3 refusals + 7 accepted');
      assert.equal(accepted.length, 7);
      const ids = accepted.map((r) => r.headers['vidmesh-delivery']);
      assert.equal(new Set(ids).size, 7, 'each delivery accepted exactly once');
      const bodies = accepted.map((r) => {
        verifyWebhookSignature(SECRET, r.headers['vidmesh-signature'] as string, r.body);
        return JSON.parse(r.body) as { type: string; data: Record<string, unknown> };
      });
      assert.deepEqual(
        bodies.map((b) => b.type),
        [
          'job.queued',
          'job.started',
          'job.progress',
          'job.progress',
          'rendition.completed',
          'rendition.completed',
          'job.completed',
        ],
      );
      assert.deepEqual(bodies.map((b) => b.data.progress).slice(2, 4), [10, 60]);
      // The three refused requests were all the first delivery: nothing overtook it.
      assert.deepEqual(
        rx.got.slice(0, 4).map((r) => JSON.parse(r.body).type),
        Array(4).fill('job.queued'),
      );
      const done = bodies[6]!.data;
      assert.equal(done.jobId, job.id);
      assert.equal(done.status, 'completed');
      assert.deepEqual(done.metadata, { ref: 'abc' });
      assert.equal(done.encoderId, enc.id);
      assert.equal(done.masterUrl, `http://coordinator.test/media/${job.id}/master.m3u8`);
      assert.equal(done.posterUrl, `http://coordinator.test/media/${job.id}/poster.jpg`);
      const r720 = (done.renditions as Array<Record<string, unknown>>)[0]!;
      assert.deepEqual(
        [r720.name, r720.resolution, r720.bitrate, r720.bytes, r720.url],
        ['720p', '1280x720', 2_500_000, 600_000, `http://coordinator.test/media/${job.id}/720p/index.m3u8`],
      );
      assert.equal(typeof (done.timings as Record<string, unknown>).runS, 'number');
      assert.equal((bodies[4]!.data.rendition as Record<string, unknown>).name, '720p');

      const first = (await queue.list({ jobId: job.id })).at(-1)!;
      const log = await queue.attempts(first.id);
      assert.deepEqual(
        log.map((a) => a.statusCode),
        [500, 500, 500, 200],
      );
      assert.equal(log[0]!.response, 'try again later');
      assert.ok(log.every((a) => a.latencyMs >= 0));
    } finally {
      await close(rx.server);
    }
  });

  test('receiver down for the whole schedule: deliveries fail, a re-send delivers', async () => {
    const probe = await receiver(0);
    const port = (probe.server.address() as AddressInfo).port;
    await close(probe.server);
    const job = await store.submit({
      spec: {
        source: { type: 'url', url: 'https://example.com/a.mp4' },
        webhook: { url: probe.url, events: ['job.queued', 'job.cancelled'] },
      },
      renditions: ['360p'],
      requirements: { tags: ['never-claimed'] },
    });
    await store.cancel(job.id);
    startSender([20, 20]);
    await waitFor('failed', async () => (await queue.list({ jobId: job.id, status: 'failed' })).length === 2);
    await stopSender();
    const [cancelled, queuedEv] = await queue.list({ jobId: job.id });
    assert.equal(queuedEv!.event, 'job.queued');
    assert.equal(cancelled!.event, 'job.cancelled');
    assert.equal(queuedEv!.attempts, 3, 'one try + the 2 retries of the schedule');
    assert.match(queuedEv!.lastError ?? '', /ECONNREFUSED/);

    const rx = await receiver(0, port);
    try {
      startSender([20, 20]);
      await queue.resend(queuedEv!.id);
      await waitFor('re-sent', async () => (await queue.get(queuedEv!.id)).status === 'delivered');
      await stopSender();
      assert.equal(rx.got.length, 1);
      assert.equal(JSON.parse(rx.got[0]!.body).type, 'job.queued');
      assert.equal(rx.got[0]!.headers['vidmesh-signature'], undefined, 'no secret: unsigned');
      assert.equal((await queue.get(cancelled!.id)).status, 'failed', 'only the re-sent one moved');
    } finally {
      await close(rx.server);
    }
  });

  test('tenant subscriptions get their events; a dead job is job.failed with dead: true', async () => {
    const rx = await receiver(0);
    const tenant = `tenant-${tag}`;
    try {
      const sub = await queue.createSubscription({
        tenant,
        url: rx.url,
        events: ['job.failed'],
        secret: SECRET,
      });
      assert.deepEqual(
        (await queue.listSubscriptions(tenant)).map((s) => s.id),
        [sub.id],
      );
      const job = await store.submit({
        spec: { source: { type: 'url', url: 'https://example.com/a.mp4' } },
        renditions: ['360p'],
        tenant,
        requirements: { tags: [tag] },
      });
      const claim = await store.claim(enc, caps);
      assert.ok(claim);
      await store.fail(
        job.id,
        claim.leaseToken,
        enc.id,
        { message: 'corrupt input', code: 'probe_failed' },
        { retryable: false },
      );
      startSender([20]);
      await waitFor('delivered', async () => rx.got.length === 1);
      const body = JSON.parse(rx.got[0]!.body) as { type: string; data: Record<string, unknown> };
      verifyWebhookSignature(SECRET, rx.got[0]!.headers['vidmesh-signature'] as string, rx.got[0]!.body);
      assert.equal(body.type, 'job.failed');
      assert.equal(body.data.dead, true);
      assert.equal(body.data.retryable, false);
      assert.deepEqual(body.data.error, { message: 'corrupt input', code: 'probe_failed' });
      await queue.deleteSubscription(sub.id);
      assert.deepEqual(await queue.listSubscriptions(tenant), []);
    } finally {
      await stopSender();
      await close(rx.server);
    }
  });

  /** A job whose deliveries stay queued (nothing sends them): the tests read the queue directly. */
  const submitQueued = (renditions: string[]) =>
    store.submit({
      spec: {
        source: { type: 'url', url: 'https://example.com/a.mp4' },
        webhook: { url: 'http://rx.test/h' },
      },
      renditions,
      requirements: { tags: [tag] },
    });

  test('a per-rendition retry announces rendition.completed only for the renditions it encoded', async () => {
    const job = await submitQueued(['720p', '360p']);
    const rendition = (name: string, height: number) => ({
      name,
      height,
      bandwidth: height * 3000,
      averageBandwidth: height * 2500,
      codecs: 'avc1.64001f,mp4a.40.2',
      playlist: `${name}/index.m3u8`,
    });
    const finish = async (encoded: string[]) => {
      const claim = await store.claim(enc, caps);
      assert.equal(claim?.job.id, job.id);
      const renditions = [rendition('720p', 720), rendition('360p', 360)];
      await store.complete(job.id, claim.leaseToken, enc.id, {
        result: {
          masterUrl: '/media/x/master.m3u8',
          renditions,
          publish: {},
          encode: { backend: 'libx264', fallbacks: [], wallS: 1, speed: 2, renditions: encoded },
        },
        renditions: renditions.map((r) => ({ name: r.name, result: r })),
      });
    };
    await finish(['720p', '360p']);
    await store.retry(job.id, { renditions: ['360p'] });
    await finish(['360p']);
    const announced = (await queue.list({ jobId: job.id }))
      .filter((d) => d.event === 'rendition.completed')
      .map((d) => (d.payload.rendition as { name: string }).name)
      .sort();
    assert.deepEqual(announced, ['360p', '360p', '720p']);
  });

  test('skipped renditions show in progress payloads and in job.completed (bug 5)', async () => {
    const job = await submitQueued(['1080p', '720p']);
    const claim = await store.claim(enc, caps);
    assert.equal(claim?.job.id, job.id);
    await store.renew(job.id, claim.leaseToken, enc.id, {
      stage: 'encoding',
      progress: 10,
      renditions: [
        { name: '1080p', status: 'skipped', progress: 0 },
        { name: '720p', status: 'running', progress: 10 },
      ],
    });
    await store.complete(job.id, claim.leaseToken, enc.id, {
      result: { masterUrl: '/media/x/master.m3u8', renditions: [{ name: '720p' }] },
      renditions: [{ name: '720p' }],
    });
    const bodies = (await queue.list({ jobId: job.id })).reverse().map(
      (d) =>
        JSON.parse(webhookBody(d, 'http://coordinator.test')) as {
          type: string;
          data: Record<string, unknown>;
        },
    );
    const progress = bodies.find((b) => b.type === 'job.progress');
    assert.deepEqual(progress?.data.renditions, [
      { name: '1080p', status: 'skipped', progress: 0 },
      { name: '720p', status: 'running', progress: 10 },
    ]);
    const done = bodies.find((b) => b.type === 'job.completed');
    assert.ok(done);
    assert.deepEqual(done.data.skipped, ['1080p']);
    assert.deepEqual(
      (done.data.renditions as Array<{ name: string }>).map((r) => r.name),
      ['720p'],
    );
  });

  test('URLs of private addresses are refused by the SSRF guard', async () => {
    const job = await store.submit({
      spec: {
        source: { type: 'url', url: 'https://example.com/a.mp4' },
        webhook: { url: 'http://169.254.169.254/latest', events: ['job.queued'] },
      },
      renditions: ['360p'],
      requirements: { tags: ['never-claimed'] },
    });
    startSender([20]);
    await waitFor('failed', async () => (await queue.list({ jobId: job.id, status: 'failed' })).length === 1);
    await stopSender();
    const [d] = await queue.list({ jobId: job.id });
    assert.equal(d!.lastStatusCode, null);
    assert.match(d!.lastError ?? '', /169\.254\.169\.254|not allowed|blocked|forbidden/i);
  });
});

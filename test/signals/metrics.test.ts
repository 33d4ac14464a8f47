// Metrics and webhooks through the real stack: `startCoordinator` (what `vidmesh serve` runs, on
// PostgreSQL), an encoder node on the direct transport with its own metrics endpoint, a real 2 s clip
// encoded by ffmpeg. /metrics of both parse with a Prometheus text-format parser and the counters move.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig, storageContextFor } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { createDbTransport, type EncoderNode, startEncoderNode } from '../../src/encoder/index.js';
import { createEncoderMetrics, startMetricsServer } from '../../src/encoder/metrics.js';
import { verifyWebhookSignature } from '../../src/identity/index.js';
import { packageRoot } from '../../src/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { makeClip } from '../helpers/media.js';
import { parseMetrics } from './prom.js';

/** Runs the vidmesh CLI: the compiled one beside this compiled test, else the sources through tsx. */
async function cli(args: string[]): Promise<string> {
  const here = fileURLToPath(import.meta.url);
  const argv = here.includes('/dist/')
    ? [join(here, '..', '..', '..', 'src', 'cli', 'main.js')]
    : ['--import', 'tsx', join(here, '..', '..', '..', 'src', 'cli', 'main.ts')];
  const { stdout } = await promisify(execFile)(process.execPath, [...argv, ...args], {
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });
  return stdout;
}

const JOB_SECRET = 'whsec_metrics_test_0123456789';

describe('metrics and webhooks through vidmesh serve', () => {
  let dir: string;
  let server: RunningCoordinator;
  let client: VidmeshClient;
  let node: EncoderNode;
  let encoderMetrics: Awaited<ReturnType<typeof startMetricsServer>>;
  let receiver: Server;
  let database: TestDatabase;
  const received: Array<{ headers: Record<string, unknown>; body: string }> = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-signals-'));
    await makeClip(join(dir, 'clip.mp4'), { seconds: 2 });
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    database = await createTestDatabase();
    const config = loadConfig({
      env: {},
      flags: {
        port: 0,
        dataDir: join(dir, 'data'),
        heartbeatMs: 1000,
        logLevel: 'silent',
        maintenanceMs: 200,
        encoders: 0,
        databaseUrl: database.url,
        ssrfAllow: '127.0.0.1',
      },
    });
    server = await startCoordinator(config);
    client = createClient({ url: server.url, apiKey: server.apiKey });
    // Transition counters count on the maintenance leader only: wait for its advisory lock.
    for (let i = 0; ; i++) {
      const { rows } = await database.db.query(
        // pg_locks is cluster-wide: count only this test database's lock holders.
        `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      if (rows.length > 0) break;
      if (i > 200) throw new Error('the coordinator never became the maintenance leader');
      await new Promise((r) => setTimeout(r, 50));
    }
    const metrics = createEncoderMetrics();
    encoderMetrics = await startMetricsServer(metrics, { port: 0 });
    node = startEncoderNode({
      transport: createDbTransport(server.store),
      dataDir: join(dir, 'data'),
      storage: storageContextFor(config, { publicUrl: server.url }),
      name: `${hostname()}-signals`,
      version: 'test',
      hwaccel: 'none',
      progressIntervalMs: 300,
      heartbeatIntervalMs: 1000,
      onEvent: (e) => metrics.onEvent(e),
    });
    await node.ready;
  });

  after(async () => {
    await node?.stop({ graceful: false });
    await encoderMetrics?.close();
    await server?.stop({ graceMs: 500 });
    await new Promise((r) => receiver?.close(r));
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  // /metrics of the coordinator answers operator keys (and a scrape token), never anonymous requests.
  const scrape = async (url: string, key?: string) => {
    if (key) assert.equal((await fetch(url)).status, 401, 'not public');
    const res = await fetch(url, key ? { headers: { authorization: `Bearer ${key}` } } : {});
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parseMetrics(await res.text());
  };

  test('a job moves the coordinator and encoder metrics; its webhooks arrive signed', async () => {
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const before = await scrape(`${server.url}/metrics`, server.apiKey);
    assert.equal(before.value('vidmesh_jobs_submitted_total'), 0);
    assert.equal(before.type('vidmesh_job_wait_seconds'), 'histogram');
    assert.ok(before.has('vidmesh_process_cpu_user_seconds_total'), 'process metrics');
    assert.equal(before.value('vidmesh_encoders', { kind: 'infrastructure', status: 'online' }), 1);

    // A tenant subscription through the API, for completions only.
    const sub = await fetch(`${server.url}/api/v1/webhooks/subscriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: hookUrl, events: ['job.completed'] }),
    });
    assert.equal(sub.status, 201);
    const { secret: subSecret } = (await sub.json()) as { secret: string };

    const { source } = await client.upload(join(dir, 'clip.mp4'));
    const job = await client.submitJob({
      source,
      ladder: { speed: 'ultrafast', segmentDuration: 1, only: ['480p'] },
      webhook: { url: hookUrl, secret: JOB_SECRET, events: ['job.queued', 'job.completed'] },
    });
    // Live tail of the job log, opened while the job runs; it ends by itself once the job is final.
    const tail = fetch(`${server.url}/api/v1/jobs/${job.id}/logs/stream`, {
      headers: { authorization: `Bearer ${server.apiKey}` },
    }).then((r) => r.text());
    for await (const ev of client.followJob(job.id)) if (ev.type === 'end') break;
    assert.equal((await client.getJob(job.id)).status, 'completed');

    // Webhooks: the job's two events (job secret) and the subscription's completion (its own secret).
    const deadline = Date.now() + 15_000;
    while (received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(received.length, 3, JSON.stringify(received.map((r) => r.body)));
    const bySecret = (secret: string) =>
      received.filter((r) => {
        try {
          verifyWebhookSignature(secret, r.headers['vidmesh-signature'] as string, r.body);
          return true;
        } catch {
          return false;
        }
      });
    const jobHooks = bySecret(JOB_SECRET).map(
      (r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> },
    );
    assert.deepEqual(
      jobHooks.map((h) => h.type),
      ['job.queued', 'job.completed'],
    );
    const completed = jobHooks[1]!.data;
    assert.equal(completed.masterUrl, `${server.url}/media/${job.id}/master.m3u8`);
    const [r480] = completed.renditions as Array<Record<string, unknown>>;
    assert.equal(r480!.name, '480p');
    assert.equal(r480!.resolution, '854x480');
    assert.ok(Number(r480!.bytes) > 0 && Number(r480!.bitrate) > 0);
    assert.equal(bySecret(subSecret).length, 1);

    // The delivery log through the API. The receiver counts a request before the sender records its
    // answer, so wait for the records rather than read them once.
    type Delivery = { status: string; lastStatusCode: number };
    const readLog = async () => {
      const res = await fetch(`${server.url}/api/v1/webhooks/deliveries?jobId=${job.id}`, {
        headers: { authorization: `Bearer ${server.apiKey}` },
      });
      return ((await res.json()) as { deliveries: Delivery[] }).deliveries;
    };
    const logDeadline = Date.now() + 15_000;
    let deliveries = await readLog();
    while (deliveries.some((d) => d.status === 'pending') && Date.now() < logDeadline) {
      await new Promise((r) => setTimeout(r, 50));
      deliveries = await readLog();
    }
    assert.deepEqual(
      deliveries.map((d) => [d.status, d.lastStatusCode]),
      Array(3).fill(['delivered', 204]),
    );

    const sse = (await tail).split('\n\n').filter((b) => b.startsWith('id:') || b.startsWith('event:'));
    const logEvents = sse
      .filter((b) => b.includes('event: log'))
      .map((b) => JSON.parse(b.split('data: ')[1]!));
    const stored = (await client.jobLogs(job.id, { limit: 5000 })).lines;
    assert.ok(stored.length > 3, 'the pipeline logged its steps');
    assert.deepEqual(
      logEvents.map((l: { seq: number }) => l.seq),
      stored.map((l) => l.seq),
    );
    assert.match(sse.at(-1)!, /event: end\ndata: \{"status":"completed"\}/);

    // The same log and a re-send through the CLI.
    const auth = ['--url', server.url, '--api-key', server.apiKey, '--json'];
    const listed = JSON.parse(await cli(['webhooks', 'deliveries', '--job', job.id, ...auth])) as {
      deliveries: Array<{ id: number; event: string }>;
    };
    assert.deepEqual(listed.deliveries.map((d) => d.event).sort(), [
      'job.completed',
      'job.completed',
      'job.queued',
    ]);
    const queuedId = listed.deliveries.find((d) => d.event === 'job.queued')!.id;
    await cli(['webhooks', 'resend', String(queuedId), ...auth]);
    const resent = Date.now() + 15_000;
    while (received.length < 4 && Date.now() < resent) await new Promise((r) => setTimeout(r, 50));
    assert.equal(received.length, 4);
    assert.equal(
      received[3]!.headers['vidmesh-delivery'],
      `whd_${queuedId}`,
      're-sent with the same delivery id',
    );
    const followed = (await cli(['jobs', 'logs', job.id, '--follow', ...auth])).trim().split('\n');
    assert.deepEqual(
      followed.map((l) => (JSON.parse(l) as { seq: number }).seq),
      stored.map((l) => l.seq),
    );
    const shown = JSON.parse(await cli(['webhooks', 'show', String(queuedId), ...auth])) as {
      attempts: unknown[];
    };
    assert.equal(shown.attempts.length, 2);

    const m = await scrape(`${server.url}/metrics`, server.apiKey);
    assert.equal(m.value('vidmesh_jobs_submitted_total'), 1);
    assert.equal(m.value('vidmesh_jobs_finished_total', { status: 'completed' }), 1);
    assert.equal(m.value('vidmesh_jobs', { status: 'completed' }), 1);
    assert.equal(m.value('vidmesh_job_wait_seconds'), 1, 'one wait observation');
    assert.equal(m.value('vidmesh_job_duration_seconds', { status: 'completed' }), 1);
    assert.equal(m.value('vidmesh_encode_speed_ratio', { rendition: '480p', hwaccel: 'libx264' }), 1);
    assert.equal(m.value('vidmesh_webhook_attempts_total', { outcome: 'delivered' }), 4);
    assert.equal(m.value('vidmesh_webhook_deliveries', { status: 'delivered' }), 3);
    assert.ok(
      m.value('vidmesh_http_requests_total', { method: 'POST', route: '/api/v1/jobs', status_code: '202' }) >=
        1,
    );
    assert.ok(m.value('vidmesh_http_request_duration_seconds', { route: '/api/v1/uploads' }) >= 1);
    assert.equal(m.value('vidmesh_queue_depth'), 0);

    const e = await scrape(encoderMetrics.url);
    assert.equal(e.value('vidmesh_encoder_jobs_claimed_total'), 1);
    assert.equal(e.value('vidmesh_encoder_jobs_total', { outcome: 'completed' }), 1);
    assert.equal(e.value('vidmesh_encoder_active_jobs'), 0);
    assert.equal(e.value('vidmesh_encoder_stage_duration_seconds', { stage: 'encoding' }), 1);
    assert.equal(e.value('vidmesh_encoder_encode_speed_ratio', { rendition: '480p' }), 1);
    assert.ok(e.has('vidmesh_encoder_process_resident_memory_bytes'));

    // The Grafana dashboard and the alert rules name only metrics that exist.
    const deployDir = join(packageRoot(), 'deploy');
    for (const file of ['grafana-dashboard.json', 'prometheus-alerts.yml']) {
      const text = await readFile(join(deployDir, file), 'utf8');
      // Wildcards in comments (`vidmesh_queue_*`) are skipped.
      for (const name of new Set(text.match(/\bvidmesh_[a-z0-9_]+(?![a-z0-9_*])/g) ?? [])) {
        const family = name.replace(/_(bucket|sum|count)$/, '');
        assert.ok(m.has(family) || e.has(family), `${file} names ${name}, which neither endpoint exports`);
      }
    }
  });
});

test('the strict exposition parser refuses malformed text', () => {
  const ok =
    '# TYPE a_total counter\na_total{x="1"} 3\n# TYPE h histogram\nh_bucket{le="1",s="x"} 1\nh_bucket{le="+Inf",s="x"} 2\nh_sum{s="x"} 3\nh_count{s="x"} 2\n';
  const m = parseMetrics(ok);
  assert.equal(m.value('a_total'), 3);
  assert.equal(m.value('h', { s: 'x' }), 2);
  for (const bad of [
    'a_total 3\n', // no TYPE
    '# TYPE a counter\na{x="1} 3\n', // unterminated label
    '# TYPE a counter\na 3\na 4\n', // repeated sample
    '# TYPE a counter\na three\n',
    '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3\n', // +Inf != count
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n', // decreasing
  ]) {
    assert.throws(() => parseMetrics(bad), Error, bad);
  }
});

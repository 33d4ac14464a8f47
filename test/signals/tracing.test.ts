// OpenTelemetry through the real stack: `startCoordinator` (what `vidmesh serve` runs, on PGlite) with
// one in-process encoder and OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP/HTTP receiver in this
// test; a real 2 s clip is encoded by ffmpeg. The receiver must get the API request, job-store and
// encoder-stage spans of the job, all in one trace.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { currentTraceparent, initTracing, spanFromTraceparent, withSpan } from '../../src/tracing.js';
import { makeClip } from '../helpers/media.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  // The SDK's JSON encoding writes int64 attribute values as JSON numbers (the OTLP spec allows both).
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
  status: { code: number };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : String(v.intValue));
};

describe('OpenTelemetry traces through vidmesh serve', () => {
  let dir: string;
  let server: RunningCoordinator | undefined;
  let client: VidmeshClient;
  let receiver: Server;
  const posts: Array<{ path: string; contentType: string; body: unknown }> = [];
  const spans = () =>
    posts.flatMap((p) =>
      (
        p.body as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
        }
      ).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)),
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-tracing-'));
    await makeClip(join(dir, 'clip.mp4'), { seconds: 2 });
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posts.push({
          path: req.url ?? '',
          contentType: req.headers['content-type'] ?? '',
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const config = loadConfig({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`,
        OTEL_SERVICE_NAME: 'vidmesh-tracing-test',
      },
      flags: {
        port: 0,
        dataDir: join(dir, 'data'),
        heartbeatMs: 500,
        logLevel: 'silent',
        encoders: 1,
        hwaccel: 'none',
      },
    });
    server = await startCoordinator(config);
    client = createClient({ url: server.url, apiKey: server.apiKey });
  });

  after(async () => {
    await server?.stop({ graceMs: 500 });
    await new Promise((r) => receiver?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  test('one job is one trace: API request, job store and encoder stage spans', async () => {
    const { source } = await client.upload(join(dir, 'clip.mp4'));
    const job = await client.submitJob({
      source,
      ladder: { speed: 'ultrafast', segmentDuration: 1, only: ['480p'] },
    });
    for (let i = 0; ; i++) {
      const { status } = await client.getJob(job.id);
      if (status === 'completed') break;
      assert.ok(!['failed', 'dead', 'cancelled'].includes(status), `job ended ${status}`);
      assert.ok(i < 600, 'job did not complete in 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    // stop() flushes what the exporter still holds.
    await server?.stop({ graceMs: 500 });
    server = undefined;

    assert.ok(posts.length > 0, 'the receiver got OTLP posts');
    for (const p of posts) {
      assert.equal(p.path, '/v1/traces');
      assert.equal(p.contentType, 'application/json');
      const resource = (
        p.body as { resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] } }> }
      ).resourceSpans[0]!.resource;
      assert.deepEqual(resource.attributes.find((a) => a.key === 'service.name')?.value, {
        stringValue: 'vidmesh-tracing-test',
      });
    }
    const all = spans();
    const submit = all.find((s) => s.name === 'job.submit' && attr(s, 'vidmesh.job.id') === job.id);
    assert.ok(submit, `a job.submit span for the job among ${all.map((s) => s.name).join(', ')}`);
    const trace = all.filter((s) => s.traceId === submit.traceId);
    const byName = (name: string) => trace.filter((s) => s.name === name);
    const one = (name: string) => {
      const found = byName(name);
      assert.equal(found.length, 1, `one ${name} span in the job's trace, got ${found.length}`);
      return found[0]!;
    };

    // API request span (SERVER) is the root; the store's submit span is its child.
    const request = one('POST /api/v1/jobs');
    assert.equal(request.kind, 2);
    assert.equal(request.parentSpanId, undefined);
    assert.equal(attr(request, 'http.response.status_code'), '202');
    assert.equal(submit.parentSpanId, request.spanId);

    // The claim joined the job's trace; the encoder's job span continues from the submit span.
    const claim = one('job.claim');
    assert.equal(claim.parentSpanId, submit.spanId);
    const encoderJob = one('encoder.job');
    assert.equal(encoderJob.parentSpanId, submit.spanId);
    for (const stage of ['encoder.download', 'encoder.probe', 'encoder.encode', 'encoder.publish']) {
      assert.equal(one(stage).parentSpanId, encoderJob.spanId, stage);
    }
    const reported = one('encoder.complete');
    assert.equal(one('job.complete').parentSpanId, reported.spanId);
    assert.ok(byName('job.renew').length >= 1, 'lease renewals are traced');
    for (const s of byName('job.renew')) assert.equal(attr(s, 'vidmesh.job.id'), job.id);

    // Stage order and well-formed ids and times.
    const start = (n: string) => BigInt(one(n).startTimeUnixNano);
    assert.ok(start('encoder.download') < start('encoder.probe'));
    assert.ok(start('encoder.probe') < start('encoder.encode'));
    assert.ok(start('encoder.encode') < start('encoder.publish'));
    for (const s of trace) {
      assert.match(s.traceId, /^[0-9a-f]{32}$/);
      assert.match(s.spanId, /^[0-9a-f]{16}$/);
      assert.match(s.startTimeUnixNano, /^\d{19}$/);
      assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), s.name);
      assert.notEqual(s.status.code, 2, `${s.name} failed`);
    }
    // The encode span is about as long as ffmpeg ran: more than a millisecond, less than the test.
    const encode = one('encoder.encode');
    const encodeMs = Number(BigInt(encode.endTimeUnixNano) - BigInt(encode.startTimeUnixNano)) / 1e6;
    assert.ok(encodeMs > 1 && encodeMs < 60_000, `encode span ${encodeMs} ms`);
  });
});

describe('tracing off and trace context', () => {
  test('without an endpoint nothing is traced and callbacks run unchanged', async () => {
    const tracing = await initTracing({});
    assert.equal(tracing.enabled, false);
    const seen = await withSpan('x', {}, (span) => {
      assert.equal(currentTraceparent(), undefined);
      return span.traceparent();
    });
    assert.equal(seen, '');
    await assert.rejects(
      spanFromTraceparent(undefined, 'y', {}, () => {
        throw new Error('boom');
      }),
      /boom/,
    );
  });

  test('a valid traceparent continues its trace; malformed and all-zero ones fall back to the current span', async () => {
    // A receiver that accepts and ignores: the spans themselves are what is checked here.
    const sink = createServer((req, res) => req.resume().on('end', () => res.end('{}')));
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const tracing = await initTracing({
      endpoint: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
      flushIntervalMs: 60_000,
    });
    try {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const tp = `00-${traceId}-00f067aa0ba902b7-01`;
      await spanFromTraceparent(tp, 'continued', {}, (span) => {
        assert.equal(span.traceId, traceId);
        assert.match(currentTraceparent() ?? '', new RegExp(`^00-${traceId}-${span.spanId}-01$`));
      });
      // An unsampled parent is honoured: the child is not sampled either.
      await spanFromTraceparent(tp.replace(/-01$/, '-00'), 'unsampled', {}, () => {
        assert.match(currentTraceparent() ?? '', /-00$/);
      });
      await withSpan('outer', {}, async (outer) => {
        for (const bad of [
          `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
          `00-${traceId}-${'0'.repeat(16)}-01`,
          `00-${traceId}-00f067aa0ba902b7`,
          'garbage',
        ]) {
          await spanFromTraceparent(bad, 'fallback', {}, (span) => {
            assert.equal(span.traceId, outer.traceId, bad);
            assert.notEqual(span.spanId, outer.spanId);
          });
        }
      });
    } finally {
      await tracing.shutdown();
      await new Promise((r) => sink.close(r));
    }
    assert.equal(currentTraceparent(), undefined, 'off again after shutdown');
  });
});

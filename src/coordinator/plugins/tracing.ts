import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { JobStore } from '../../jobs/index.js';
import { runInSpan, type Span, startSpan, tracingEnabled, withSpan } from '../../tracing.js';

/**
 * OpenTelemetry spans of the coordinator (src/tracing.ts): one SERVER span per API request and one span
 * per job-store state change. Both are no-ops unless tracing was started (`OTEL_EXPORTER_OTLP_ENDPOINT`).
 */

const spans = new WeakMap<FastifyRequest, Span>();

/**
 * Adds a span per request, named `<METHOD> <route>` (HTTP semantic conventions), continuing an incoming
 * W3C `traceparent` header (remote encoders send theirs). Must be registered before the route plugins.
 * When tracing is off at start-up no hook is added at all.
 */
export function registerTracing(app: FastifyInstance): void {
  if (!tracingEnabled()) return;
  // Callback-style hook: `done` runs the rest of the request inside the span's async context.
  app.addHook('onRequest', (req, _reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const header = req.headers.traceparent;
    const span = startSpan(
      `${req.method} ${route}`,
      { 'http.request.method': req.method, 'http.route': route },
      { kind: 'server', parent: typeof header === 'string' ? header : undefined },
    );
    spans.set(req, span);
    runInSpan(span, done);
  });
  app.addHook('onResponse', async (req, reply) => {
    const span = spans.get(req);
    if (!span) return;
    span.setAttributes({ 'http.response.status_code': reply.statusCode });
    if (reply.statusCode >= 500) span.recordError({ code: `http_${reply.statusCode}` });
    span.end();
  });
}

/**
 * The job store with a span around each state change (submit, claim, renew, complete, fail, release).
 * `submit` stores the submit span's traceparent with the job, so the job's trace starts there; a claim
 * span is moved into the trace of the job it returns. Off: the store itself, unwrapped.
 */
export function traceJobStore(store: JobStore): JobStore {
  if (!tracingEnabled()) return store;
  return {
    ...store,
    submit: (input, options) =>
      withSpan('job.submit', { 'vidmesh.job.renditions': input.renditions.length }, async (span) => {
        const job = await store.submit(
          { ...input, traceparent: input.traceparent ?? span.traceparent() },
          options,
        );
        span.setAttributes({ 'vidmesh.job.id': job.id });
        return job;
      }),
    // The claim's job (and so its trace) is known only when the claim returns, and an SDK span cannot
    // change trace after it started: the span is created afterwards with the claim's start time.
    claim: async (encoder, caps, options) => {
      const startTime = performance.timeOrigin + performance.now();
      let claim: Awaited<ReturnType<JobStore['claim']>> | undefined;
      let failure: unknown;
      try {
        claim = await store.claim(encoder, caps, options);
        return claim;
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        const span = startSpan(
          'job.claim',
          {
            'vidmesh.encoder.id': encoder.id,
            'vidmesh.job.id': claim?.job.id,
            'vidmesh.job.attempt': claim?.attempt,
          },
          { parent: claim?.job.traceparent ?? undefined, startTime },
        );
        if (failure !== undefined) span.recordError(failure);
        span.end();
      }
    },
    renew: (jobId, token, encoderId, progress, options) =>
      withSpan('job.renew', { 'vidmesh.job.id': jobId, 'vidmesh.job.stage': progress?.stage }, () =>
        store.renew(jobId, token, encoderId, progress, options),
      ),
    complete: (jobId, token, encoderId, input) =>
      withSpan('job.complete', { 'vidmesh.job.id': jobId }, () =>
        store.complete(jobId, token, encoderId, input),
      ),
    fail: (jobId, token, encoderId, error, options) =>
      withSpan('job.fail', { 'vidmesh.job.id': jobId, 'vidmesh.error.code': error.code }, () =>
        store.fail(jobId, token, encoderId, error, options),
      ),
    release: (jobId, token, encoderId, reason) =>
      withSpan('job.release', { 'vidmesh.job.id': jobId }, () =>
        store.release(jobId, token, encoderId, reason),
      ),
  };
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EncoderNodeEvent } from './node.js';

/**
 * An encoder node's Prometheus metrics (prom-client), fed from the node's `onEvent` observer:
 * `vidmesh_encoder_jobs_claimed_total`, `vidmesh_encoder_jobs_total{outcome}` (completed, failed,
 * aborted, released), `vidmesh_encoder_active_jobs`, `vidmesh_encoder_stage_duration_seconds{stage}`,
 * `vidmesh_encoder_job_duration_seconds`, `vidmesh_encoder_encode_speed_ratio{rendition,hwaccel}`
 * (media seconds per wall second), and the process metrics (`vidmesh_encoder_process_…`).
 */
export interface EncoderMetrics {
  readonly registry: Registry;
  /** Pass as (or call from) the node's `onEvent`. */
  onEvent(event: EncoderNodeEvent): void;
  render(): Promise<{ contentType: string; body: string }>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function createEncoderMetrics(
  options: { processMetrics?: boolean; now?: () => number } = {},
): EncoderMetrics {
  const now = options.now ?? (() => performance.now());
  const registry = new Registry();
  if (options.processMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: 'vidmesh_encoder_' });
  const claimed = new Counter({
    name: 'vidmesh_encoder_jobs_claimed_total',
    help: 'Jobs this encoder claimed',
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'vidmesh_encoder_jobs_total',
    help: 'Jobs this encoder finished, by outcome (completed, failed, aborted, released)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of ['completed', 'failed', 'aborted', 'released']) outcomes.inc({ outcome }, 0);
  const active = new Gauge({
    name: 'vidmesh_encoder_active_jobs',
    help: 'Jobs running on this encoder now',
    registers: [registry],
  });
  const stageSeconds = new Histogram({
    name: 'vidmesh_encoder_stage_duration_seconds',
    help: 'Time spent per pipeline stage (downloading, encoding, uploading), seconds',
    labelNames: ['stage'],
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  const jobSeconds = new Histogram({
    name: 'vidmesh_encoder_job_duration_seconds',
    help: 'Time from claim to completion report, seconds',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const speed = new Histogram({
    name: 'vidmesh_encoder_encode_speed_ratio',
    help: 'Encode speed as a multiple of realtime per rendition and backend',
    labelNames: ['rendition', 'hwaccel'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
    registers: [registry],
  });

  // Per running job: claim time and the current stage with its start.
  const running = new Map<string, { claimedAt: number; stage?: string; stageAt: number }>();
  const endStage = (jobId: string) => {
    const r = running.get(jobId);
    if (r?.stage) stageSeconds.observe({ stage: r.stage }, (now() - r.stageAt) / 1000);
    return r;
  };
  const end = (jobId: string, outcome: string) => {
    const r = endStage(jobId);
    if (r) {
      running.delete(jobId);
      active.set(running.size);
      if (outcome === 'completed') jobSeconds.observe((now() - r.claimedAt) / 1000);
    }
    outcomes.inc({ outcome });
  };

  return {
    registry,
    onEvent(event) {
      switch (event.type) {
        case 'job-claimed':
          claimed.inc();
          running.set(event.jobId, { claimedAt: now(), stageAt: now() });
          active.set(running.size);
          return;
        case 'job-stage': {
          const r = endStage(event.jobId);
          if (r) {
            r.stage = event.stage;
            r.stageAt = now();
          }
          return;
        }
        case 'job-completed': {
          end(event.jobId, 'completed');
          const result = event.result;
          if (result && Number.isFinite(result.encode.speed)) {
            for (const rend of result.renditions.filter(isObj)) {
              speed.observe(
                { rendition: String(rend.name ?? 'unknown'), hwaccel: result.encode.backend },
                result.encode.speed,
              );
            }
          }
          return;
        }
        case 'result-cached': {
          // Published: the upload stage is over even if the report is still retrying.
          const r = endStage(event.jobId);
          if (r) r.stage = undefined;
          return;
        }
        case 'job-failed':
          end(event.jobId, 'failed');
          return;
        case 'job-aborted':
          end(event.jobId, 'aborted');
          return;
        case 'job-released':
          end(event.jobId, 'released');
          return;
        case 'registered':
        case 'result-reported':
          return;
        default: {
          const never: never = event;
          return never;
        }
      }
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/**
 * A tiny HTTP server for `vidmesh encoder --metrics-port`: `GET /metrics` only (404 otherwise).
 * Listens on `host` (default 127.0.0.1: expose it deliberately) and `port` (0: any free port).
 */
export async function startMetricsServer(
  metrics: Pick<EncoderMetrics, 'render'>,
  options: { port: number; host?: string },
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

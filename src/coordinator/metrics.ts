import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JobChange, JobStore, WebhookQueue } from '../jobs/index.js';
import { ENCODER_KINDS, FINAL_STATUSES, isOneOf, JOB_STATUSES, TRANSITIONS } from '../jobs/index.js';
import type { Logger } from '../log.js';
import type { DeliveryOutcome } from './webhooks/index.js';

/**
 * The coordinator's Prometheus metrics (prom-client; names follow
 * https://prometheus.io/docs/practices/naming/: `_total` counters, `_seconds` durations).
 *
 * Gauges that describe the shared database (jobs by status, queue depth and age, encoders, pending
 * webhooks) are read at scrape time, so every coordinator reports the same values: aggregate them
 * with `max`, not `sum`. Counters and histograms of job transitions are fed from `onJobChange` and
 * counted only while `isLeader()` (one coordinator), so `sum` over instances counts each job once.
 * HTTP and webhook-attempt metrics are per instance.
 */
export interface CoordinatorMetrics {
  readonly registry: Registry;
  /** Subscribes to job changes (call once, after the store is ready). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Records one webhook attempt: outcome and latency in seconds. */
  onWebhookAttempt(outcome: DeliveryOutcome, latencyS: number): void;
  /** Records one HTTP request: route pattern (not the raw URL: bounded labels), status, seconds. */
  observeHttp(method: string, route: string, statusCode: number, seconds: number): void;
  /** The exposition text (Prometheus text format 0.0.4). */
  render(): Promise<{ contentType: string; body: string }>;
}

export interface CoordinatorMetricsOptions {
  store: JobStore;
  webhooks?: Pick<WebhookQueue, 'counts'>;
  /** Transition counters count only while this is true (default: always). */
  isLeader?: () => boolean;
  log?: Logger;
  /** Node.js process metrics (`vidmesh_process_…`, `vidmesh_nodejs_…`), default true. */
  processMetrics?: boolean;
}

const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200];
const SPEED_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Creates the registry and its metrics; pure until `start()` (no I/O before a scrape or start). */
export function createCoordinatorMetrics(options: CoordinatorMetricsOptions): CoordinatorMetrics {
  const { store, log } = options;
  const isLeader = options.isLeader ?? (() => true);
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'vidmesh_' });

  // Scrape-time gauges share one stats read per scrape.
  let stats: Promise<Awaited<ReturnType<JobStore['queueStats']>>> | undefined;
  const readStats = () => {
    stats ??= store.queueStats().finally(() => setTimeout(() => (stats = undefined), 0));
    return stats;
  };
  new Gauge({
    name: 'vidmesh_jobs',
    help: 'Jobs in the database by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const s = await readStats();
      for (const status of JOB_STATUSES) this.set({ status }, s.byStatus[status] ?? 0);
    },
  });
  new Gauge({
    name: 'vidmesh_queue_depth',
    help: 'Jobs waiting to be claimed (queued or failed awaiting retry) per queue and priority',
    labelNames: ['queue', 'priority'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of (await readStats()).depth) this.set({ queue: d.queue, priority: d.priority }, d.count);
    },
  });
  new Gauge({
    name: 'vidmesh_queue_oldest_age_seconds',
    help: 'Age of the oldest waiting job per queue and priority, seconds',
    labelNames: ['queue', 'priority'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of (await readStats()).depth)
        this.set({ queue: d.queue, priority: d.priority }, d.oldestAgeS);
    },
  });
  new Gauge({
    name: 'vidmesh_encoders',
    help: 'Registered encoders by kind and liveness status',
    labelNames: ['kind', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const e of await store.listEncoders()) {
        const k = `${e.kind}|${e.status}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      for (const kind of ENCODER_KINDS) {
        for (const status of ['online', 'offline'])
          this.set({ kind, status }, counts.get(`${kind}|${status}`) ?? 0);
      }
    },
  });
  if (options.webhooks) {
    const q = options.webhooks;
    new Gauge({
      name: 'vidmesh_webhook_deliveries',
      help: 'Webhook deliveries in the queue by status (pending, delivered, failed)',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        const c = await q.counts();
        for (const [status, n] of Object.entries(c)) this.set({ status }, n);
      },
    });
  }

  const submitted = new Counter({
    name: 'vidmesh_jobs_submitted_total',
    help: 'Jobs submitted',
    registers: [registry],
  });
  const finished = new Counter({
    name: 'vidmesh_jobs_finished_total',
    help: 'Jobs that reached a final status (completed, dead, cancelled)',
    labelNames: ['status'],
    registers: [registry],
  });
  const rescued = new Counter({
    name: 'vidmesh_leases_rescued_total',
    help: 'Expired leases rescued by the maintenance sweep (job re-queued or dead-lettered)',
    registers: [registry],
  });
  const retries = new Counter({
    name: 'vidmesh_job_retries_total',
    help: 'Retryable failures scheduled for another attempt, and manual retries',
    labelNames: ['kind'],
    registers: [registry],
  });
  const dead = new Counter({
    name: 'vidmesh_dead_letters_total',
    help: 'Jobs that became dead (attempts exhausted or non-retryable failure)',
    registers: [registry],
  });
  const wait = new Histogram({
    name: 'vidmesh_job_wait_seconds',
    help: 'Time from submit to the first claim, seconds',
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'vidmesh_job_duration_seconds',
    help: 'Time from claim to completion or dead letter, seconds',
    labelNames: ['status'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const speed = new Histogram({
    name: 'vidmesh_encode_speed_ratio',
    help: 'Encode speed as a multiple of realtime (media seconds per wall second) per rendition and backend',
    labelNames: ['rendition', 'hwaccel'],
    buckets: SPEED_BUCKETS,
    registers: [registry],
  });
  const webhookAttempts = new Counter({
    name: 'vidmesh_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome (delivered, retry, failed: schedule spent)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const webhookLatency = new Histogram({
    name: 'vidmesh_webhook_attempt_duration_seconds',
    help: 'Webhook attempt latency, seconds',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: 'vidmesh_http_requests_total',
    help: 'HTTP requests served by route pattern, method and status code',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'vidmesh_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern and method, seconds',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  for (const outcome of ['delivered', 'retry', 'failed']) webhookAttempts.inc({ outcome }, 0);
  for (const status of FINAL_STATUSES) finished.inc({ status }, 0);

  const observeJob = async (change: Extract<JobChange, { type: 'transition' }>) => {
    switch (change.to) {
      case 'queued':
        if (change.from === null) submitted.inc();
        else if (change.actor === 'maintenance') rescued.inc();
        else if (change.from !== null && isOneOf(TRANSITIONS.retry.from, change.from))
          retries.inc({ kind: 'manual' });
        return;
      case 'failed':
        retries.inc({ kind: 'automatic' });
        if (change.actor === 'maintenance') rescued.inc();
        return;
      case 'dead':
        dead.inc();
        finished.inc({ status: 'dead' });
        if (change.actor === 'maintenance') rescued.inc();
        break;
      case 'cancelled':
        finished.inc({ status: 'cancelled' });
        return;
      case 'completed':
        finished.inc({ status: 'completed' });
        break;
      case 'leased':
        break;
      default:
        return;
    }
    const job = await store.get(change.jobId);
    if (change.to === 'leased') {
      if (job.attempts === 1 && job.claimedAt) {
        wait.observe(Math.max(0, (job.claimedAt.getTime() - job.createdAt.getTime()) / 1000));
      }
      return;
    }
    if (job.claimedAt && job.finishedAt) {
      duration.observe(
        { status: change.to },
        Math.max(0, (job.finishedAt.getTime() - job.claimedAt.getTime()) / 1000),
      );
    }
    if (change.to === 'completed' && isObj(job.result)) {
      const r = job.result;
      const encode = isObj(r.encode) ? r.encode : {};
      const backend = typeof encode.backend === 'string' ? encode.backend : 'unknown';
      const x = typeof encode.speed === 'number' && Number.isFinite(encode.speed) ? encode.speed : undefined;
      if (x !== undefined) {
        for (const rend of Array.isArray(r.renditions) ? r.renditions.filter(isObj) : []) {
          speed.observe({ rendition: String(rend.name ?? 'unknown'), hwaccel: backend }, x);
        }
      }
    }
  };

  let unsubscribe: (() => void) | undefined;
  return {
    registry,
    async start() {
      unsubscribe ??= await store.onJobChange((change) => {
        if (change.type !== 'transition' || !isLeader()) return;
        observeJob(change).catch((err) =>
          log?.debug({ err: (err as Error).message, jobId: change.jobId }, 'metrics: job read failed'),
        );
      });
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = undefined;
    },
    onWebhookAttempt(outcome, latencyS) {
      webhookAttempts.inc({ outcome });
      webhookLatency.observe({ outcome }, latencyS);
    },
    observeHttp(method, route, statusCode, seconds) {
      httpRequests.inc({ method, route, status_code: String(statusCode) });
      httpDuration.observe({ method, route }, seconds);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/**
 * Adds `GET /metrics` (public unless `token` is set: then `Authorization: Bearer <token>`) and an
 * `onResponse` hook feeding the HTTP metrics of every route of `app` (labels use the route pattern,
 * `unmatched` for 404s, so label cardinality stays bounded).
 */
export function registerMetricsRoute(
  app: FastifyInstance,
  metrics: CoordinatorMetrics,
  options: { token?: string; authorize?: (req: FastifyRequest) => Promise<boolean> } = {},
): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    metrics.observeHttp(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { config: { scope: 'public' }, schema: { hide: true } }, async (req, reply) => {
    const h = (s: string) => createHash('sha256').update(s).digest();
    const given = req.headers.authorization?.replace(/^Bearer\s+/i, '') ?? '';
    const byToken = options.token !== undefined && timingSafeEqual(h(given), h(options.token));
    const allowed =
      byToken || (options.authorize ? await options.authorize(req) : options.token === undefined);
    if (!allowed) {
      return reply.code(401).header('www-authenticate', 'Bearer').send('unauthorized\n');
    }
    const { contentType, body } = await metrics.render();
    return reply.header('content-type', contentType).send(body);
  });
}

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Job, JobStore } from '../../jobs/index.js';
import type { Principal } from '../plugins/auth.js';
import { jobViewSchema } from '../schemas.js';
import { openEventStream } from '../sse.js';
import { jobView } from '../views.js';

export interface DashboardRouteOptions {
  store: JobStore;
  publicUrl: () => string;
  /** ms between progress pushes of the dashboard stream (default 1000). */
  progressMs?: number;
}

/** Width of one throughput bucket of the overview chart (5 min) and the window it covers (1 h). */
const BUCKET_S = 300;
const WINDOW_S = 3600;

const countSchema = z.record(z.string(), z.number());
const overviewSchema = z.object({
  byStatus: countSchema,
  queues: z.array(
    z.object({ queue: z.string(), priority: z.string(), count: z.number(), oldestAgeS: z.number() }),
  ),
  running: z.number(),
  encoders: z.object({ online: countSchema, offline: countSchema }),
  throughput: z.array(
    z.object({
      /** Bucket start, ISO 8601. */
      at: z.string(),
      completed: z.number(),
      failed: z.number(),
      /** Mean encode speed (x realtime) of the jobs completed in the bucket; null when none. */
      speed: z.number().nullable(),
    }),
  ),
  recentProblems: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      kind: z.enum(['failure', 'rescue']),
      code: z.string(),
      message: z.string(),
      at: z.string(),
    }),
  ),
  generatedAt: z.string(),
});
export type DashboardOverview = z.infer<typeof overviewSchema>;

const speedOf = (job: Job): number | undefined => {
  const r = job.result as { encode?: { speed?: unknown } } | null;
  const s = r?.encode?.speed;
  return typeof s === 'number' && Number.isFinite(s) ? s : undefined;
};

/** A tenant-bound principal sees only its tenant's jobs (the bootstrap admin has none and sees all). */
const visible = (p: Principal | undefined, job: Job) => !p?.tenant || job.tenant === p.tenant;

/** Most jobs counted per status for a tenant key (the store counts globally only). */
export const TENANT_COUNT_CAP = 200;

/**
 * One tenant's jobs per status and waiting jobs per queue/priority with the oldest age (seconds), from
 * its job lists; counts stop at {@link TENANT_COUNT_CAP} per status.
 */
async function tenantStats(store: JobStore, tenant: string) {
  const statuses = ['queued', 'leased', 'running', 'completed', 'failed', 'dead', 'cancelled'] as const;
  const pages = await Promise.all(
    statuses.map((status) => store.list({ status: [status], tenant, limit: TENANT_COUNT_CAP })),
  );
  const byStatus: Record<string, number> = {};
  statuses.forEach((status, i) => {
    byStatus[status] = pages[i].jobs.length;
  });
  const now = Date.now();
  const depth = new Map<string, { queue: string; priority: string; count: number; oldestAgeS: number }>();
  for (const job of [...pages[0].jobs, ...pages[4].jobs]) {
    const key = `${job.queue}/${job.priority}`;
    const d = depth.get(key) ?? { queue: job.queue, priority: job.priority, count: 0, oldestAgeS: 0 };
    d.count++;
    d.oldestAgeS = Math.max(d.oldestAgeS, (now - job.createdAt.getTime()) / 1000);
    depth.set(key, d);
  }
  return { byStatus, queues: [...depth.values()] };
}

/**
 * Routes only the dashboard needs: `GET /dashboard/overview` (one round trip for the Overview page)
 * and `GET /dashboard/stream`, one Server-Sent Events stream per dashboard tab carrying `change`
 * (a job's transition, with its view) and `progress` (views of leased/running jobs whose progress
 * moved), so the Jobs table updates live without polling per row.
 */
export const dashboardRoutes: FastifyPluginAsyncZod<DashboardRouteOptions> = async (app, opts) => {
  const { store } = opts;

  app.get(
    '/dashboard/overview',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'dashboardOverview',
        summary:
          'Jobs per status, queue depth and age, encoders by kind, last-hour throughput, recent problems',
        tags: ['dashboard'],
        response: { 200: overviewSchema },
      },
    },
    async (req) => {
      const tenant = req.principal?.tenant;
      const [stats, encoders, finished, recent] = await Promise.all([
        store.queueStats(),
        store.listEncoders(),
        store.list({ status: ['completed', 'dead', 'failed'], limit: 200, tenant }),
        store.list({ limit: 100, tenant }),
      ]);
      const online: Record<string, number> = {};
      const offline: Record<string, number> = {};
      for (const e of encoders) {
        const into = e.status === 'online' ? online : offline;
        into[e.kind] = (into[e.kind] ?? 0) + 1;
      }
      const now = Date.now();
      const start = Math.floor((now / 1000 - WINDOW_S) / BUCKET_S) * BUCKET_S + BUCKET_S;
      const buckets = Array.from({ length: WINDOW_S / BUCKET_S }, (_, i) => ({
        at: new Date((start + i * BUCKET_S) * 1000).toISOString(),
        completed: 0,
        failed: 0,
        speeds: [] as number[],
      }));
      for (const job of finished.jobs) {
        const t = (job.finishedAt ?? job.updatedAt).getTime() / 1000;
        const i = Math.floor((t - start) / BUCKET_S);
        if (i < 0 || i >= buckets.length) continue;
        if (job.status === 'completed') {
          buckets[i].completed++;
          const s = speedOf(job);
          if (s !== undefined) buckets[i].speeds.push(s);
        } else buckets[i].failed++;
      }
      const problems = recent.jobs
        .filter(
          (j) =>
            j.lastError &&
            (j.status === 'failed' || j.status === 'dead' || j.lastError.code === 'lease_expired'),
        )
        .slice(0, 10)
        .map((j) => ({
          id: j.id,
          status: j.status,
          kind: j.lastError?.code === 'lease_expired' ? ('rescue' as const) : ('failure' as const),
          code: j.lastError?.code ?? 'error',
          message: j.lastError?.message ?? '',
          at: j.updatedAt.toISOString(),
        }));
      const own = tenant ? await tenantStats(store, tenant) : undefined;
      return {
        // Queue stats are global: a tenant key gets its own counts from its job lists instead.
        byStatus: own ? own.byStatus : stats.byStatus,
        queues: own ? own.queues : stats.depth,
        running: own ? (own.byStatus.running ?? 0) : stats.running,
        encoders: { online, offline },
        throughput: buckets.map((b) => ({
          at: b.at,
          completed: b.completed,
          failed: b.failed,
          speed: b.speeds.length ? b.speeds.reduce((a, x) => a + x, 0) / b.speeds.length : null,
        })),
        recentProblems: problems,
        generatedAt: new Date(now).toISOString(),
      };
    },
  );

  app.get(
    '/dashboard/stream',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'dashboardStream',
        summary: 'Server-Sent Events: `change` on every job transition, `progress` for active jobs',
        tags: ['dashboard'],
      },
    },
    async (req, reply) => {
      const stream = openEventStream(req, reply, { keepAliveMs: 15_000 });
      const send = stream.send;
      const view = (job: Job) => jobViewSchema.parse(jobView(job, opts.publicUrl()));
      const lastKey = new Map<string, string>();
      const keyOf = (j: Job) => `${j.status}|${j.stage}|${j.progress.toFixed(1)}`;
      let chain = Promise.resolve();
      const enqueue = (fn: () => Promise<void>) => {
        chain = chain.then(fn).catch((err) => req.log.warn({ err }, 'dashboard stream update failed'));
      };
      const tick = async () => {
        const page = await store.list({
          status: ['leased', 'running'],
          limit: 100,
          tenant: req.principal?.tenant,
        });
        for (const job of page.jobs) {
          const key = keyOf(job);
          if (lastKey.get(job.id) === key) continue;
          lastKey.set(job.id, key);
          send('progress', { job: view(job) });
        }
      };
      const unsubscribe = await store.onJobChange((change) => {
        if (change.type === 'resync') {
          enqueue(async () => send('resync', {}));
          return;
        }
        enqueue(async () => {
          const job = await store.get(change.jobId);
          if (!visible(req.principal, job)) return;
          lastKey.set(job.id, keyOf(job));
          send('change', { from: change.from, to: change.to, job: view(job) });
        });
      });
      const timer = setInterval(() => enqueue(tick), opts.progressMs ?? 1000);
      stream.onClose(() => {
        clearInterval(timer);
        unsubscribe();
      });
      send('ready', {});
    },
  );
};

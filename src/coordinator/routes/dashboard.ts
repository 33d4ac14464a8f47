import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Encoder, JOB_STATUSES, type Job, type JobStore, type LogLine } from '../../jobs/index.js';
import { parseCompletionResult } from '../../protocol/result.js';
import type { Reputation } from '../../trust/index.js';
import type { Principal } from '../plugins/auth.js';
import { encoderViewSchema, jobViewSchema } from '../schemas.js';
import { openEventStream } from '../sse.js';
import { encoderView, encoderVisibleTo, jobView } from '../views.js';
import { visibleJob } from './jobs.js';

export interface DashboardRouteOptions {
  store: JobStore;
  publicUrl: () => string;
  /** Base URL of published media (`<public or media origin>/media`); default `<publicUrl>/media`. */
  mediaBase?: () => string;
  /** ms between progress pushes of the dashboard stream (default 1000). */
  progressMs?: number;
  /** Reputation of verified encoders, by encoder id (docs/verification.md). */
  reputation?: () => Promise<Map<string, Reputation>>;
}

/**
 * History windows of the overview chart: the span covered and the width of one bucket, seconds
 * (1 h in 5 min buckets, 24 h in 1 h buckets, 7 d in 6 h buckets).
 */
const WINDOWS = {
  '1h': { spanS: 3600, bucketS: 300 },
  '24h': { spanS: 86_400, bucketS: 3600 },
  '7d': { spanS: 604_800, bucketS: 21_600 },
} as const;
type HistoryWindow = keyof typeof WINDOWS;
/** Pages of 200 finished jobs read at most for one history (so at most 2000 jobs are counted). */
const HISTORY_PAGES = 10;

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
      /** Mean seconds the bucket's completed jobs waited from submit to their last claim; null when none. */
      waitS: z.number().nullable(),
      /** Mean ffmpeg wall seconds of the bucket's completed jobs; null when none reported it. */
      encodeS: z.number().nullable(),
    }),
  ),
  /** The history window the throughput covers, and its bucket width in seconds. */
  window: z.enum(['1h', '24h', '7d']),
  bucketS: z.number(),
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

/** A finite number field of the completed job's `result.encode` (`speed`, `wallS`). */
const encodeFact = (job: Job, key: 'speed' | 'wallS'): number | undefined => {
  const v = parseCompletionResult(job.result)?.encode?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};
const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : null);

/** Encoders per status and kind: `{online: {kind: n}, offline: {kind: n}}`. */
function countEncoders(encoders: Encoder[]) {
  const online: Record<string, number> = {};
  const offline: Record<string, number> = {};
  for (const e of encoders) {
    const into = e.status === 'online' ? online : offline;
    into[e.kind] = (into[e.kind] ?? 0) + 1;
  }
  return { online, offline };
}

/**
 * Finished jobs (completed, failed, dead) created since `sinceMs`, newest first, at most
 * {@link HISTORY_PAGES} pages of 200: the list is ordered by creation, so a job created before the
 * window but finished inside it is counted only when it is among the pages read.
 */
async function finishedSince(store: JobStore, sinceMs: number, tenant: string | undefined) {
  const jobs: Job[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < HISTORY_PAGES; i++) {
    const page = await store.list({ status: ['completed', 'dead', 'failed'], limit: 200, tenant, cursor });
    jobs.push(...page.jobs);
    const last = page.jobs.at(-1);
    // A job created an hour before the window may still have finished inside it: read one more page.
    if (!page.nextCursor || !last || last.createdAt.getTime() < sinceMs - 3_600_000) break;
    cursor = page.nextCursor;
  }
  return jobs;
}

/**
 * What the encoder pipeline logs about a source (the `[vidmesh] probed: …` step line of
 * src/encoder/pipeline.ts): `<container>, <duration> s, <codec> <w>x<h> @ <fps> fps` or `…, audio only`.
 * The container name may itself hold commas (`mov,mp4,m4a,3gp,3g2,mj2`), hence the greedy first group.
 */
const PROBED =
  /^\[vidmesh\] probed: (.+), (\d+(?:\.\d+)?) s(?:, (\S+) (\d+)x(\d+) @ (\d+(?:\.\d+)?) fps|, audio only)$/;
/** The pipeline's `plan:` line is logged just before the encoding stage starts. */
const PLANNED = /^\[vidmesh\] plan: /;

const sourceFactsSchema = z.object({
  container: z.string(),
  durationS: z.number(),
  /** Video stream facts; absent for audio-only sources. */
  video: z.object({ codec: z.string(), width: z.number(), height: z.number(), fps: z.number() }).optional(),
});
type SourceFacts = z.infer<typeof sourceFactsSchema>;

/**
 * The source facts and the encoding start time of the newest attempt found in `lines` (only lines at or
 * after `since`, the attempt's claim, when given).
 */
export function readPipelineLog(
  lines: LogLine[],
  since?: Date,
): { source: SourceFacts | null; encodingSince: Date | null } {
  let source: SourceFacts | null = null;
  let encodingSince: Date | null = null;
  for (const l of lines) {
    if (since && l.at < since) continue;
    const m = PROBED.exec(l.line);
    if (m) {
      source = {
        container: m[1],
        durationS: Number(m[2]),
        ...(m[3]
          ? { video: { codec: m[3], width: Number(m[4]), height: Number(m[5]), fps: Number(m[6]) } }
          : {}),
      };
    } else if (PLANNED.test(l.line)) encodingSince = l.at;
  }
  return { source, encodingSince };
}

const liveJobSchema = z.object({
  id: z.string(),
  status: z.string(),
  stage: z.string().nullable(),
  /** Percent of the current stage. */
  progress: z.number(),
  /**
   * Mean × realtime of the encode so far: source seconds encoded (progress × duration) over wall seconds
   * since encoding began. Null outside the encoding stage or when the source duration is not known yet.
   */
  speed: z.number().nullable(),
  /** `speed` × the source frame rate, frames per second; null when either is unknown. */
  fps: z.number().nullable(),
  source: sourceFactsSchema.nullable(),
});

const fleetSchema = z.object({
  encoders: z.array(
    encoderViewSchema.extend({
      /** Registration tags and capability tags, deduplicated. */
      tags: z.array(z.string()),
      /** The encoder's leased/running jobs the caller may see (a tenant key sees its own only). */
      jobs: z.array(liveJobSchema),
      /** The newest failure or lease rescue among the caller's 200 most recent jobs on this encoder. */
      lastError: z
        .object({ jobId: z.string(), code: z.string(), message: z.string(), at: z.string() })
        .nullable(),
    }),
  ),
  summary: z.object({
    online: countSchema,
    offline: countSchema,
    /** Jobs leased or running now, fleet-wide. */
    running: z.number(),
    /** Concurrent job slots of online, approved encoders. */
    slots: z.number(),
    /** Sum of the `speed` of every encoding job shown; null when none is encoding. */
    speed: z.number().nullable(),
  }),
  generatedAt: z.string(),
});

const jobFactsSchema = z.object({
  source: sourceFactsSchema.nullable(),
  timing: z.object({
    /** Seconds from submit to the first lease; null while never leased. */
    waitS: z.number().nullable(),
    /** ffmpeg wall seconds of the encode that completed the job; null until completed. */
    encodeS: z.number().nullable(),
    /** Seconds from submit to the final state; null while not final. */
    totalS: z.number().nullable(),
  }),
  /** Per produced rendition: its HLS media playlist and progressive MP4 copy (local outputs only). */
  downloads: z.array(
    z.object({ name: z.string(), playlistUrl: z.string().optional(), mp4Url: z.string().optional() }),
  ),
});

/** Running jobs whose logs are read for speed and source facts per fleet request (one query each). */
const FLEET_LOG_READS = 50;
const idParams = z.object({ id: z.string().min(1).max(64) });

/** A tenant-bound principal sees only its tenant's jobs (the bootstrap admin has none and sees all). */
const visible = (p: Principal | undefined, job: Job) => !p?.tenant || job.tenant === p.tenant;

/** Most jobs counted per status for a tenant key (the store counts globally only). */
export const TENANT_COUNT_CAP = 200;

/**
 * One tenant's jobs per status and waiting jobs per queue/priority with the oldest age (seconds), from
 * its job lists; counts stop at {@link TENANT_COUNT_CAP} per status.
 */
async function tenantStats(store: JobStore, tenant: string) {
  const pages = await Promise.all(
    JOB_STATUSES.map((status) => store.list({ status: [status], tenant, limit: TENANT_COUNT_CAP })),
  );
  const byStatus: Record<string, number> = {};
  JOB_STATUSES.forEach((status, i) => {
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
          'Jobs per status, queue depth and age, encoders by kind, throughput history (1h, 24h, 7d), recent problems',
        tags: ['dashboard'],
        querystring: z.object({ window: z.enum(['1h', '24h', '7d']).default('1h') }),
        response: { 200: overviewSchema },
      },
    },
    async (req) => {
      const tenant = req.principal?.tenant;
      const window: HistoryWindow = req.query.window;
      const { spanS, bucketS } = WINDOWS[window];
      const now = Date.now();
      const start = Math.floor((now / 1000 - spanS) / bucketS) * bucketS + bucketS;
      const [stats, encoders, finished, recent] = await Promise.all([
        store.queueStats(),
        store.listEncoders(),
        finishedSince(store, start * 1000, tenant),
        store.list({ limit: 100, tenant }),
      ]);
      const buckets = Array.from({ length: spanS / bucketS }, (_, i) => ({
        at: new Date((start + i * bucketS) * 1000).toISOString(),
        completed: 0,
        failed: 0,
        speeds: [] as number[],
        waits: [] as number[],
        encodes: [] as number[],
      }));
      for (const job of finished) {
        const t = (job.finishedAt ?? job.updatedAt).getTime() / 1000;
        const b = buckets[Math.floor((t - start) / bucketS)];
        if (!b) continue;
        if (job.status !== 'completed') {
          b.failed++;
          continue;
        }
        b.completed++;
        const speed = encodeFact(job, 'speed');
        if (speed !== undefined) b.speeds.push(speed);
        const wall = encodeFact(job, 'wallS');
        if (wall !== undefined) b.encodes.push(wall);
        if (job.claimedAt)
          b.waits.push(Math.max(0, (job.claimedAt.getTime() - job.createdAt.getTime()) / 1000));
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
        encoders: countEncoders(encoders),
        throughput: buckets.map((b) => ({
          at: b.at,
          completed: b.completed,
          failed: b.failed,
          speed: mean(b.speeds),
          waitS: mean(b.waits),
          encodeS: mean(b.encodes),
        })),
        window,
        bucketS,
        recentProblems: problems,
        generatedAt: new Date(now).toISOString(),
      };
    },
  );

  app.get(
    '/dashboard/encoders',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'dashboardEncoders',
        summary:
          'Encoders with their current jobs (stage, progress, × realtime, fps) and last error; fleet summary',
        tags: ['dashboard'],
        response: { 200: fleetSchema },
      },
    },
    async (req) => {
      const principal = req.principal;
      const tenant = principal?.tenant;
      const [all, live, recent, records] = await Promise.all([
        store.listEncoders(),
        store.list({ status: ['leased', 'running'], limit: 200 }),
        store.list({ limit: 200, tenant }),
        opts.reputation?.() ?? Promise.resolve(new Map<string, Reputation>()),
      ]);
      // A tenant key never sees another tenant's encoders (the operator's and community ones it does).
      const encoders = all.filter((e) => encoderVisibleTo(e, tenant));
      const now = Date.now();
      const shown = live.jobs.filter((j) => visible(principal, j));
      const logs = await Promise.all(
        shown.slice(0, FLEET_LOG_READS).map((j) => store.getLogs(j.id, { limit: 200 }).catch(() => [])),
      );
      const jobsByEncoder = new Map<string, z.infer<typeof liveJobSchema>[]>();
      shown.forEach((job, i) => {
        const { source, encodingSince } = readPipelineLog(logs[i] ?? [], job.claimedAt ?? undefined);
        const wallS = encodingSince ? (now - encodingSince.getTime()) / 1000 : 0;
        // The encoder's own report when it sent one (drizzle/0011), else the estimate from the log.
        const speed =
          job.stage === 'encoding' && job.speed !== null
            ? job.speed
            : job.stage === 'encoding' && source && wallS > 0
              ? ((job.progress / 100) * source.durationS) / wallS
              : null;
        const owner = job.lease?.encoderId ?? job.encoderId;
        if (!owner) return;
        const list = jobsByEncoder.get(owner) ?? [];
        list.push({
          id: job.id,
          status: job.status,
          stage: job.stage,
          progress: job.progress,
          speed,
          // The encoder's own frame rate (drizzle/0018) when it sent one, else speed × source frame rate.
          fps:
            job.stage === 'encoding' && job.fps !== null
              ? job.fps
              : speed !== null && source?.video
                ? speed * source.video.fps
                : null,
          source,
        });
        jobsByEncoder.set(owner, list);
      });
      const lastErrors = new Map<string, { jobId: string; code: string; message: string; at: string }>();
      for (const j of [...recent.jobs].sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime())) {
        if (!j.encoderId || !j.lastError || lastErrors.has(j.encoderId)) continue;
        if (!['failed', 'dead'].includes(j.status) && j.lastError.code !== 'lease_expired') continue;
        lastErrors.set(j.encoderId, {
          jobId: j.id,
          code: j.lastError.code ?? 'error',
          message: j.lastError.message,
          at: j.updatedAt.toISOString(),
        });
      }
      const rows = encoders.map((e) => ({
        ...encoderView(e, records.get(e.id)),
        tags: [...new Set([...e.tags, ...e.capabilities.tags])],
        jobs: jobsByEncoder.get(e.id) ?? [],
        lastError: lastErrors.get(e.id) ?? null,
      }));
      const speeds = rows.flatMap((r) => r.jobs.flatMap((j) => (j.speed === null ? [] : [j.speed])));
      return {
        encoders: rows,
        summary: {
          ...countEncoders(encoders),
          running: live.jobs.length,
          slots: encoders
            .filter((e) => e.status === 'online' && e.approval === 'approved')
            .reduce((a, e) => a + e.capabilities.concurrency, 0),
          speed: speeds.length ? speeds.reduce((a, x) => a + x, 0) : null,
        },
        generatedAt: new Date(now).toISOString(),
      };
    },
  );

  app.get(
    '/dashboard/jobs/:id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'dashboardJobFacts',
        summary: 'Source facts, queue wait vs encode time and download links of one job',
        tags: ['dashboard'],
        params: idParams,
        response: { 200: jobFactsSchema },
      },
    },
    async (req) => {
      const job = await visibleJob(store, req.params.id, req.principal?.tenant);
      const [events, lines] = await Promise.all([
        store.listEvents(job.id),
        store.getLogs(job.id, { limit: 1000 }),
      ]);
      const firstLease = events.find((e) => e.to === 'leased');
      const seconds = (from: Date, to: Date | null | undefined) =>
        to ? Math.max(0, (to.getTime() - from.getTime()) / 1000) : null;
      const view = jobView(job, opts.publicUrl(), opts.mediaBase?.());
      const isLocal = job.status === 'completed' && view.destination.type === 'local';
      const base = `${opts.mediaBase?.() ?? `${opts.publicUrl()}/media`}/${encodeURIComponent(job.id)}`;
      const produced = (
        (job.result as { renditions?: Array<{ name?: unknown; mp4?: unknown }> } | null)?.renditions ?? []
      ).filter((r) => typeof r?.name === 'string');
      return {
        source: readPipelineLog(lines).source,
        timing: {
          waitS: seconds(job.createdAt, firstLease?.at),
          encodeS: job.status === 'completed' ? (encodeFact(job, 'wallS') ?? null) : null,
          totalS: seconds(job.createdAt, job.finishedAt),
        },
        downloads: isLocal
          ? produced.map((r) => ({
              name: String(r.name),
              playlistUrl: view.result?.renditions.find((x) => x.name === r.name)?.url,
              ...(typeof r.mp4 === 'string' ? { mp4Url: `${base}/${r.mp4}` } : {}),
            }))
          : [],
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
      const view = (job: Job) => jobViewSchema.parse(jobView(job, opts.publicUrl(), opts.mediaBase?.()));
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

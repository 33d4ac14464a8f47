import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import stringify from 'safe-stable-stringify';
import { z } from 'zod';
import { threeSpeakSpecInput } from '../../compat/threespeak/index.js';
import { ValidationError } from '../../errors.js';
import { listChildren } from '../../jobs/chunks.js';
import {
  encoderIdForDid,
  FINAL_STATUSES,
  type Job,
  JobNotFoundError,
  type JobStatus,
  type JobStore,
  QUEUES,
} from '../../jobs/index.js';
import type { PresetStore } from '../../jobs/presets.js';
import {
  type JobSpec,
  jobSpecSchema,
  redactSpec,
  requestedRenditions,
  requiredCodecs,
} from '../../jobs/spec.js';
import { formatHbd, parseHbd } from '../../market/money.js';
import type { SsrfPolicy } from '../../storage/index.js';
import { type ChunkingDeps, createSplitTasks, decideSplit, splitTags } from '../chunking.js';
import { IdempotencyKeyReusedError, OverUserMaxPriceError } from '../errors.js';
import type { Principal } from '../plugins/auth.js';
import { assertNoPrivateUrlLiterals, assertSafeSpecStrings } from '../plugins/url-guard.js';
import { jobEventSchema, jobStatusSchema, jobViewSchema, logLineSchema } from '../schemas.js';
import { measuredNeeds, measureUploadSource } from '../source-needs.js';
import { openEventStream } from '../sse.js';
import { eventView, jobView } from '../views.js';
import { assertUploadVisible } from './uploads.js';

export interface JobRouteOptions {
  store: JobStore;
  /** Resolves `ladder: "preset:<name>"` against the caller's tenant's presets before validation. */
  presets?: PresetStore;
  /** Base URL of this coordinator (known once it listens). */
  publicUrl: () => string;
  /** Base URL of published media (`<public or media origin>/media`); default `<publicUrl>/media`. */
  mediaBase?: () => string;
  uploadsDir: string;
  /** Default attempts per job when the spec sets none. */
  maxAttempts: number;
  /** ms between progress pushes of an SSE stream (progress is not a transition, so it is polled). */
  sseProgressMs?: number;
  /** Seals the secrets of a spec before it is stored (default: stored as given). */
  sealSpec?: (spec: JobSpec) => JobSpec;
  /** Refuse specs whose URLs name private/loopback addresses literally (SSRF guard on). */
  refusePrivateUrls?: boolean;
  /** Private hosts/ranges the operator allowlisted (`VIDMESH_SSRF_ALLOW`): not refused. */
  ssrfAllow?: SsrfPolicy;
  /** Chunked encoding (docs/chunking.md): long upload jobs are split at submit; absent: never. */
  chunking?: ChunkingDeps;
  /**
   * Opens the market order of a job submitted with `market` (src/market, docs/marketplace.md); absent:
   * such specs are refused. The job is stored held (`reservedFor: ''`) until a bid is accepted.
   */
  openMarketOrder?: (job: Job, spec: JobSpec, principal: Principal | undefined) => Promise<void>;
}

/**
 * The job when `principal` may see it: a tenant key sees only its tenant's jobs, and another tenant's
 * id answers 404 exactly like an unknown one (no existence oracle). Operator keys see all.
 */
export async function visibleJob(
  store: Pick<JobStore, 'get'>,
  id: string,
  tenant: string | undefined,
): Promise<Job> {
  const job = await store.get(id);
  if (tenant !== undefined && job.tenant !== tenant) {
    throw new JobNotFoundError(`job ${id} not found`, { details: { jobId: id } });
  }
  return job;
}

const FINAL = new Set<JobStatus>(FINAL_STATUSES);
const idParams = z.object({ id: z.string().min(1).max(64) });
const jobEnvelope = z.object({ job: jobViewSchema });

/**
 * Job routes: submit (202, `Idempotency-Key`), list (cursor pages, filters), get, cancel (DELETE),
 * retry, Server-Sent Events (`/events`), logs and audit trail (`/history`).
 */
export const jobRoutes: FastifyPluginAsyncZod<JobRouteOptions> = async (app, opts) => {
  const { store } = opts;
  const view = (job: Job) => jobView(job, opts.publicUrl(), opts.mediaBase?.());

  app.post(
    '/jobs',
    {
      config: { scope: 'submit' },
      // A tenant preset reference becomes its options before the spec schema sees it (built-in
      // names resolve in the schema itself, so they work without a preset store).
      preValidation: async (req) => {
        const body = req.body as { ladder?: unknown } | undefined;
        if (opts.presets && body && typeof body === 'object' && typeof body.ladder === 'string')
          body.ladder = await opts.presets.resolve(req.principal?.tenant ?? 'default', body.ladder);
      },
      schema: {
        operationId: 'submitJob',
        summary: 'Submit a job (HLS ladder of a source, published to a destination)',
        tags: ['jobs'],
        headers: z.object({ 'idempotency-key': z.string().min(1).max(255).optional() }),
        body: jobSpecSchema,
        response: { 202: jobEnvelope },
      },
    },
    async (req, reply) => {
      const spec = req.body;
      assertSafeSpecStrings(spec);
      if (opts.refusePrivateUrls) assertNoPrivateUrlLiterals(spec, '', opts.ssrfAllow);
      const source = spec.source;
      if (source.type === 'upload') {
        const id = source.id;
        await assertUploadVisible(opts.uploadsDir, id, req.principal?.tenant).catch(() => {
          throw new ValidationError(`source.id: upload ${id} not found`);
        });
      }
      // 3Speak-family jobs (docs/3speak.md) are stored normalized: fixed ladder, IPFS publication, the
      // 3Speak fields in metadata; only the 3Speak gateway's claim leases them.
      const legacy = spec.protocol === '3speak' ? threeSpeakSpecInput(spec) : undefined;
      if (spec.market) {
        if (!opts.openMarketOrder) throw new ValidationError('market: this coordinator runs no marketplace');
        if (spec.network !== 'community' || legacy) {
          throw new ValidationError('market: priced jobs go to the community network (network: "community")');
        }
        if (spec.pinEncoder)
          throw new ValidationError('pinEncoder: not with market (a bid decides who encodes)');
        if (spec.user)
          await assertWithinUserMaxPrice(store, req.principal?.tenant, spec.user, spec.market.maxPrice);
      }
      // A paid job is always verified before it is paid for, and runs whole (one encoder, one price).
      const stored = legacy ? legacy.spec : spec.market ? { ...spec, verify: 'always' as const } : spec;
      if (spec.chunk)
        throw new ValidationError('chunk: set by the coordinator on chunk tasks, not by clients');
      // Probed once: the measured duration and output height let the claim filter match kind limits
      // (a browser takes ≤ 120 s, ≤ 480p), and the split reuses the probe.
      const measured = legacy ? undefined : await measureUploadSource(opts.uploadsDir, spec, req.log);
      const split =
        !legacy && !spec.market && !spec.pinEncoder && opts.chunking
          ? await decideSplit(opts.chunking, spec, measured?.info)
          : null;
      const job = await store.submit(
        {
          spec: opts.sealSpec ? opts.sealSpec(stored) : stored,
          renditions: legacy ? legacy.input.renditions : requestedRenditions(spec),
          tenant: req.principal?.tenant,
          owner: spec.user ?? req.principal?.id,
          queue: spec.queue,
          priority: spec.priority,
          maxAttempts: spec.maxAttempts ?? opts.maxAttempts,
          metadata: legacy ? (legacy.input.metadata ?? {}) : (spec.metadata ?? {}),
          requirements: legacy
            ? legacy.input.requirements
            : {
                codecs: requiredCodecs(spec),
                tags: split ? splitTags(spec.tags) : (spec.tags ?? []),
                ...(measured && !split ? measuredNeeds(measured.plan) : {}),
              },
          protocol: legacy ? '3speak' : 'vidmesh',
          network: spec.network,
          ...(spec.market ? { reservedFor: '' } : {}),
          // "Encode here": held for the encoder of that did:key alone (the claim's reserved_for check).
          // The pin ends after VIDMESH_PIN_GRACE_S or when that encoder fails the job (docs/encoders.md).
          ...(spec.pinEncoder && !legacy
            ? {
                pin: {
                  encoderId: encoderIdForDid(spec.pinEncoder.did),
                  fallback: spec.pinEncoder.fallback ?? 'route',
                },
              }
            : {}),
        },
        { idempotencyKey: req.headers['idempotency-key'] },
      );
      // A key names one request (IETF draft-ietf-httpapi-idempotency-key-header §2): reusing it for a
      // different spec is a client bug, not a resubmit.
      if (
        req.headers['idempotency-key'] &&
        stringify(redactSpec(job.spec as JobSpec)) !== stringify(redactSpec(stored))
      ) {
        throw new IdempotencyKeyReusedError('Idempotency-Key was already used for a different job spec', {
          details: { jobId: job.id },
        });
      }
      if (spec.market && opts.openMarketOrder) {
        try {
          await opts.openMarketOrder(job, stored as JobSpec, req.principal);
        } catch (err) {
          // No order, no job: a held job nobody can bid on would wait forever.
          await store.cancel(job.id, { actor: 'market', reason: 'market order not opened' }).catch(() => {});
          throw err;
        }
      }
      if (split && opts.chunking) {
        await createSplitTasks(opts.chunking, job, stored, split, requestedRenditions(spec), opts.sealSpec);
      }
      reply.header('location', `${opts.publicUrl()}/api/v1/jobs/${job.id}`);
      return reply.status(202).send({ job: view(job) });
    },
  );

  app.get(
    '/jobs',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listJobs',
        summary: 'List jobs, newest first (cursor pagination)',
        tags: ['jobs'],
        querystring: z.object({
          status: z
            .string()
            .transform((s) => s.split(','))
            .pipe(z.array(jobStatusSchema))
            .optional(),
          queue: z.enum(QUEUES).optional(),
          encoder: z.string().max(128).optional(),
          search: z.string().max(200).optional(),
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z.string().max(512).optional(),
        }),
        response: { 200: z.object({ jobs: z.array(jobViewSchema), nextCursor: z.string().nullable() }) },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await store.list({
        status: q.status,
        queue: q.queue,
        encoderId: q.encoder,
        search: q.search,
        limit: q.limit,
        cursor: q.cursor,
        // Keys of one tenant see only that tenant's jobs; the bootstrap admin sees all.
        tenant: req.principal?.tenant,
      });
      return { jobs: page.jobs.map(view), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/jobs/:id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getJob',
        summary: 'One job: status, stage, progress, ETA, renditions, result URLs, encoder',
        tags: ['jobs'],
        params: idParams,
        response: { 200: jobEnvelope },
      },
    },
    async (req) => ({ job: view(await visibleJob(store, req.params.id, req.principal?.tenant)) }),
  );

  app.get(
    '/jobs/:id/children',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listJobChildren',
        summary: 'Chunk tasks of a split job (docs/chunking.md), audio task first, then in chunk order',
        tags: ['jobs'],
        params: idParams,
        response: { 200: z.object({ jobs: z.array(jobViewSchema) }) },
      },
    },
    async (req) => {
      const job = await visibleJob(store, req.params.id, req.principal?.tenant);
      const children = opts.chunking ? await listChildren(opts.chunking.db, job.id) : [];
      return { jobs: children.map(view) };
    },
  );

  app.delete(
    '/jobs/:id',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'cancelJob',
        summary: 'Cancel a job; a running encoder stops within one heartbeat',
        tags: ['jobs'],
        params: idParams,
        response: { 200: jobEnvelope },
      },
    },
    async (req) => {
      await visibleJob(store, req.params.id, req.principal?.tenant);
      return { job: view(await store.cancel(req.params.id, { actor: req.principal?.id ?? 'api' })) };
    },
  );

  app.post(
    '/jobs/:id/retry',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'retryJob',
        summary: 'Re-queue a dead, failed or cancelled job (optionally only some renditions)',
        tags: ['jobs'],
        params: idParams,
        body: z.object({ renditions: z.array(z.string().max(32)).max(16).optional() }).optional(),
        response: { 202: jobEnvelope },
      },
    },
    async (req, reply) => {
      await visibleJob(store, req.params.id, req.principal?.tenant);
      const job = await store.retry(req.params.id, {
        renditions: req.body?.renditions,
        actor: req.principal?.id ?? 'api',
      });
      return reply.status(202).send({ job: view(job) });
    },
  );

  app.get(
    '/jobs/:id/logs',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getJobLogs',
        summary: 'Pipeline and ffmpeg log lines (bounded: the newest lines are kept)',
        tags: ['jobs'],
        params: idParams,
        querystring: z.object({
          afterSeq: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(5000).default(1000),
        }),
        response: { 200: z.object({ lines: z.array(logLineSchema), nextSeq: z.number() }) },
      },
    },
    async (req) => {
      const job = await visibleJob(store, req.params.id, req.principal?.tenant);
      const lines = await store.getLogs(job.id, { afterSeq: req.query.afterSeq, limit: req.query.limit });
      return {
        lines: lines.map((l) => ({ seq: l.seq, stream: l.stream, line: l.line, at: l.at.toISOString() })),
        nextSeq: lines.length ? lines[lines.length - 1].seq : (req.query.afterSeq ?? 0),
      };
    },
  );

  app.get(
    '/jobs/:id/history',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getJobHistory',
        summary: 'Audit trail: every transition with actor and reason',
        tags: ['jobs'],
        params: idParams,
        response: { 200: z.object({ events: z.array(jobEventSchema) }) },
      },
    },
    async (req) => {
      const job = await visibleJob(store, req.params.id, req.principal?.tenant);
      return { events: (await store.listEvents(job.id)).map(eventView) };
    },
  );

  app.get(
    '/jobs/:id/events',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'streamJobEvents',
        summary:
          'Server-Sent Events: `snapshot`, then `transition` and `progress` as they happen, `end` at a final state',
        tags: ['jobs'],
        params: idParams,
      },
    },
    async (req, reply) => {
      let job = await visibleJob(store, req.params.id, req.principal?.tenant);
      const stream = openEventStream(req, reply, { keepAliveMs: 15_000 });
      const send = stream.send;
      let lastKey = '';
      const keyOf = (j: Job) =>
        `${j.status}|${j.stage}|${j.progress.toFixed(1)}|${j.renditions.map((r) => r.status).join()}`;
      let timer: NodeJS.Timeout | undefined;
      stream.onClose(() => clearInterval(timer));
      const finish = () => stream.close();

      const push = async (kind: 'progress' | 'transition', from?: string | null) => {
        try {
          const next = await store.get(job.id);
          const key = keyOf(next);
          if (kind === 'progress' && key === lastKey) return;
          lastKey = key;
          const prev = job.status;
          job = next;
          if (kind === 'transition' || prev !== next.status) {
            send('transition', { job: view(next), from: from ?? prev, to: next.status, reason: null });
          } else send('progress', { job: view(next) });
          if (FINAL.has(next.status)) {
            send('end', { job: view(next) });
            finish();
          }
        } catch (err) {
          req.log.warn({ err }, 'SSE update failed');
        }
      };
      // Serialise updates so events leave in order.
      let chain = Promise.resolve();
      const enqueue = (fn: () => Promise<void>) => {
        chain = chain.then(fn);
      };

      const unsubscribe = await store.onJobChange((change) => {
        if (change.type === 'resync') enqueue(() => push('progress'));
        else if (change.jobId === job.id) enqueue(() => push('transition', change.from));
      });
      stream.onClose(unsubscribe);
      if (stream.closed) return;
      lastKey = keyOf(job);
      send('snapshot', { job: view(job) });
      if (FINAL.has(job.status)) {
        send('end', { job: view(job) });
        finish();
        return;
      }
      timer = setInterval(() => enqueue(() => push('progress')), opts.sseProgressMs ?? 500);
    },
  );
};

/**
 * A market job of `user` may not offer more than the `maxPrice` of the user's settings (HBD; null: no
 * limit). @throws OverUserMaxPriceError (422) naming both amounts.
 */
async function assertWithinUserMaxPrice(
  store: JobStore,
  tenant: string | undefined,
  user: string,
  marketMaxPrice: string,
): Promise<void> {
  const { maxPrice } = await store.getUserSettings(tenant ?? 'default', user);
  if (maxPrice === null) return;
  const offered = parseHbd(marketMaxPrice, 'market.maxPrice');
  const limit = Math.round(maxPrice * 1000);
  if (offered <= limit) return;
  throw new OverUserMaxPriceError(
    `market.maxPrice ${formatHbd(offered)} HBD is over ${user}'s maxPrice setting of ${formatHbd(limit)} HBD`,
    { details: { maxPrice: formatHbd(offered), userMaxPrice: formatHbd(limit) } },
  );
}

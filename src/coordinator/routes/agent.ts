import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type SourceLimits, sourceLimitsSchema } from '../../encoder/source-limits.js';
import type { Encoder, JobStore } from '../../jobs/index.js';
import { LeaseLostError } from '../../jobs/index.js';
import { safeJoin } from '../../storage/index.js';
import {
  EncoderNotAllowedError,
  EncoderPendingApprovalError,
  ForbiddenError,
  NotLeaseHolderError,
  PayloadTooLargeError,
  UnauthorizedError,
} from '../errors.js';
import type { Principal } from '../plugins/auth.js';
import { leaseSha256 } from '../plugins/identity.js';
import { capabilitiesSchema, encoderViewSchema, jobViewSchema } from '../schemas.js';
import { encoderView, jobView } from '../views.js';

export interface AgentRouteOptions {
  store: JobStore;
  /** Base URL of this coordinator (known once it listens). */
  publicUrl: () => string;
  /** `<dataDir>/media`: where output PUTs of remote encoders land (`<jobId>/<path>`). */
  mediaRoot: string;
  claimMaxWaitMs: number;
  maxUploadBytes: number;
  /**
   * Who may register (did:key encoders): `open` (anyone), `allowlist` (only `allowlist` DIDs, else 403
   * `encoder_not_allowed`), `approval` (new DIDs wait as `pending` until `vidmesh encoders approve`).
   * Default `open`. API-key encoders are the operator's own and always approved.
   */
  registration?: { policy: 'open' | 'allowlist' | 'approval'; allowlist?: readonly string[] };
  /** Per-job source limits handed out with each claim (checked by the encoder right after probe). */
  sourceLimits?: SourceLimits;
  /** Opens sealed secrets of a spec for the encoder that holds its lease (default: identity). */
  openSpec?: (spec: unknown) => unknown;
}

const encoderId = z.string().min(1).max(128);
const leaseBody = { encoderId, jobId: z.string().min(1).max(64), leaseToken: z.string().min(1).max(256) };
const logsSchema = z.array(z.string().max(4096)).max(500).optional();

/**
 * Who may act for an encoder: a did:key principal only for the encoder registered with its DID; an
 * API-key principal only for encoders registered without a DID (operator nodes) and, for a tenant
 * key, of its tenant. Banned encoders are refused; `pending` ones too unless `allowPending`
 * (heartbeats). Throws 403 errors (`not_lease_holder`, `encoder_not_allowed`,
 * `encoder_pending_approval`) or 404 when the encoder is unknown.
 */
async function assertActsFor(
  store: JobStore,
  principal: Principal | undefined,
  id: string,
  options: { allowPending?: boolean } = {},
): Promise<Encoder> {
  const encoder = await store.getEncoder(id);
  if (principal?.scheme === 'did') {
    if (encoder.did !== principal.did)
      throw new NotLeaseHolderError(`encoder ${id} belongs to another identity`);
  } else if (encoder.did !== null) {
    throw new NotLeaseHolderError(
      `encoder ${id} is a did:key encoder: only its own signed requests act for it`,
    );
  } else if (
    principal?.tenant !== undefined &&
    encoder.tenant !== null &&
    encoder.tenant !== principal.tenant
  ) {
    throw new NotLeaseHolderError(`encoder ${id} belongs to another tenant`);
  }
  if (encoder.approval === 'banned') throw new EncoderNotAllowedError(`encoder ${id} is banned`);
  if (encoder.approval === 'pending' && !options.allowPending) {
    throw new EncoderPendingApprovalError(`encoder ${id} waits for an operator's approval`);
  }
  return encoder;
}

/**
 * Encoder registration/heartbeat and the agent work API (claim long-poll, progress = lease renewal,
 * complete, fail, release, output PUTs). Every call after claim names `{encoderId, jobId, leaseToken}`;
 * a stale lease is 409 `lease_lost` (problem details).
 */
export const agentRoutes: FastifyPluginAsyncZod<AgentRouteOptions> = async (app, opts) => {
  const { store } = opts;

  app.post(
    '/encoders/register',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'registerEncoder',
        summary: 'Register an encoder (the same identity re-registering updates its row)',
        tags: ['encoders'],
        body: z.object({
          name: z.string().min(1).max(128),
          kind: z.enum(['infrastructure', 'community', 'desktop', 'browser']),
          version: z.string().max(64),
          capabilities: capabilitiesSchema,
          did: z.string().max(256).optional(),
        }),
        response: { 200: z.object({ encoder: encoderViewSchema }) },
      },
    },
    async (req) => {
      const p = req.principal;
      if (req.body.did && p?.scheme === 'did' && p.did !== req.body.did) {
        throw new UnauthorizedError('did does not match the signing identity');
      }
      if (req.body.did && p?.scheme !== 'did') {
        // Claiming a DID needs its signature: an API key cannot register as someone's identity.
        throw new ForbiddenError('register a did with requests signed by that did (Authorization: DIDJWS)');
      }
      const did = p?.scheme === 'did' ? p.did : undefined;
      const reg = opts.registration ?? { policy: 'open' };
      let approval: 'approved' | 'pending' = 'approved';
      if (did !== undefined && reg.policy === 'allowlist' && !(reg.allowlist ?? []).includes(did)) {
        throw new EncoderNotAllowedError('this identity is not on the operator allowlist');
      }
      if (did !== undefined && reg.policy === 'approval') approval = 'pending';
      // A re-registration keeps the operator's decision (the store leaves `approval` of an existing row).
      const encoder = await store.registerEncoder({
        name: req.body.name,
        kind: req.body.kind,
        version: req.body.version,
        capabilities: req.body.capabilities,
        did,
        tenant: p?.tenant,
        approval,
      });
      if (encoder.approval === 'banned') throw new EncoderNotAllowedError(`encoder ${encoder.id} is banned`);
      return { encoder: encoderView(encoder) };
    },
  );

  app.post(
    '/encoders/heartbeat',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'encoderHeartbeat',
        summary: 'Mark an encoder alive',
        tags: ['encoders'],
        body: z.object({ encoderId, activeJobs: z.array(z.string().max(64)).max(256).default([]) }),
        response: { 200: z.object({ ok: z.literal(true) }) },
      },
    },
    async (req) => {
      await assertActsFor(store, req.principal, req.body.encoderId, { allowPending: true });
      await store.heartbeatEncoder(req.body.encoderId);
      return { ok: true as const };
    },
  );

  app.get(
    '/encoders',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listEncoders',
        summary: 'Registered encoders with status, capabilities and counters',
        tags: ['encoders'],
        response: { 200: z.object({ encoders: z.array(encoderViewSchema) }) },
      },
    },
    async () => ({ encoders: (await store.listEncoders()).map(encoderView) }),
  );

  app.post(
    '/agent/claim',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'claimJob',
        summary: 'Long-poll for a job; 204 when none came within waitMs',
        tags: ['agent'],
        body: z.object({ encoderId, waitMs: z.number().int().min(0).max(30_000).default(0) }),
        response: {
          200: z.object({
            job: z.object({
              id: z.string(),
              spec: z.unknown(),
              renditions: z.array(z.string()),
              attempt: z.number(),
            }),
            leaseToken: z.string(),
            leaseExpiresAt: z.string(),
            traceparent: z.string().optional().describe('W3C trace context of the job (when traced)'),
            limits: sourceLimitsSchema.optional(),
          }),
          204: z.null().describe('no job within waitMs'),
        },
      },
    },
    async (req, reply) => {
      const encoder = await assertActsFor(store, req.principal, req.body.encoderId);
      const abort = new AbortController();
      const onClose = () => abort.abort();
      // A client that gives up (closed socket) must not be handed a job it will never see.
      reply.raw.on('close', onClose);
      try {
        const claim = await store.claim({ id: encoder.id, kind: encoder.kind }, encoder.capabilities, {
          waitMs: Math.min(req.body.waitMs, opts.claimMaxWaitMs),
          signal: abort.signal,
        });
        if (!claim) return reply.status(204).send(null);
        if (abort.signal.aborted) {
          await store.release(claim.job.id, claim.leaseToken, encoder.id, 'claimant disconnected');
          return reply.status(204).send(null);
        }
        const pending = claim.job.renditions.filter((r) => r.status !== 'completed').map((r) => r.name);
        const partial = pending.length > 0 && pending.length < claim.job.renditions.length;
        return {
          job: {
            id: claim.job.id,
            // Sealed secrets are opened only here, for the encoder that now holds the lease.
            spec: opts.openSpec ? opts.openSpec(claim.job.spec) : claim.job.spec,
            renditions: partial ? pending : [],
            attempt: claim.attempt,
          },
          leaseToken: claim.leaseToken,
          leaseExpiresAt: claim.leaseExpiresAt.toISOString(),
          ...(claim.job.traceparent ? { traceparent: claim.job.traceparent } : {}),
          ...(opts.sourceLimits ? { limits: opts.sourceLimits } : {}),
        };
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );

  app.post(
    '/agent/progress',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'reportProgress',
        summary: 'Report stage/progress and renew the lease; answers cancelled=true after a cancel',
        tags: ['agent'],
        body: z.object({
          ...leaseBody,
          stage: z.enum(['downloading', 'encoding', 'uploading']),
          progress: z.number().min(0).max(100),
          etaS: z.number().min(0).optional(),
          speed: z.number().min(0).optional(),
          renditions: z
            .array(
              z.object({
                name: z.string().max(32),
                status: z.enum(['pending', 'running', 'completed', 'failed']),
                progress: z.number().min(0).max(100),
              }),
            )
            .max(16)
            .optional(),
          logs: logsSchema,
        }),
        response: { 200: z.object({ cancelled: z.boolean(), leaseExpiresAt: z.string() }) },
      },
    },
    async (req) => {
      const b = req.body;
      await assertActsFor(store, req.principal, b.encoderId);
      const renewed = await store.renew(b.jobId, b.leaseToken, b.encoderId, {
        stage: b.stage,
        progress: b.progress,
        etaS: b.etaS,
        renditions: b.renditions,
      });
      if (b.logs?.length) await store.appendLogs(b.jobId, b.leaseToken, b.encoderId, b.logs).catch(() => {});
      return { cancelled: renewed.cancelled, leaseExpiresAt: renewed.leaseExpiresAt.toISOString() };
    },
  );

  app.post(
    '/agent/complete',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'completeJob',
        summary: 'Report a finished job (idempotent for the same lease)',
        tags: ['agent'],
        body: z.object({
          ...leaseBody,
          result: z.object({
            renditions: z.array(z.object({ name: z.string().max(32) }).passthrough()).max(16),
            masterUrl: z.string().max(4096),
            posterUrl: z.string().max(4096).optional(),
            publish: z.unknown(),
            encode: z.object({
              backend: z.string().max(32),
              fallbacks: z.array(z.unknown()).max(8),
              wallS: z.number().min(0),
              speed: z.number().min(0),
            }),
          }),
          logs: logsSchema,
        }),
        response: { 200: z.object({ job: jobViewSchema }) },
      },
    },
    async (req) => {
      const b = req.body;
      await assertActsFor(store, req.principal, b.encoderId);
      if (b.logs?.length) await store.appendLogs(b.jobId, b.leaseToken, b.encoderId, b.logs).catch(() => {});
      const job = await store.complete(b.jobId, b.leaseToken, b.encoderId, {
        result: b.result,
        renditions: b.result.renditions.map((r) => ({
          name: r.name,
          status: 'completed' as const,
          result: r,
        })),
        encodeSeconds: b.result.encode.wallS,
      });
      return { job: jobView(job, opts.publicUrl()) };
    },
  );

  app.post(
    '/agent/fail',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'failJob',
        summary: 'Report a failed attempt (retryable: re-queued with backoff; else dead)',
        tags: ['agent'],
        body: z.object({
          ...leaseBody,
          error: z.object({ code: z.string().max(64), message: z.string().max(4096) }),
          retryable: z.boolean(),
          logs: logsSchema,
        }),
        response: { 200: z.object({ job: jobViewSchema }) },
      },
    },
    async (req) => {
      const b = req.body;
      await assertActsFor(store, req.principal, b.encoderId);
      if (b.logs?.length) await store.appendLogs(b.jobId, b.leaseToken, b.encoderId, b.logs).catch(() => {});
      const job = await store.fail(
        b.jobId,
        b.leaseToken,
        b.encoderId,
        { code: b.error.code, message: b.error.message },
        { retryable: b.retryable },
      );
      return { job: jobView(job, opts.publicUrl()) };
    },
  );

  app.post(
    '/agent/release',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'releaseJob',
        summary: 'Give a job back without counting an attempt (graceful shutdown)',
        tags: ['agent'],
        body: z.object({ ...leaseBody, reason: z.string().max(512).default('released') }),
        response: { 200: z.object({ job: jobViewSchema }) },
      },
    },
    async (req) => {
      const b = req.body;
      await assertActsFor(store, req.principal, b.encoderId);
      const job = await store.release(b.jobId, b.leaseToken, b.encoderId, b.reason);
      return { job: jobView(job, opts.publicUrl()) };
    },
  );

  // Output files are streamed, not parsed: any content type passes through as the raw request stream.
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  app.put(
    '/agent/outputs/:jobId/*',
    {
      config: { scope: 'encoder', acceptsGrant: true },
      schema: {
        operationId: 'putOutputFile',
        summary: 'Stream one output file of a leased job into coordinator storage (remote encoders)',
        tags: ['agent'],
        params: z.object({ jobId: z.string().min(1).max(64), '*': z.string().min(1).max(1024) }),
        headers: z.object({ 'x-lease-token': z.string().min(1).max(256) }),
        response: { 201: z.object({ path: z.string(), bytes: z.number() }) },
      },
    },
    async (req, reply) => {
      const { jobId } = req.params;
      const rel = req.params['*'];
      // The PUT names no encoder: the live lease's holder must present its token. Renewing checks
      // token and holder together (fenced) and keeps the lease alive during long uploads.
      const holder = (await store.get(jobId)).lease?.encoderId;
      if (!holder) throw new LeaseLostError(`no live lease on job ${jobId}`);
      const grant = req.principal?.grant;
      if (
        grant &&
        (grant.jobId !== jobId || grant.leaseSha256 !== leaseSha256(req.headers['x-lease-token']))
      ) {
        throw new NotLeaseHolderError('the upload grant names another job or lease');
      }
      await assertActsFor(store, req.principal, holder);
      const renewed = await store.renew(jobId, req.headers['x-lease-token'], holder);
      if (renewed.cancelled) throw new LeaseLostError(`job ${jobId} was cancelled`);
      // safeJoin refuses `..`, absolute paths, NUL, backslashes and encoded traversal (storage module).
      const jobRoot = safeJoin(opts.mediaRoot, jobId);
      const target = safeJoin(jobRoot, rel);
      await mkdir(dirname(target), { recursive: true });
      const part = `${target}.${process.pid}.part`;
      let bytes = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          bytes += chunk.length;
          if (bytes > opts.maxUploadBytes)
            cb(new PayloadTooLargeError('output file exceeds the upload limit'));
          else cb(null, chunk);
        },
      });
      try {
        await pipeline(req.body as NodeJS.ReadableStream, meter, createWriteStream(part));
        await rename(part, target);
      } catch (err) {
        await rm(part, { force: true });
        throw err;
      }
      return reply.status(201).send({ path: join(jobId, rel), bytes });
    },
  );
};

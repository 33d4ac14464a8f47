import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { Queryable } from '../../jobs/db.js';
import type { Encoder, Job, JobStore } from '../../jobs/index.js';
import { LeaseLostError } from '../../jobs/index.js';
import type { JobSpec } from '../../jobs/spec.js';
import {
  claimHandoutSchema,
  claimRequestSchema,
  claimScopeOf,
  completeRequestSchema,
  completionRows,
  encodePlanOf,
  failRequestSchema,
  handOut,
  heartbeatRequestSchema,
  mayHoldSecrets,
  progressAnswerSchema,
  progressRequestSchema,
  registrationSchema,
  releaseRequestSchema,
  type SourceLimits,
  trustOf,
} from '../../protocol/index.js';
import {
  isMediaFile,
  type SourceRef,
  type StorageContext,
  safeJoin,
  safeSegments,
} from '../../storage/index.js';
import { createReputationStore, reputationScore, type VerificationPolicy } from '../../trust/index.js';
import {
  AgentNotPairedError,
  EncoderNotAllowedError,
  EncoderPendingApprovalError,
  ForbiddenError,
  NotLeaseHolderError,
  PayloadTooLargeError,
  UnauthorizedError,
} from '../errors.js';
import type { Principal } from '../plugins/auth.js';
import { leaseSha256 } from '../plugins/identity.js';
import type { SourceRelay } from '../relay.js';
import { encoderViewSchema, jobViewSchema } from '../schemas.js';
import { measureUploadSource } from '../source-needs.js';
import { createStagedResults } from '../staged-results.js';
import { encoderView, encoderVisibleTo, jobView } from '../views.js';
import { uploadPath } from './uploads.js';

export interface AgentRouteOptions {
  store: JobStore;
  /** Base URL of this coordinator (known once it listens). */
  publicUrl: () => string;
  /** Base URL of published media (`<public or media origin>/media`); default `<publicUrl>/media`. */
  mediaBase?: () => string;
  /** `<dataDir>/media`: where output PUTs of trusted remote encoders land (`<jobId>/<path>`). */
  mediaRoot: string;
  /**
   * `<dataDir>/staging`: where output PUTs of encoders that may not hold the job's credentials land
   * (`<jobId>/<path>`, never served); published by the coordinator on completion (src/coordinator/staging.ts).
   */
  stagingRoot: string;
  /** `<dataDir>/uploads`: upload sources the lease-bound source route serves. */
  uploadsDir: string;
  /** The coordinator's storage context: publishes staged outputs and fetches relayed sources. */
  storage: () => StorageContext;
  /** Fetches and streams sources for encoders that read through the coordinator. */
  relay: SourceRelay;
  /**
   * Verification of staged results before they are published (src/trust, docs/verification.md):
   * the reputation store lives in `db`. Absent: staged results are published unverified.
   */
  verification?: {
    db: Queryable;
    policy: VerificationPolicy;
    /** Segments re-encoded per rendition (default 2). */
    spotSegments?: number;
    /** Lowest SSIM of a spot-checked segment against the verifier's own encode (default 0.95). */
    minSsim?: number;
  };
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

/**
 * Who may act for an encoder: a did:key principal only for the encoder registered with its DID; an
 * API-key principal only for encoders registered without a DID, and a tenant key only for its own
 * tenant's (operator encoders, tenant null, answer only to operator keys). Banned encoders are refused; `pending` ones too unless `allowPending`
 * (heartbeats). Throws 403 errors (`not_lease_holder`, `encoder_not_allowed`,
 * `encoder_pending_approval`) or 404 when the encoder is unknown.
 */
export async function assertActsFor(
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
  } else if (principal?.tenant !== undefined && encoder.tenant !== principal.tenant) {
    // A tenant key acts only for its tenant's encoders; the operator's (tenant null) are the operator's.
    throw new NotLeaseHolderError(
      encoder.tenant === null
        ? `encoder ${id} is an operator encoder: only operator keys act for it`
        : `encoder ${id} belongs to another tenant`,
    );
  }
  if (encoder.approval === 'banned') throw new EncoderNotAllowedError(`encoder ${id} is banned`);
  if (encoder.approval === 'suspended') {
    throw new EncoderNotAllowedError(`encoder ${id} is suspended after failed verifications`);
  }
  if (encoder.approval === 'pending' && !options.allowPending) {
    throw new EncoderPendingApprovalError(`encoder ${id} waits for an operator's approval`);
  }
  return encoder;
}

/** The lease token of a streamed transfer (`X-Lease-Token`). */
export const leaseHeaders = z.object({ 'x-lease-token': z.string().min(1).max(256) });

/**
 * The live lease of `jobId`, checked for a streamed transfer: the caller acts for the holder, an
 * upload grant (if any) names this job and token, and the token renews the lease (fenced by token and
 * holder, so a stale token is 409 `lease_lost`). Returns the job, its holder and the renewed state.
 */
export async function assertHoldsLease(
  store: JobStore,
  principal: Principal | undefined,
  jobId: string,
  leaseToken: string,
): Promise<{ job: Job; holder: Encoder }> {
  const job = await store.get(jobId);
  const holderId = job.lease?.encoderId;
  if (!holderId) throw new LeaseLostError(`no live lease on job ${jobId}`);
  const grant = principal?.grant;
  if (grant && (grant.jobId !== job.id || grant.leaseSha256 !== leaseSha256(leaseToken))) {
    throw new NotLeaseHolderError('the upload grant names another job or lease');
  }
  const holder = await assertActsFor(store, principal, holderId);
  const renewed = await store.renew(job.id, leaseToken, holderId);
  if (renewed.cancelled) throw new LeaseLostError(`job ${jobId} was cancelled`);
  return { job, holder };
}

/** True when this encoder's outputs of `job` are staged on the coordinator (it may not hold secrets). */
const stagesOutputs = (encoder: Encoder, job: Job) => !mayHoldSecrets(encoder, job.tenant);

/**
 * Encoder registration/heartbeat and the agent work API (claim long-poll, progress = lease renewal,
 * complete, fail, release, the lease-bound source relay and output PUTs). Message shapes are
 * src/protocol/wire.ts; every call after claim names `{encoderId, jobId, leaseToken}`, a stale lease is
 * 409 `lease_lost` (problem details). What a claim hands out depends on the encoder's trust
 * (src/protocol/handout.ts): untrusted encoders get no credential, read sources through
 * `GET /agent/jobs/:jobId/source` and stage outputs that the coordinator publishes on completion.
 */
export const agentRoutes: FastifyPluginAsyncZod<AgentRouteOptions> = async (app, opts) => {
  const { store } = opts;
  // Concurrent completions of one staged job (an encoder retrying after a timeout) share one publish.
  const finishing = new Map<string, Promise<Job>>();
  const reputation = opts.verification ? createReputationStore(opts.verification.db) : undefined;
  const staged = createStagedResults({
    store,
    stagingRoot: opts.stagingRoot,
    uploadsDir: opts.uploadsDir,
    relay: opts.relay,
    storage: opts.storage,
    ...(opts.openSpec ? { openSpec: opts.openSpec } : {}),
    ...(opts.verification ? { verification: opts.verification } : {}),
  });

  app.post(
    '/encoders/register',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'registerEncoder',
        summary: 'Register an encoder (the same identity re-registering updates its row)',
        tags: ['encoders'],
        body: registrationSchema,
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
      // A desktop agent works for the user its DID was paired with (docs/encoders.md); a browser
      // encoder does when paired. Only the pairing decides, never what the encoder declares.
      const binding =
        did !== undefined && (req.body.kind === 'desktop' || req.body.kind === 'browser')
          ? await store.getAgentBinding(did)
          : null;
      if (did !== undefined && req.body.kind === 'desktop' && !binding) {
        throw new AgentNotPairedError(
          'a desktop agent registers after its did:key was paired with a user (vidmesh agent pair)',
        );
      }
      // A re-registration keeps the operator's decision (the store leaves `approval` of an existing row).
      // The tenant is part of a keyed encoder's identity (the store derives its id from it), so no
      // tenant can re-register over another tenant's or the operator's encoder.
      const encoder = await store.registerEncoder({
        name: req.body.name,
        kind: req.body.kind,
        version: req.body.version,
        capabilities: req.body.capabilities,
        did,
        tenant: p?.tenant,
        approval,
        user: binding ? { tenant: binding.tenant, name: binding.user } : null,
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
        body: heartbeatRequestSchema,
        response: { 200: z.object({ ok: z.literal(true) }) },
      },
    },
    async (req) => {
      await assertActsFor(store, req.principal, req.body.encoderId, { allowPending: true });
      const { host, load } = req.body;
      await store.heartbeatEncoder(req.body.encoderId, { host, load });
      return { ok: true as const };
    },
  );

  app.get(
    '/encoders',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listEncoders',
        summary:
          "Registered encoders with status, capabilities and counters (a tenant key sees its tenant's)",
        tags: ['encoders'],
        response: { 200: z.object({ encoders: z.array(encoderViewSchema) }) },
      },
    },
    async (req) => {
      const tenant = req.principal?.tenant;
      const all = await store.listEncoders();
      const records = reputation ? await reputation.all() : new Map();
      return {
        encoders: all
          // Never another tenant's encoders or its users' desktop agents.
          .filter((e) => encoderVisibleTo(e, tenant))
          .map((e) => encoderView(e, records.get(e.id))),
      };
    },
  );

  app.post(
    '/agent/claim',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'claimJob',
        summary: 'Long-poll for a job; 204 when none came within waitMs',
        tags: ['agent'],
        body: claimRequestSchema,
        response: {
          200: claimHandoutSchema,
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
        // Only verified encoders have a score; a job's minScore never holds back a trusted one.
        const score =
          reputation && trustOf(encoder) === 'community'
            ? reputationScore(await reputation.get(encoder.id))
            : 1;
        const claim = await store.claim(
          { id: encoder.id, kind: encoder.kind, scope: claimScopeOf(encoder), score },
          encoder.capabilities,
          { waitMs: Math.min(req.body.waitMs, opts.claimMaxWaitMs), signal: abort.signal },
        );
        if (!claim) return reply.status(204).send(null);
        if (abort.signal.aborted) {
          await store.release(claim.job.id, claim.leaseToken, encoder.id, 'claimant disconnected');
          return reply.status(204).send(null);
        }
        // Sealed secrets are opened only here, and only for an encoder that may hold them.
        const handout = handOut(claim, encoder, {
          ...(opts.openSpec ? { openSpec: opts.openSpec } : {}),
          ...(opts.sourceLimits ? { limits: opts.sourceLimits } : {}),
        });
        if (encoder.kind !== 'browser') return handout;
        // A browser cannot run ffprobe: it gets the coordinator's plan (the claim filter gave it only
        // a measured upload job), and matches it so that its result verifies.
        const measured = await measureUploadSource(opts.uploadsDir, claim.job.spec as JobSpec, req.log);
        const plan = measured && encodePlanOf(measured.plan);
        if (!plan) {
          await store.release(claim.job.id, claim.leaseToken, encoder.id, 'no plan for a browser encoder');
          return reply.status(204).send(null);
        }
        return { ...handout, plan };
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
        body: progressRequestSchema,
        response: { 200: progressAnswerSchema },
      },
    },
    async (req) => {
      const b = req.body;
      await assertActsFor(store, req.principal, b.encoderId);
      const renewed = await store.renew(b.jobId, b.leaseToken, b.encoderId, {
        stage: b.stage,
        progress: b.progress,
        etaS: b.etaS,
        speed: b.speed,
        fps: b.fps,
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
        body: completeRequestSchema,
        response: { 200: z.object({ job: jobViewSchema }) },
      },
    },
    async (req) => {
      const b = req.body;
      const encoder = await assertActsFor(store, req.principal, b.encoderId);
      if (b.logs?.length) await store.appendLogs(b.jobId, b.leaseToken, b.encoderId, b.logs).catch(() => {});
      const renditions = completionRows(b.result);
      const current = await store.get(b.jobId);
      if (!stagesOutputs(encoder, current)) {
        const job = await store.complete(b.jobId, b.leaseToken, b.encoderId, {
          result: b.result,
          renditions,
          encodeSeconds: b.result.encode.wallS,
        });
        await opts.relay.drop(job.id);
        return { job: jobView(job, opts.publicUrl(), opts.mediaBase?.()) };
      }
      // A retried report of a job this encoder already completed (the publish outlived its timeout).
      if (current.status === 'completed' && current.encoderId === encoder.id) {
        return { job: jobView(current, opts.publicUrl(), opts.mediaBase?.()) };
      }
      let pending = finishing.get(current.id);
      if (!pending) {
        pending = staged
          .complete(b, current, encoder, renditions)
          .finally(() => finishing.delete(current.id));
        finishing.set(current.id, pending);
      }
      return { job: jobView(await pending, opts.publicUrl(), opts.mediaBase?.()) };
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
        body: failRequestSchema,
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
      // Staged files of a failed attempt are never published; the next attempt stages afresh.
      await rm(safeJoin(opts.stagingRoot, job.id), { recursive: true, force: true });
      if (job.status === 'dead') await opts.relay.drop(job.id);
      return { job: jobView(job, opts.publicUrl(), opts.mediaBase?.()) };
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
        body: releaseRequestSchema,
        response: { 200: z.object({ job: jobViewSchema }) },
      },
    },
    async (req) => {
      const b = req.body;
      await assertActsFor(store, req.principal, b.encoderId);
      const job = await store.release(b.jobId, b.leaseToken, b.encoderId, b.reason);
      await rm(safeJoin(opts.stagingRoot, job.id), { recursive: true, force: true });
      return { job: jobView(job, opts.publicUrl(), opts.mediaBase?.()) };
    },
  );

  app.get(
    '/agent/jobs/:jobId/source',
    {
      config: { scope: 'encoder', acceptsGrant: true },
      schema: {
        operationId: 'getJobSource',
        summary:
          "A leased job's source, streamed by the coordinator (encoders that may not hold its credentials)",
        description:
          'Needs the live lease (`X-Lease-Token`) of the caller. `Range: bytes=N-` resumes once the ' +
          'coordinator holds the whole source; before that the answer is the whole stream (200).',
        tags: ['agent'],
        params: z.object({ jobId: z.string().min(1).max(64) }),
        headers: leaseHeaders,
      },
    },
    async (req, reply) => {
      const { job } = await assertHoldsLease(
        store,
        req.principal,
        req.params.jobId,
        req.headers['x-lease-token'],
      );
      const spec = (opts.openSpec ? opts.openSpec(job.spec) : job.spec) as { source?: SourceRef };
      const source = spec.source;
      if (!source) throw new NotFoundError(`job ${job.id} has no source`);
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      const offset = range ? Number(range[1]) : 0;
      reply.type('application/octet-stream');
      if (source.type === 'upload') {
        const path = await uploadPath(opts.uploadsDir, source.id);
        const { size } = await stat(path);
        if (offset > 0 && offset < size) {
          reply.status(206).header('content-range', `bytes ${offset}-${size - 1}/${size}`);
          reply.header('content-length', String(size - offset));
          return reply.send(createReadStream(path, { start: offset }));
        }
        reply.header('content-length', String(size));
        return reply.send(createReadStream(path));
      }
      const abort = new AbortController();
      reply.raw.once('close', () => abort.abort());
      const opened = await opts.relay.open(job.id, source, offset, abort.signal);
      if (opened.total !== undefined && offset > 0 && offset < opened.total) {
        reply.status(206).header('content-range', `bytes ${offset}-${opened.total - 1}/${opened.total}`);
        reply.header('content-length', String(opened.total - offset));
      } else if (opened.total !== undefined) {
        reply.header('content-length', String(opened.total));
      }
      return reply.send(opened.stream);
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
        summary: 'Stream one output file of a leased job to the coordinator (media files only)',
        description:
          "Trusted encoders' files land in the job's `local` destination; the files of encoders that may " +
          'not hold the job credentials are staged and published by the coordinator on completion. ' +
          'Only media file types are accepted (415 `unsupported_media_type` otherwise).',
        tags: ['agent'],
        params: z.object({ jobId: z.string().min(1).max(64), '*': z.string().min(1).max(1024) }),
        headers: leaseHeaders,
        response: { 201: z.object({ path: z.string(), bytes: z.number() }) },
      },
    },
    async (req, reply) => {
      const rel = req.params['*'];
      // Before the body is read: a traversal is 400 `unsafe_path`, and an HTML, SVG or script file must
      // never reach a served folder.
      safeSegments(rel);
      if (!isMediaFile(rel)) {
        throw new UnsupportedOutputTypeError(`${rel}: only media files may be uploaded as outputs`);
      }
      const { job, holder } = await assertHoldsLease(
        store,
        req.principal,
        req.params.jobId,
        req.headers['x-lease-token'],
      );
      const root = stagesOutputs(holder, job) ? opts.stagingRoot : opts.mediaRoot;
      // safeJoin refuses `..`, absolute paths, NUL, backslashes and encoded traversal (storage module).
      const target = safeJoin(safeJoin(root, job.id), rel);
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
      return reply.status(201).send({ path: join(job.id, rel), bytes });
    },
  );
};

/** An output upload whose file type is not media (by extension). HTTP 415. */
class UnsupportedOutputTypeError extends ValidationError {
  override readonly code: string = 'unsupported_media_type';
  override readonly status: number = 415;
}

/**
 * The coordinator as a 3Speak gateway: `/api/v0/gateway/*` with the legacy request and response
 * shapes (spknetwork/video-encoder `src/api/gateway.controller.ts`, and the modern encoder's client
 * Mantequilla-Soft/3speakencoder fdf0111 `src/services/GatewayClient.ts`), on vidmesh's lease store.
 *
 * POST bodies are `{"jws": <General JWS>}` signed by the node's did:key (dids + key-did-provider-ed25519
 * stack); the DID in the `kid` is the node's identity. Legacy payloads carry no nonce, so replays are
 * limited by idempotence (accept/ping/finish repeated by the holder change nothing new) and, for the
 * payloads that carry a `timestamp` (myJob, heartbeat), by a freshness window.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError, VidmeshError } from '../../errors.js';
import { verifyJws } from '../../identity/index.js';
import {
  type Encoder,
  EncoderNotFoundError,
  type Job,
  JobNotFoundError,
  type JobStore,
  type Queryable,
} from '../../jobs/index.js';
import { parseCompletionResult } from '../../protocol/result.js';
import { createAidSecrets } from './aid-auth.js';
import {
  type ClientGeneration,
  clientGeneration,
  EMBED_WEBHOOK_ROUTE,
  type EmbedJob,
  embedApiKey,
  embedKeyMatches,
  embedProgressSchema,
  embedWebhookSchema,
  embedWebhookUrl,
  generationOfNodeInfo,
  generationTag,
  toEmbedJob,
} from './embed.js';
import { ipfsPathRoute, kuboRpcRoutes, readIpfsFile, verifyDag } from './kubo.js';
import {
  type GatewayJob,
  THREESPEAK_TAG,
  threeSpeakMeta,
  threeSpeakSubmitInput,
  toGatewayJob,
} from './legacy.js';
import { type ManagedEncoderTarget, startManagedDispatch } from './managed.js';
import { ACTIVE_BY_ENCODER, LIST_QUEUED, OLDEST_QUEUED, STATS, UNACKED_BY_ENCODER } from './sql.js';

/** The job is held by another node (or none): the legacy client treats 409 as "taken". */
export class NotJobHolderError extends VidmeshError {
  override readonly code: string = 'not_job_holder';
  override readonly status: number = 409;
}

/** A signed payload's `timestamp` is outside the freshness window (replay or clock skew). */
export class StalePayloadError extends VidmeshError {
  override readonly code: string = 'stale_payload';
  override readonly status: number = 401;
}

/** The node is banned, or the DID is not allowed for this route. */
export class NodeForbiddenError extends VidmeshError {
  override readonly code: string = 'node_forbidden';
  override readonly status: number = 403;
}

/** The `X-API-Key` of an embed webhook is not the job's per-lease key. */
export class EmbedKeyError extends VidmeshError {
  override readonly code: string = 'invalid_api_key';
  override readonly status: number = 401;
}

/** The CID given to `finishJob` is not (completely) in the embedded store or lacks `manifest.m3u8`. */
export class ResultNotStoredError extends VidmeshError {
  override readonly code: string = 'result_not_stored';
  override readonly status: number = 422;
}

export interface ThreeSpeakGatewayOptions {
  store: JobStore;
  /** The job store's database (for the protocol-filtered claim and lease look-ups). */
  db: Queryable;
  /** Embedded IPFS blockstore directory (the kubo subset writes it; `finishJob` CIDs are checked in it). */
  blockstoreDir: string;
  version: string;
  /**
   * Lease granted at claim and renewed by each acceptJob/pingJob, ms (default 300 000: 3Speak
   * reassigns a job 5 min after the last ping). Not the store's lease (`VIDMESH_LEASE_MS`): the
   * legacy client pings nothing while it downloads the source, so a shorter lease re-encodes slow
   * downloads on a second node.
   */
  leaseMs?: number;
  /**
   * Lease of a `myJob` hand-out until the node's `acceptJob`, ms (default 60 000). One that expires
   * unacknowledged is re-queued without counting an attempt and goes to another polling node first.
   */
  ackTimeoutMs?: number;
  /** Jobs a legacy node holds at once (legacy nodes do not report it; default 1). */
  capacity?: number;
  /** A node that polled `myJob` within this window counts for fairness, ms (default 60 000). */
  fairWindowMs?: number;
  /** Accepted `timestamp` skew for myJob/heartbeat payloads, ms (default 300 000). */
  maxSkewMs?: number;
  /** DIDs allowed to use Gateway Aid (`/aid/v1/*`) with signed `{jws}` bodies. */
  aidDids?: readonly string[];
  /**
   * Per-node Gateway Aid secrets, `[did, secret]`: the real client's unsigned Aid requests (a JSON
   * body and `X-Encoder-DID`) are accepted only with that DID's secret in `Authorization: Basic`
   * (any user name: axios sends `GATEWAY_AID_BASE_URL`'s user-info so) or `Bearer`. Neither list:
   * Aid answers only `health`.
   */
  aidSecrets?: readonly (readonly [string, string])[];
  /** DIDs allowed to `pushJob` and to cancel any job (3Speak `admin.controllers`). */
  adminDids?: readonly string[];
  /**
   * kubo `add`/`pin/add` accept uploads only from addresses a job holder accepted or pinged from within
   * `uploadWindowMs` (default 6 h), since legacy nodes upload without credentials; `openUploads` lifts it.
   */
  uploadWindowMs?: number;
  openUploads?: boolean;
  /**
   * Whether a request carries an operator credential (an admin-scoped API key: the operator seeds
   * sources with `vidmesh ipfs add`). Resolves false when none is presented; may throw 401 for a
   * credential that is presented but unknown. Unset: no credential opens uploads.
   */
  isOperator?: (req: FastifyRequest) => Promise<boolean>;
  /**
   * Base URL encoders reach this coordinator at, for the embed protocol's `webhook_url` (default: the
   * scheme and Host of the polling request).
   */
  publicUrl?: () => string;
  /**
   * Managed mode: Direct APIs of 3Speak encoders to push jobs to (`POST /encode`), and the base URL
   * they reach this coordinator's webhooks at. See {@link startManagedDispatch}.
   */
  managed?: {
    encoders: readonly ManagedEncoderTarget[];
    webhookBase: () => string;
    /**
     * Dispatch only while this returns true: the maintenance leader, when several coordinators
     * share the database (default: always, one coordinator).
     */
    isLeader?: () => boolean;
    intervalMs?: number;
    restMs?: number;
  };
  /** Also verify every block of a `finishJob` CID (default true); false checks the playlists only. */
  verifyFullDag?: boolean;
  clock?: () => Date;
}

interface Signed {
  did: string;
  payload: Record<string, unknown>;
}

function jobIdOf(p: Record<string, unknown>): string {
  const id = p.job_id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) {
    throw new ValidationError('payload.job_id is required');
  }
  return id;
}

/**
 * Registers the 3Speak gateway routes, the kubo RPC subset and `GET /ipfs/*` on `app` (register it
 * outside the `/api/v1` auth scope: legacy nodes authenticate by JWS, not API keys). Errors answer
 * `{status: "error", message, code}` (legacy clients read `message`).
 */
export async function threeSpeakGatewayRoutes(
  app: FastifyInstance,
  opts: ThreeSpeakGatewayOptions,
): Promise<void> {
  const { store, db } = opts;
  const clock = opts.clock ?? (() => new Date());
  const leaseMs = opts.leaseMs ?? 300_000;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 60_000;
  const capacity = opts.capacity ?? 1;
  const fairWindowMs = opts.fairWindowMs ?? 60_000;
  const maxSkewMs = opts.maxSkewMs ?? 300_000;
  const admins = new Set(opts.adminDids ?? []);
  const aidAllowed = new Set(opts.aidDids ?? []);
  const aidSecrets = createAidSecrets(opts.aidSecrets ?? []);
  const lastPoll = new Map<string, number>();
  const didById = new Map<string, string>();

  // Addresses of nodes that recently accepted or renewed a job: legacy nodes upload with kubo `add`
  // without credentials, so writes to the store are only taken from where a job holder spoke from.
  const signedFrom = new Map<string, number>();
  const uploadWindowMs = opts.uploadWindowMs ?? 6 * 3_600_000;

  async function verifyBody(body: unknown): Promise<Signed> {
    const jws = (body as { jws?: unknown } | null)?.jws;
    if (jws === undefined || jws === null) throw new ValidationError('body must be {"jws": <General JWS>}');
    const v = await verifyJws(jws as never);
    const payload = v.payload;
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new ValidationError('JWS payload must be a JSON object');
    }
    return { did: v.did, payload: payload as Record<string, unknown> };
  }

  const holderSpokeFrom = (ip: string) => signedFrom.set(ip, clock().getTime());

  async function mayUpload(req: FastifyRequest): Promise<boolean> {
    // A presented credential decides on its own: a wrong key is refused even from a node's address.
    if (opts.isOperator && req.headers.authorization !== undefined) return opts.isOperator(req);
    if (opts.openUploads) return true;
    const at = signedFrom.get(req.ip);
    return at !== undefined && clock().getTime() - at <= uploadWindowMs;
  }

  function checkFresh(p: Record<string, unknown>): void {
    if (p.timestamp === undefined) return;
    const t = typeof p.timestamp === 'string' ? Date.parse(p.timestamp) : Number.NaN;
    if (!Number.isFinite(t) || Math.abs(clock().getTime() - t) > maxSkewMs) {
      throw new StalePayloadError('payload timestamp outside the accepted window');
    }
  }

  /**
   * The node's encoder row, registered on first contact (legacy nodes may skip updateNode). With
   * `generation` (from `updateNode`'s shape) the row records which client generation it runs.
   */
  async function nodeFor(
    did: string,
    name?: string,
    version?: string,
    generation?: ClientGeneration,
  ): Promise<Encoder> {
    let enc: Encoder;
    try {
      enc = await store.getEncoder(did);
      if (name !== undefined) enc = await register(did, name, version, generation);
      else enc = await store.heartbeatEncoder(enc.id);
    } catch (err) {
      if (!(err instanceof EncoderNotFoundError)) throw err;
      enc = await register(did, name ?? `3speak-${did.slice(-8)}`, version, generation);
    }
    if (enc.approval === 'banned' || enc.approval === 'suspended') {
      throw new NodeForbiddenError(`this node is ${enc.approval}`);
    }
    didById.set(enc.id, did);
    return enc;
  }

  function register(
    did: string,
    name: string,
    version?: string,
    generation?: ClientGeneration,
  ): Promise<Encoder> {
    return store.registerEncoder({
      did,
      name: name.slice(0, 128) || `3speak-${did.slice(-8)}`,
      kind: 'community',
      capabilities: {
        codecs: ['h264', 'aac'],
        hwaccel: [],
        maxHeight: 1080,
        concurrency: capacity,
        tags: generation ? [THREESPEAK_TAG, generationTag(generation)] : [THREESPEAK_TAG],
      },
      ...(version ? { version: version.slice(0, 64) } : {}),
    });
  }

  /**
   * A call only one client generation makes (acceptJob/pingJob/finishJob: legacy; the job webhook's
   * progress: embed) records that generation on a node whose row says otherwise or nothing.
   */
  async function noteGeneration(enc: Encoder, generation: ClientGeneration): Promise<void> {
    const tags = enc.capabilities.tags ?? [];
    if (!enc.did || tags.includes(generationTag(generation))) return;
    await register(enc.did, enc.name, enc.version ?? undefined, generation);
  }

  async function didOfEncoder(id: string | null): Promise<string | null> {
    if (!id) return null;
    const known = didById.get(id);
    if (known) return known;
    try {
      const did = (await store.getEncoder(id)).did;
      if (did) didById.set(id, did);
      return did;
    } catch {
      return null;
    }
  }

  async function view(job: Job): Promise<GatewayJob> {
    const meta = threeSpeakMeta(job);
    if (!meta) throw new JobNotFoundError(`job ${job.id} is not a 3Speak job`);
    const holder = job.lease?.encoderId ?? (job.status === 'completed' ? job.encoderId : null);
    return toGatewayJob(job, meta, await didOfEncoder(holder));
  }

  async function get3speak(id: string): Promise<Job> {
    const job = await store.get(id);
    if (job.protocol !== '3speak') throw new JobNotFoundError(`job ${id} not found`);
    return job;
  }

  const holderToken = (jobId: string, encoderId: string) => store.leaseOf(jobId, encoderId);

  /**
   * Hands a job to the node with the short acknowledgement lease (acceptJob renews it to `leaseMs`).
   * `passOver`: skip jobs this node left unacknowledged (another node polls and has room).
   */
  async function claim(encoderId: string, jobId: string | null, passOver = false): Promise<string | null> {
    const c = await store.claimForProtocol(encoderId, {
      protocol: '3speak',
      capacity,
      leaseMs: ackTimeoutMs,
      ...(jobId === null ? {} : { jobId }),
      ...(passOver ? { passOver: encoderId } : {}),
    });
    return c?.job.id ?? null;
  }

  /**
   * Hands an embed job to `encoderId` (embed poll or managed push): the embed protocol has no
   * acknowledgement, so the lease starts as a running 3Speak lease at once, renewed by the client's
   * progress calls. Only jobs whose source is a bare `ipfs://CID` (the client takes CIDs only).
   */
  async function claimEmbed(
    encoderId: string,
    base: string,
    passOver: boolean,
    acknowledged = true,
  ): Promise<{ job: Job; token: string; embed: EmbedJob } | null> {
    const c = await store.claimForProtocol(encoderId, {
      protocol: '3speak',
      capacity,
      leaseMs: acknowledged ? leaseMs : ackTimeoutMs,
      ipfsOnly: true,
      ...(passOver ? { passOver: encoderId } : {}),
    });
    if (!c) return null;
    const meta = threeSpeakMeta(c.job);
    const embed = meta && toEmbedJob(meta, embedWebhookUrl(base, c.job), embedApiKey(c.leaseToken, c.job.id));
    if (!embed) {
      // A source with a path inside the CID: hand it back rather than lease what the client cannot fetch.
      await store.release(c.job.id, c.leaseToken, encoderId, 'source is not a bare IPFS CID');
      return null;
    }
    if (acknowledged) await startEmbed(c.job.id, c.leaseToken, encoderId);
    return { job: c.job, token: c.leaseToken, embed };
  }

  const startEmbed = (jobId: string, token: string, encoderId: string) =>
    store.renew(jobId, token, encoderId, { stage: 'downloading', progress: 0 }, { leaseMs });

  const managed = opts.managed;
  if (managed && managed.encoders.length > 0) {
    const tokens = new Map<string, string>();
    const dispatch = startManagedDispatch({
      encoders: managed.encoders,
      register: async (target) => {
        const host = new URL(target.url).host;
        const enc = await store.registerEncoder({
          name: `3speak-direct ${host}`.slice(0, 128),
          kind: 'community',
          capabilities: {
            codecs: ['h264', 'aac'],
            hwaccel: [],
            maxHeight: 1080,
            concurrency: capacity,
            tags: [THREESPEAK_TAG],
          },
        });
        return enc.id;
      },
      handOut: async (encoderId) => {
        // Before the server listens there is no URL to give for the webhooks yet.
        const base = managed.webhookBase();
        if (!base) return null;
        const given = await claimEmbed(encoderId, base, false, false);
        if (!given) return null;
        tokens.set(given.job.id, given.token);
        return { jobId: given.job.id, encoderId, embed: given.embed };
      },
      acknowledged: async (h) => {
        const token = tokens.get(h.jobId);
        tokens.delete(h.jobId);
        if (token) await startEmbed(h.jobId, token, h.encoderId);
      },
      handBack: async (h, reason) => {
        const token = tokens.get(h.jobId);
        tokens.delete(h.jobId);
        if (token) await store.release(h.jobId, token, h.encoderId, reason);
      },
      ...(managed.isLeader ? { isLeader: managed.isLeader } : {}),
      // A push ends before its hand-out lease can lapse: a job is never pushed again while the push
      // that holds it is still waiting for an answer.
      pushTimeoutMs: Math.max(1, Math.min(10_000, Math.floor(ackTimeoutMs / 2))),
      ...(managed.intervalMs ? { intervalMs: managed.intervalMs } : {}),
      ...(managed.restMs ? { restMs: managed.restMs } : {}),
    });
    app.addHook('onClose', async () => dispatch.stop());
  }

  async function activeCounts(): Promise<Map<string, number>> {
    const r = await db.query<{ encoder_id: string; n: number }>(ACTIVE_BY_ENCODER);
    return new Map(r.rows.map((x) => [x.encoder_id, Number(x.n)]));
  }

  /**
   * Round-robin fairness without a central assigner: a node may take another job only when no other
   * node that polled recently and has free capacity holds fewer jobs (it gets the next one first).
   */
  function fairToGive(encoderId: string, active: Map<string, number>): boolean {
    const mine = active.get(encoderId) ?? 0;
    if (mine >= capacity) return false;
    for (const id of livePollers(encoderId)) {
      const theirs = active.get(id) ?? 0;
      if (theirs < capacity && theirs < mine) return false;
    }
    return true;
  }

  /** Other nodes that polled `myJob` within the fairness window (stale entries are dropped). */
  function livePollers(encoderId: string): string[] {
    const now = clock().getTime();
    const live: string[] = [];
    for (const [id, at] of lastPoll) {
      if (id === encoderId) continue;
      if (now - at > fairWindowMs) lastPoll.delete(id);
      else live.push(id);
    }
    return live;
  }

  /** Another live node has room: jobs this node left unacknowledged wait for it. */
  const othersHaveRoom = (encoderId: string, active: Map<string, number>) =>
    livePollers(encoderId).some((id) => (active.get(id) ?? 0) < capacity);

  // Capacity is checked then claimed: serialise each node's claims so its own concurrent polls
  // cannot both pass the check (one coordinator; the SQL guard narrows it across coordinators).
  const nodeLocks = new Map<string, Promise<unknown>>();
  function withNodeLock<T>(encoderId: string, fn: () => Promise<T>): Promise<T> {
    const prev = nodeLocks.get(encoderId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    nodeLocks.set(encoderId, settled);
    void settled.then(() => {
      if (nodeLocks.get(encoderId) === settled) nodeLocks.delete(encoderId);
    });
    return next;
  }

  /** Acknowledges a job the node holds, or claims a queued one it names (getJob / Gateway Aid flow). */
  async function accept(enc: Encoder, jobId: string): Promise<Job> {
    const job = await get3speak(jobId);
    let lease = await holderToken(job.id, enc.id);
    if (!lease && (job.status === 'queued' || job.status === 'failed')) {
      if (enc.approval !== 'approved') throw new NodeForbiddenError('node not approved');
      const claimed = await withNodeLock(enc.id, async () => {
        const active = await activeCounts();
        if ((active.get(enc.id) ?? 0) >= capacity) throw new NotJobHolderError('node at capacity');
        return claim(enc.id, job.id);
      });
      if (claimed) lease = await holderToken(job.id, enc.id);
    }
    if (!lease || lease.status === 'cancelled') throw new NotJobHolderError('job not assigned to this node');
    if (lease.status === 'leased') {
      await store.renew(job.id, lease.token, enc.id, { stage: 'downloading', progress: 0 }, { leaseMs });
    }
    return store.get(job.id);
  }

  /** Renews the holder's lease with progress (percent); 409 when not the holder or cancelled. */
  async function ping(enc: Encoder, jobId: string, pct: number, downloadPct: number): Promise<void> {
    const lease = await holderToken(jobId, enc.id);
    if (!lease) throw new NotJobHolderError('job not assigned to this node');
    const progress = Number.isFinite(pct) ? Math.min(100, Math.max(0, pct)) : 0;
    const stage =
      progress >= 100 ? 'uploading' : progress > 1 || downloadPct >= 100 ? 'encoding' : 'downloading';
    const r = await store.renew(jobId, lease.token, enc.id, { stage, progress }, { leaseMs });
    if (r.cancelled) throw new NotJobHolderError('job cancelled');
  }

  /** Completes the job with `cid` once; true when it was already completed by this node with it. */
  async function finish(enc: Pick<Encoder, 'id'>, jobId: string, cid: unknown): Promise<boolean> {
    if (typeof cid !== 'string' || cid.length === 0 || cid.length > 128) {
      throw new ValidationError('the result CID is required');
    }
    const job = await get3speak(jobId);
    if (job.status === 'completed') {
      const same = job.encoderId === enc.id && parseCompletionResult(job.result)?.publish.cid === cid;
      if (same) return true;
      throw new NotJobHolderError('job already completed by another node');
    }
    const lease = await holderToken(job.id, enc.id);
    if (!lease || lease.status === 'cancelled') throw new NotJobHolderError('job not assigned to this node');
    const made = await checkResult(cid);
    await store.complete(job.id, lease.token, enc.id, {
      // `masterUrl`, `publish.cid` and `renditions` are the fields vidmesh's job view reads, so the
      // result shows through `GET /api/v1/jobs/:id` as well as through `jobstatus`.
      result: {
        cid,
        manifest: 'manifest.m3u8',
        url: `ipfs://${cid}/manifest.m3u8`,
        masterUrl: `ipfs://${cid}/manifest.m3u8`,
        publish: { cid },
        renditions: made.map((name) => ({ name, playlist: `${name}/index.m3u8` })),
        protocol: '3speak',
      },
      renditions: job.renditions.map((r) =>
        made.includes(r.name)
          ? { name: r.name, status: 'completed' as const, result: { playlist: `${r.name}/index.m3u8` } }
          : { name: r.name, status: 'skipped' as const, error: 'not produced (source smaller)' },
      ),
    });
    return false;
  }

  async function fail(
    enc: Pick<Encoder, 'id'>,
    jobId: string,
    error: unknown,
    retryable: boolean,
  ): Promise<void> {
    const lease = await holderToken(jobId, enc.id);
    if (!lease) throw new NotJobHolderError('job not assigned to this node');
    const m = (error as { message?: unknown } | null)?.message;
    const message = typeof error === 'string' ? error : typeof m === 'string' ? m : 'failed on a 3Speak node';
    await store.fail(
      jobId,
      lease.token,
      enc.id,
      { message: message.slice(0, 2000), code: '3speak_node_failed' },
      {
        retryable,
      },
    );
  }

  const ok = (message: string) => ({ status: 'success' as const, message });

  await app.register(async (gw) => {
    gw.setErrorHandler(async (err, _req, reply) => {
      const known = err instanceof VidmeshError;
      const status = known ? err.status : ((err as { statusCode?: number }).statusCode ?? 500);
      const message = known || status < 500 ? (err as Error).message : 'internal error';
      const code = known ? err.code : 'internal_error';
      await reply.status(status).send({ status: 'error', success: false, message, code });
    });

    /** The embed job's lease when `key` is its per-job API key; 401 for a wrong key, 409 when no lease is live. */
    async function embedLease(
      jobId: string,
      key: unknown,
    ): Promise<{ job: Job; encoderId: string; token: string }> {
      const job = await get3speak(jobId);
      const holder = job.lease?.encoderId;
      const lease = holder ? await holderToken(job.id, holder) : null;
      if (!holder || !lease) {
        // A stale key must not learn whether it was once right: same answer for any key.
        throw new NotJobHolderError('job not leased to an embed encoder');
      }
      if (!embedKeyMatches(key, lease.token, job.id))
        throw new EmbedKeyError('invalid X-API-Key for this job');
      return { job, encoderId: holder, token: lease.token };
    }

    gw.post(EMBED_WEBHOOK_ROUTE, async (req) => {
      const id = (req.params as { id: string }).id;
      const body = embedWebhookSchema.safeParse(req.body);
      if (!body.success)
        throw new ValidationError(`webhook body: ${body.error.issues[0]?.message ?? 'invalid'}`);
      const hook = body.data;
      const cid = hook.manifest_cid || /^ipfs:\/\/([A-Za-z0-9]+)\//.exec(hook.video_url ?? '')?.[1];
      const current = await get3speak(id);
      if (current.status === 'completed') {
        // The client retries on 5xx/network: a repeat of the accepted result is a success.
        const same = hook.status === 'complete' && parseCompletionResult(current.result)?.publish.cid === cid;
        if (same) return { success: true, message: 'job already completed' };
        throw new NotJobHolderError('job already completed');
      }
      const { encoderId } = await embedLease(id, req.headers['x-api-key']);
      if (hook.status === 'failed') {
        await fail({ id: encoderId }, id, hook.error ?? 'failed on a 3Speak embed encoder', true);
        return { success: true, message: 'job failed' };
      }
      await finish({ id: encoderId }, id, cid);
      return { success: true, message: 'job completed' };
    });

    gw.post(`${EMBED_WEBHOOK_ROUTE}/progress`, async (req) => {
      const id = (req.params as { id: string }).id;
      const body = embedProgressSchema.safeParse(req.body);
      if (!body.success)
        throw new ValidationError(`progress body: ${body.error.issues[0]?.message ?? 'invalid'}`);
      const { encoderId, token } = await embedLease(id, req.headers['x-api-key']);
      holderSpokeFrom(req.ip);
      await noteGeneration(await store.getEncoder(encoderId), 'embed');
      const r = await store.renew(
        id,
        token,
        encoderId,
        { stage: 'encoding', progress: body.data.progress },
        { leaseMs },
      );
      if (r.cancelled) throw new NotJobHolderError('job cancelled');
      return { success: true };
    });

    /**
     * A traffic director (`TRAFFIC_DIRECTOR_URL`, the client's `getHotnodeEndpoint`): both client
     * generations ask it for a "hotnode" to upload to first (`{success, data: {uploadEndpoint}}`, then
     * `POST <uploadEndpoint>?wrap-with-directory=true`); this one names the kubo `add` of this store.
     */
    gw.get('/api/v0/gateway/hotnode', async (req) => {
      const base = opts.publicUrl?.() ?? `${req.protocol}://${req.headers.host ?? req.hostname}`;
      return { success: true, data: { uploadEndpoint: `${base}/api/v0/add` } };
    });

    gw.get('/api/v0/gateway/stats', async () => {
      const r = await db.query<Record<string, number>>(STATS, [new Date(clock().getTime() - 86_400_000)]);
      const s = r.rows[0] ?? {};
      return {
        totalEncoded: Number(s.total_encoded ?? 0),
        totalFailed: Number(s.total_failed ?? 0),
        totalEncodedLastDay: Number(s.encoded_last_day ?? 0),
        totalFailedLastDay: Number(s.failed_last_day ?? 0),
        queued: Number(s.queued ?? 0),
      };
    });

    gw.post('/api/v0/gateway/updateNode', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      const info = (payload.node_info ?? {}) as Record<string, unknown>;
      const name = typeof info.name === 'string' ? info.name : '';
      const commit = typeof info.commit_hash === 'string' ? info.commit_hash : undefined;
      const enc = await nodeFor(did, name, commit, generationOfNodeInfo(info));
      // The embed client reads `success` and `encoder` (EmbedPollerService.registerNode).
      return { ...ok('node updated'), success: true, encoder: { name: enc.name, tier: enc.kind } };
    });

    gw.post('/api/v0/gateway/heartbeat', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      checkFresh(payload);
      await nodeFor(did);
      return {
        ...ok('heartbeat received'),
        timestamp: clock().toISOString(),
        needs_update: false,
        latest_version: null,
      };
    });

    gw.get('/api/v0/gateway/getJob', async (_req, reply) => {
      const r = await db.query<{ id: string }>(OLDEST_QUEUED, [clock()]);
      const id = r.rows[0]?.id;
      if (!id) return reply.status(404).send({ status: 'error', message: 'no jobs available' });
      return view(await store.get(id));
    });

    gw.post('/api/v0/gateway/myJob', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      checkFresh(payload);
      const enc = await nodeFor(did);
      lastPoll.set(enc.id, clock().getTime());
      if (enc.approval !== 'approved') return { success: true, job: null };
      // The request shapes are identical: the node's registration (or its calls) decides, the UA hints.
      if (clientGeneration(enc.capabilities.tags ?? [], req.headers['user-agent']) === 'embed') {
        // Embed clients queue every job they are given (deduplicated by owner/permlink/CID only),
        // so a held job is never answered again: capacity decides.
        const base = opts.publicUrl?.() ?? `${req.protocol}://${req.headers.host ?? req.hostname}`;
        const given = await withNodeLock(enc.id, async () => {
          const active = await activeCounts();
          if (!fairToGive(enc.id, active)) return null;
          return claimEmbed(enc.id, base, othersHaveRoom(enc.id, active));
        });
        if (given) holderSpokeFrom(req.ip);
        return { success: true, job: given?.embed ?? null };
      }
      // A job assigned but never acknowledged is answered again (the node may have lost the reply).
      const id = await withNodeLock(enc.id, async () => {
        const unacked = await db.query<{ id: string }>(UNACKED_BY_ENCODER, [enc.id]);
        const again = unacked.rows[0]?.id;
        if (again) return again;
        const active = await activeCounts();
        if (!fairToGive(enc.id, active)) return null;
        return claim(enc.id, null, othersHaveRoom(enc.id, active));
      });
      return { success: true, job: id ? await view(await store.get(id)) : null };
    });

    gw.post('/api/v0/gateway/acceptJob', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      const enc = await nodeFor(did);
      await accept(enc, jobIdOf(payload));
      await noteGeneration(enc, 'legacy');
      holderSpokeFrom(req.ip);
      return ok('job accepted');
    });

    gw.post('/api/v0/gateway/pingJob', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      const pct = Number(payload.progressPct ?? payload.progress ?? 0);
      const enc = await nodeFor(did);
      await ping(enc, jobIdOf(payload), pct, Number(payload.download_pct ?? 0));
      await noteGeneration(enc, 'legacy');
      holderSpokeFrom(req.ip);
      return ok('ping received');
    });

    gw.post('/api/v0/gateway/finishJob', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      const jobId = jobIdOf(payload);
      const cid = (payload.output as { cid?: unknown } | undefined)?.cid;
      const enc = await nodeFor(did);
      const again = await finish(enc, jobId, cid);
      await noteGeneration(enc, 'legacy');
      return ok(again ? 'job already finished' : 'Job finished successfully');
    });

    gw.post('/api/v0/gateway/failJob', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      await fail(await nodeFor(did), jobIdOf(payload), payload.error, payload.retryable !== false);
      return ok('job failed');
    });

    gw.post('/api/v0/gateway/rejectJob', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      const jobId = jobIdOf(payload);
      const enc = await nodeFor(did);
      const lease = await holderToken(jobId, enc.id);
      if (!lease) throw new NotJobHolderError('job not assigned to this node');
      await store.release(jobId, lease.token, enc.id, 'rejected by 3Speak node');
      return ok('job rejected');
    });

    gw.post('/api/v0/gateway/cancelJob', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      const jobId = jobIdOf(payload);
      if (admins.has(did)) {
        await store.cancel(jobId, { actor: did, reason: 'cancelled via 3Speak gateway' });
        return ok('job cancelled');
      }
      const enc = await nodeFor(did);
      const lease = await holderToken(jobId, enc.id);
      if (!lease) throw new NotJobHolderError('job not assigned to this node');
      // A node cannot cancel a user's job; it hands it back.
      await store.release(jobId, lease.token, enc.id, 'cancelled by 3Speak node');
      return ok('job released');
    });

    gw.post('/api/v0/gateway/pushJob', async (req) => {
      const { did, payload } = await verifyBody(req.body);
      if (!admins.has(did)) throw new NodeForbiddenError('Unauthorized');
      const job = await store.submit(
        threeSpeakSubmitInput({
          input: { uri: String(payload.url ?? ''), size: Number(payload.size ?? 0) },
          metadata: payload.metadata as never,
          storageMetadata: (payload.storageMetadata ?? {}) as Record<string, unknown>,
        }),
        { actor: did },
      );
      return view(job);
    });

    gw.get('/api/v0/gateway/jobstatus/:id', async (req) => {
      return view(await get3speak((req.params as { id: string }).id));
    });

    gw.get('/api/v0/gateway/nodestats/:id', async (req) => {
      const enc = await store.getEncoder((req.params as { id: string }).id);
      return {
        id: enc.did ?? enc.id,
        name: enc.name,
        last_seen: enc.lastSeenAt.toISOString(),
        first_seen: enc.registeredAt.toISOString(),
        banned: enc.approval === 'banned',
        jobs_completed: enc.jobsCompleted,
        jobs_failed: enc.jobsFailed,
        active_jobs: enc.activeJobs,
        encode_seconds: enc.encodeSeconds,
      };
    });

    /** Gateway Monitor API (`GET /api/jobs/:id`, gateway-monitor.3speak.tv shape). */
    gw.get('/api/jobs/:id', async (req) => {
      const job = await get3speak((req.params as { id: string }).id);
      const g = await view(job);
      return {
        success: true,
        data: {
          _id: g.id,
          id: g.id,
          status: g.status,
          created_at: g.created_at,
          last_pinged: g.last_pinged,
          completed_at: g.completed_at,
          assigned_to: g.assigned_to,
          assigned_date: g.assigned_date,
          metadata: g.metadata,
          storageMetadata: g.storageMetadata,
          input: g.input,
          result: g.result ? { cid: g.result.cid } : null,
          progress: { download_pct: job.stage === 'downloading' ? 0 : 100, pct: job.progress },
        },
      };
    });
  });

  /**
   * Gateway Aid (3Speak's REST fallback when the gateway is unreachable): `health`, `list-jobs`,
   * `claim-job`, `update-job`, `complete-job`, shapes of the modern encoder's GatewayAidService.
   * Unlike 3Speak's (an unsigned `X-Encoder-DID` header), every POST proves its node: a `{"jws": …}`
   * body whose payload carries a fresh `timestamp`, signed by a DID of `aidDids`, or the real client's
   * plain body with `X-Encoder-DID` and that DID's secret of `aidSecrets` (see aid-auth.ts).
   */
  await app.register(async (aid) => {
    aid.setErrorHandler(async (err, _req, reply) => {
      const known = err instanceof VidmeshError;
      const status = known ? err.status : ((err as { statusCode?: number }).statusCode ?? 500);
      const message = known || status < 500 ? (err as Error).message : 'internal error';
      const code =
        status === 401 || status === 403 ? 'ENCODER_NOT_AUTHORIZED' : known ? err.code : 'internal_error';
      await reply
        .status(status === 403 ? 401 : status)
        .send({ success: false, error: message, data: { code } });
    });

    async function aidNode(req: { body: unknown; headers: Record<string, unknown> }): Promise<{
      enc: Encoder;
      payload: Record<string, unknown>;
    }> {
      const body: unknown = req.body ?? {};
      const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
      if (!isObject || !('jws' in body)) {
        // The real client's request: unsigned, so the header counts only with the node's secret.
        const claimed = req.headers['x-encoder-did'];
        if (typeof claimed !== 'string' || !aidSecrets.verify(claimed, req.headers.authorization)) {
          throw new NodeForbiddenError(
            "encoder not authorized for Gateway Aid: sign the body ({jws}) or present this node's Aid secret",
          );
        }
        if (!isObject) throw new ValidationError('body must be a JSON object');
        const payload = body as Record<string, unknown>;
        if (payload.timestamp !== undefined) checkFresh(payload);
        return { enc: await nodeFor(claimed), payload };
      }
      const { did, payload } = await verifyBody(body);
      if (typeof payload.timestamp !== 'string') throw new StalePayloadError('payload.timestamp is required');
      checkFresh(payload);
      const header = req.headers['x-encoder-did'];
      if (!aidAllowed.has(did) || (typeof header === 'string' && header !== did)) {
        throw new NodeForbiddenError('encoder not authorized for Gateway Aid');
      }
      return { enc: await nodeFor(did), payload };
    }

    aid.get('/aid/v1/health', async () => ({
      status: 'healthy',
      service: 'vidmesh-gateway-aid',
      timestamp: clock().toISOString(),
    }));

    aid.post('/aid/v1/list-jobs', async (req) => {
      await aidNode(req);
      const r = await db.query<{ id: string }>(LIST_QUEUED, [clock(), 50]);
      const jobs = await Promise.all(r.rows.map(async (x) => view(await store.get(x.id))));
      return { success: true, jobs, total: jobs.length };
    });

    aid.post('/aid/v1/claim-job', async (req) => {
      const { enc, payload } = await aidNode(req);
      const job = await accept(enc, jobIdOf(payload));
      holderSpokeFrom(req.ip);
      return { success: true, job: await view(job) };
    });

    aid.post('/aid/v1/update-job', async (req) => {
      const { enc, payload } = await aidNode(req);
      const jobId = jobIdOf(payload);
      const progress = (payload.progress ?? {}) as { pct?: unknown; download_pct?: unknown };
      if (payload.status === 'failed') {
        await fail(enc, jobId, payload.error, payload.retryable !== false);
        return { success: true, message: 'job failed' };
      }
      await ping(enc, jobId, Number(progress.pct ?? 0), Number(progress.download_pct ?? 0));
      return { success: true, message: 'progress updated' };
    });

    aid.post('/aid/v1/complete-job', async (req) => {
      const { enc, payload } = await aidNode(req);
      const cid = (payload.result as { cid?: unknown } | undefined)?.cid;
      const again = await finish(enc, jobIdOf(payload), cid);
      return { success: true, message: again ? 'job already completed' : 'job completed' };
    });
  });

  async function checkResult(cid: string): Promise<string[]> {
    let manifest: string;
    try {
      if (opts.verifyFullDag !== false) await verifyDag(opts.blockstoreDir, cid);
      manifest = (await readIpfsFile(opts.blockstoreDir, cid, 'manifest.m3u8')).toString('utf8');
    } catch (err) {
      throw new ResultNotStoredError(`result ${cid} is not complete in this coordinator's IPFS store`, {
        cause: err,
      });
    }
    const names: string[] = [];
    for (const line of manifest.split('\n')) {
      const m = /^([0-9]+p)\/index\.m3u8\s*$/.exec(line.trim());
      if (!m?.[1]) continue;
      try {
        await readIpfsFile(opts.blockstoreDir, cid, `${m[1]}/index.m3u8`);
      } catch (err) {
        throw new ResultNotStoredError(`${cid}/${m[1]}/index.m3u8 is missing`, { cause: err });
      }
      names.push(m[1]);
    }
    if (names.length === 0) throw new ResultNotStoredError(`${cid}/manifest.m3u8 lists no 3Speak renditions`);
    return names;
  }

  await app.register(async (k) =>
    kuboRpcRoutes(k, { blockstoreDir: opts.blockstoreDir, version: opts.version, mayWrite: mayUpload }),
  );
  await app.register(async (i) => ipfsPathRoute(i, { blockstoreDir: opts.blockstoreDir }));
}

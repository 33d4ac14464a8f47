import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  createHttpTransport,
  type EncoderNode,
  type EncoderNodeEvent,
  type EncoderTransport,
  type HwaccelChoice,
  startEncoderNode,
} from '../encoder/index.js';
import { VidmeshError } from '../errors.js';
import type { Identity } from '../identity/index.js';
import { readOrCreatePrivateFile } from '../identity/keyfile.js';
import type { Logger } from '../log.js';
import { hwAccelOf } from '../protocol/index.js';
import type { StorageContext } from '../storage/index.js';
import {
  AgentBusyError,
  type AgentClaim,
  type AgentControl,
  type AgentJobState,
  buildLocalApi,
} from './local-api.js';

/** A job the user stopped from the web app (`POST /fail`): reported failed, retryable. */
export class AgentJobStoppedError extends VidmeshError {
  override readonly code: string = 'agent_job_stopped';
  override readonly status: number = 503;
  override readonly retryable: boolean = true;
}

export interface AgentOptions {
  /** Coordinator URL(s), as for `vidmesh encoder --coordinator`. */
  coordinator: string | string[];
  /** The agent's own did:key (paired with `user` on the coordinator: `vidmesh agent pair`). */
  identity: Identity;
  /** The user the agent works for. */
  user: string;
  /** The web app origin allowed to call the local API from a browser. */
  allowedOrigin: string;
  /** The per-install pairing token ({@link loadOrCreatePairingToken}). */
  token: string;
  dataDir: string;
  storage: StorageContext;
  version: string;
  /** Encoder name on the coordinator (default `agent-<user>`). */
  name?: string;
  hwaccel?: HwaccelChoice;
  /** Local API port on 127.0.0.1 (default 3002; 0: any free port). */
  port?: number;
  /** kubo RPC base URL whose reachability `ipfsConnected` reports (absent: false). */
  ipfsApiUrl?: string;
  log?: Logger;
  heartbeatIntervalMs?: number;
  progressIntervalMs?: number;
  claimWaitMs?: number;
  /**
   * true (default): claim the user's jobs as they come (the routing's agent step). false: only when the
   * web app asks (`POST /claim`).
   */
  autoClaim?: boolean;
}

export interface DesktopAgent {
  /** `http://127.0.0.1:<port>`: the local API. */
  readonly url: string;
  readonly node: EncoderNode;
  readonly api: FastifyInstance;
  /** Stops the local API and the node (running jobs are released). */
  stop(): Promise<void>;
}

/** `<dataDir>/agent-token`: the per-install pairing token (0600, created once, base64url of 32 bytes). */
export function loadOrCreatePairingToken(dataDir: string): Promise<string> {
  return readOrCreatePrivateFile(join(dataDir, 'agent-token'), () =>
    randomBytes(32).toString('base64url'),
  ).then((t) => t.trim());
}

const MAX_REMEMBERED_JOBS = 50;

/**
 * Starts the desktop agent: an encoder node of kind `desktop` (the same pipeline, hardware detection,
 * result cache and lease handling as `vidmesh encoder`, one job at a time) signing with the agent's
 * did:key, which the coordinator ties to `user` (it claims only their jobs, first in their routing
 * order), plus the blueprint's local API on 127.0.0.1 (src/agent/local-api.ts).
 * @throws when the port cannot be bound; registration problems surface on `node.ready`.
 */
export async function startAgent(opts: AgentOptions): Promise<DesktopAgent> {
  const base = createHttpTransport({ url: opts.coordinator, identity: opts.identity });
  const jobs = new Map<string, AgentJobState>();
  let hwaccel: readonly string[] | undefined;
  let coordinatorOk = false;

  const remember = (state: AgentJobState) => {
    jobs.set(state.jobId, state);
    if (jobs.size > MAX_REMEMBERED_JOBS) jobs.delete(jobs.keys().next().value as string);
  };
  const patch = (jobId: string, fields: Partial<AgentJobState>) => {
    const s = jobs.get(jobId);
    if (s) Object.assign(s, fields);
  };
  const watch = async <T>(call: Promise<T>): Promise<T> => {
    try {
      const out = await call;
      coordinatorOk = true;
      return out;
    } catch (err) {
      if ((err as { retryable?: boolean }).retryable) coordinatorOk = false;
      throw err;
    }
  };

  // The node's calls pass through here: what the local API reports is what the coordinator heard.
  const transport: EncoderTransport = {
    ...base,
    register: (reg) => {
      hwaccel = reg.capabilities.hwaccel;
      return watch(base.register(reg));
    },
    heartbeat: (id, active, report) => watch(base.heartbeat(id, active, report)),
    complete: async (id, lease, result) => {
      const ack = await watch(base.complete(id, lease, result));
      // The coordinator publishes staged outputs: its URL is the one the web app can open.
      if (ack?.publishedMasterUrl) patch(lease.jobId, { masterUrl: ack.publishedMasterUrl });
      return ack;
    },
    progress: (id, lease, update) => {
      patch(lease.jobId, {
        stage: update.stage,
        progress: update.progress,
        etaS: update.etaS ?? null,
        speed: update.speed ?? null,
      });
      return watch(base.progress(id, lease, update));
    },
  };

  const onEvent = (e: EncoderNodeEvent) => {
    if (e.type === 'job-claimed') {
      remember({
        jobId: e.jobId,
        status: 'running',
        stage: null,
        progress: 0,
        etaS: null,
        speed: null,
        masterUrl: null,
        qualities: [],
        error: null,
      });
    } else if (e.type === 'job-completed') {
      patch(e.jobId, {
        status: 'completed',
        stage: null,
        progress: 100,
        etaS: null,
        masterUrl: jobs.get(e.jobId)?.masterUrl ?? e.result?.masterUrl ?? null,
        qualities: e.result?.renditions.map((r) => r.name) ?? [],
      });
    } else if (e.type === 'job-failed') {
      patch(e.jobId, { status: 'failed', error: e.code });
    } else if (e.type === 'job-aborted' || e.type === 'job-released') {
      patch(e.jobId, { status: 'aborted' });
    }
  };

  const node = startEncoderNode({
    transport,
    dataDir: opts.dataDir,
    storage: opts.storage,
    name: opts.name ?? `agent-${opts.user}`,
    kind: 'desktop',
    version: opts.version,
    concurrency: 1,
    hwaccel: opts.hwaccel ?? 'auto',
    onEvent,
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.heartbeatIntervalMs ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
    ...(opts.progressIntervalMs ? { progressIntervalMs: opts.progressIntervalMs } : {}),
    ...(opts.claimWaitMs ? { claimWaitMs: opts.claimWaitMs } : {}),
    autoClaim: opts.autoClaim ?? true,
  });

  let ipfs: { at: number; ok: boolean } | undefined;
  const ipfsConnected = async (): Promise<boolean> => {
    if (!opts.ipfsApiUrl) return false;
    if (ipfs && Date.now() - ipfs.at < 10_000) return ipfs.ok;
    let ok = false;
    try {
      // kubo RPC: every call is a POST (https://docs.ipfs.tech/reference/kubo/rpc/#api-v0-id).
      const res = await fetch(new URL('/api/v0/id', opts.ipfsApiUrl), {
        method: 'POST',
        signal: AbortSignal.timeout(2000),
      });
      await res.arrayBuffer();
      ok = res.ok;
    } catch {
      ok = false;
    }
    ipfs = { at: Date.now(), ok };
    return ok;
  };

  const control: AgentControl = {
    async health() {
      const active = node.activeJobs().length;
      return {
        status: !node.encoderId || !coordinatorOk ? 'offline' : active > 0 ? 'busy' : 'ready',
        version: opts.version,
        hwAccel: hwAccelOf(hwaccel),
        jobsInProgress: active,
        ipfsConnected: await ipfsConnected(),
      };
    },
    async claim(): Promise<AgentClaim | null> {
      if (node.activeJobs().length > 0) throw new AgentBusyError('the agent is encoding a job already');
      const job = await watch(node.claimNow(5000));
      if (!job) return null;
      const spec = (job.spec ?? {}) as {
        source?: { type?: string; cid?: string; url?: string };
        ladder?: unknown;
      };
      const src = spec.source;
      const inputCid =
        src?.type === 'ipfs' ? (src.cid ?? src.url?.replace(/^ipfs:\/\//, '').split('/')[0] ?? null) : null;
      const ladder = (typeof spec.ladder === 'object' && spec.ladder ? spec.ladder : {}) as {
        short?: unknown;
      };
      return {
        jobId: job.id,
        inputCid,
        owner: job.about?.owner ?? null,
        permlink: job.about?.permlink ?? null,
        isShort: ladder.short === true,
        qualities: job.about?.qualities ?? job.renditions,
      };
    },
    job: (jobId) => jobs.get(jobId),
    fail: (jobId, message) => node.failJob(jobId, new AgentJobStoppedError(message)),
  };

  const api = await buildLocalApi({
    user: opts.user,
    allowedOrigin: opts.allowedOrigin,
    token: opts.token,
    control,
  });
  try {
    await api.listen({ host: '127.0.0.1', port: opts.port ?? 3002 });
  } catch (err) {
    await node.stop({ graceful: false });
    throw err;
  }
  const addr = api.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 3002);
  return {
    url: `http://127.0.0.1:${port}`,
    node,
    api,
    async stop() {
      await api.close();
      await node.stop({ graceful: false });
    },
  };
}

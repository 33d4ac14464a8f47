/**
 * vidmesh's own client of a 3Speak gateway (the legacy protocol as Mantequilla-Soft/3speakencoder
 * fdf0111 `GatewayClient` speaks it) and of the Gateway Monitor REST API (`GatewayMonitorService`).
 * POST bodies are `{"jws": <General JWS>}` signed with the node's did:key (identity's `signJws`,
 * byte-compatible with the `dids` stack).
 */
import { VidmeshError } from '../../errors.js';
import { type Identity, signJws } from '../../identity/index.js';
import type { GatewayJob } from './legacy.js';

/** The gateway could not be reached or answered 5xx / timed out: try again later. */
export class GatewayUnavailableError extends VidmeshError {
  override readonly code: string = 'gateway_unavailable';
  override readonly status: number = 503;
  override readonly retryable: boolean = true;
}

/** The gateway refused the request (4xx): `httpStatus` tells which (409: another node holds the job). */
export class GatewayRejectedError extends VidmeshError {
  override readonly code: string = 'gateway_rejected';
  override readonly status: number = 409;
  constructor(
    message: string,
    readonly httpStatus: number,
  ) {
    super(message, { details: { httpStatus } });
  }
}

export interface GatewayClientOptions {
  /** Gateway base URL (`GATEWAY_URL`, e.g. `https://encoder.3speak.tv`). */
  baseUrl: string;
  identity: Identity;
  /** Per-request timeout, ms (default 10 000; the legacy client's after the Feb 2026 gateway fix). */
  timeoutMs?: number;
}

/** Node description sent with `updateNode` (legacy `NodeInfo`). */
export interface NodeInfo {
  name: string;
  cryptoAccounts: { hive: string };
  peer_id: string;
  commit_hash: string;
}

/** A 3Speak gateway client. Every method throws GatewayUnavailableError or GatewayRejectedError. */
export interface GatewayClient {
  readonly did: string;
  stats(): Promise<unknown>;
  updateNode(info: NodeInfo): Promise<void>;
  heartbeat(version: string): Promise<void>;
  /** The job the gateway assigned to this node, or null. */
  myJob(): Promise<GatewayJob | null>;
  /** Old gateways: the oldest queued job (not yet ours: `acceptJob` claims it), or null. */
  getJob(): Promise<GatewayJob | null>;
  acceptJob(jobId: string): Promise<void>;
  /** Progress in percent (sent as `progressPct` ≥ 1, the legacy "running" threshold). */
  pingJob(jobId: string, progressPct: number, downloadPct: number): Promise<void>;
  finishJob(jobId: string, cid: string): Promise<void>;
  failJob(jobId: string, error: { message: string; code: string }, retryable: boolean): Promise<void>;
  rejectJob(jobId: string): Promise<void>;
}

async function call(
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  } catch (err) {
    throw new GatewayUnavailableError(`gateway unreachable: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // legacy gateways answer plain "ok"
  }
  if (res.status >= 500) {
    throw new GatewayUnavailableError(`gateway answered HTTP ${res.status}`);
  }
  return { status: res.status, body };
}

function rejectUnlessOk(r: { status: number; body: unknown }, what: string): void {
  if (r.status >= 200 && r.status < 300) {
    const b = r.body as { status?: unknown } | null;
    if (b && typeof b === 'object' && b.status === 'error') {
      throw new GatewayRejectedError(`${what}: ${String((b as { message?: unknown }).message)}`, r.status);
    }
    return;
  }
  const msg = (r.body as { message?: unknown } | null)?.message;
  throw new GatewayRejectedError(
    `${what}: HTTP ${r.status} ${typeof msg === 'string' ? msg : ''}`.trim(),
    r.status,
  );
}

/** Creates a {@link GatewayClient}. Pure construction. */
export function createGatewayClient(opts: GatewayClientOptions): GatewayClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const post = async (path: string, payload: Record<string, unknown>) => {
    const jws = await signJws(opts.identity, payload);
    return call(
      `${base}/api/v0/gateway/${path}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'vidmesh-3speak/1' },
        body: JSON.stringify({ jws }),
      },
      timeoutMs,
    );
  };
  const simple = async (path: string, payload: Record<string, unknown>) => {
    rejectUnlessOk(await post(path, payload), path);
  };
  return {
    did: opts.identity.did,
    async stats() {
      const r = await call(`${base}/api/v0/gateway/stats`, {}, timeoutMs);
      rejectUnlessOk(r, 'stats');
      return r.body;
    },
    updateNode: (info) => simple('updateNode', { node_info: info }),
    heartbeat: (version) => simple('heartbeat', { timestamp: new Date().toISOString(), version }),
    async myJob() {
      const r = await post('myJob', { timestamp: new Date().toISOString() });
      if (r.status === 404) return null;
      rejectUnlessOk(r, 'myJob');
      const b = r.body as { success?: boolean; job?: GatewayJob | null } | null;
      return b?.success && b.job ? b.job : null;
    },
    async getJob() {
      const r = await call(`${base}/api/v0/gateway/getJob`, {}, timeoutMs);
      if (r.status === 404) return null;
      rejectUnlessOk(r, 'getJob');
      const job = r.body as GatewayJob | null;
      return job && typeof job === 'object' && typeof job.id === 'string' ? job : null;
    },
    acceptJob: (jobId) => simple('acceptJob', { job_id: jobId }),
    pingJob: (jobId, pct, dl) =>
      simple('pingJob', { job_id: jobId, progressPct: Math.max(1, pct), download_pct: dl }),
    finishJob: (jobId, cid) => simple('finishJob', { job_id: jobId, output: { cid } }),
    failJob: (jobId, error, retryable) =>
      simple('failJob', {
        job_id: jobId,
        error,
        retryable,
        timestamp: new Date().toISOString(),
        encoder_time: Date.now(),
      }),
    rejectJob: (jobId) => simple('rejectJob', { job_id: jobId }),
  };
}

/** What the Gateway Monitor says about a job (`GET <base>/jobs/:id` → `{success, data}`). */
export interface MonitorJob {
  id: string;
  status: string;
  assigned_to: string | null;
}

/**
 * Gateway Monitor client (`GATEWAY_MONITOR_BASE_URL`, e.g. `https://gateway-monitor.3speak.tv/api`).
 * `job` resolves null for 404; throws GatewayUnavailableError otherwise on failure.
 */
export function createMonitorClient(opts: { baseUrl: string; timeoutMs?: number }): {
  job(jobId: string): Promise<MonitorJob | null>;
} {
  const base = opts.baseUrl.replace(/\/+$/, '');
  return {
    async job(jobId) {
      const r = await call(`${base}/jobs/${encodeURIComponent(jobId)}`, {}, opts.timeoutMs ?? 10_000);
      if (r.status === 404) return null;
      const b = r.body as { success?: boolean; data?: MonitorJob } | null;
      if (r.status !== 200 || !b?.success || !b.data) {
        throw new GatewayUnavailableError(`gateway monitor answered HTTP ${r.status}`);
      }
      return b.data;
    },
  };
}

/** DIDs compare without the `#fragment` and case of the multibase prefix (legacy `normalizeDID`). */
export function sameDid(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  return a.split('#')[0] === b.split('#')[0];
}

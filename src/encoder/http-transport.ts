import { z } from 'zod';
import { type Identity, signRequest, signUploadGrant } from '../identity/index.js';
import { claimHandoutSchema, progressAnswerSchema } from '../protocol/wire.js';
import { currentTraceparent } from '../tracing.js';
import { CoordinatorRejectedError, CoordinatorUnavailableError, LeaseLostError } from './errors.js';
import type { HostReport } from './load.js';
import {
  type ClaimedJob,
  type CompletionResult,
  type EncoderRegistration,
  type EncoderTransport,
  type FailureReport,
  fromHandout,
  type LeaseRef,
  type ProgressAck,
  type ProgressUpdate,
} from './transport.js';

/** One outgoing request as a signer sees it: method, path with query, and the exact body bytes. */
export interface OutgoingRequest {
  method: string;
  /** Path and query, e.g. `/api/v1/agent/claim`. */
  path: string;
  /** The JSON body as sent ('' when none). */
  body: string;
}

/**
 * Produces the auth headers of one request. The default sends `Authorization: Bearer <apiKey>`; the
 * identity module plugs in did:key JWS signing here (it needs method, path and body to bind them).
 */
export type RequestAuthenticator = (
  req: OutgoingRequest,
) => Promise<Record<string, string>> | Record<string, string>;

export interface HttpTransportOptions {
  /**
   * Coordinator base URL, e.g. `http://127.0.0.1:8080` (a path prefix is kept), or several
   * coordinators sharing one database: calls go to one until it fails, then to the next.
   */
  url: string | string[];
  /** API key with the `encoder` (or `admin`) scope; used by the default authenticator. */
  apiKey?: string;
  /** Replaces the default Bearer authenticator (did:key signed requests). */
  authenticate?: RequestAuthenticator;
  /**
   * did:key identity: every call is signed (`Authorization: DIDJWS`, docs/identity.md) instead of
   * sending an API key, and streamed output PUTs carry a lease-bound upload grant (`DIDGRANT`).
   */
  identity?: Identity;
  /** fetch implementation; default the global (undici) fetch. */
  fetch?: typeof fetch;
  /** Time limit of one non-claim call in ms (default 15000); claims get `waitMs` + this. */
  timeoutMs?: number;
}

const registerAnswer = z.object({ encoder: z.object({ id: z.string().min(1) }).passthrough() });

/**
 * The agent API over HTTP, for encoders that reach the coordinator over a network (community, desktop
 * nodes, `vidmesh encoder --coordinator URL`). Every call is JSON; errors are RFC 9457 problem details
 * with a `code`. Any 409 means the job is no longer ours and becomes {@link LeaseLostError}; other 4xx
 * become {@link CoordinatorRejectedError}; network errors, timeouts and 5xx become
 * {@link CoordinatorUnavailableError} (retryable).
 *
 * Failover (several URLs): the transport sticks to one coordinator. A call that could not connect is
 * sent at once to the next URL (each tried once per call); after any other network error, a timeout
 * or a 5xx the call fails as before (the node's retries re-send it) and later calls go to the next
 * URL, because a request that reached a failing coordinator may still be applied there and must not
 * be sent twice in one breath.
 */
export function createHttpTransport(options: HttpTransportOptions): EncoderTransport {
  const bases = (Array.isArray(options.url) ? options.url : [options.url]).map((url) => {
    const base = new URL(url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new CoordinatorRejectedError(`coordinator URL must be http(s): ${base.protocol}`);
    }
    return { origin: base.origin, basePath: base.pathname.replace(/\/+$/, '') };
  });
  if (bases.length === 0) throw new CoordinatorRejectedError('no coordinator URL');
  let current = 0;
  // Only the first failure of a coordinator moves on: concurrent calls failing on it skip no other.
  const failover = (from: number) => {
    if (current === from) current = (from + 1) % bases.length;
  };
  const at = () => bases[current] as { origin: string; basePath: string };
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const apiKey = options.apiKey;
  const bearer = (): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {});
  const identity = options.identity;
  const authenticate: RequestAuthenticator =
    options.authenticate ??
    (identity
      ? async (req) => signRequest(identity, { method: req.method, path: req.path, body: req.body })
      : bearer);
  // Upload grants signed at claim time (remoteOutputs is synchronous), by `jobId\nleaseToken`.
  const grants = new Map<string, string>();
  const grantKey = (lease: LeaseRef) => `${lease.jobId}\n${lease.leaseToken}`;

  // Every request is built here, so a signer sees exactly the bytes that go on the wire.
  async function call(
    path: string,
    body: unknown,
    opts: { signal?: AbortSignal; extraTimeoutMs?: number } = {},
  ): Promise<{ status: number; json: unknown }> {
    const text = JSON.stringify(body);
    let res: Response;
    let index = current;
    for (let tried = 1; ; tried++) {
      index = current;
      const { origin, basePath } = at();
      const fullPath = basePath + path;
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(await authenticate({ method: 'POST', path: fullPath, body: text })),
      };
      // W3C trace context: the coordinator's request spans join the job's trace (src/tracing.ts).
      const traceparent = currentTraceparent();
      if (traceparent) headers.traceparent = traceparent;
      const timeout = AbortSignal.timeout(timeoutMs + (opts.extraTimeoutMs ?? 0));
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      try {
        res = await fetchImpl(origin + fullPath, { method: 'POST', headers, body: text, signal });
        break;
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        failover(index);
        // Only a request that never left is safe to re-send at once; one cut off after sending may
        // have been applied there, and goes to the next coordinator through the node's retry.
        if (neverSent(err) && tried < bases.length) continue;
        throw new CoordinatorUnavailableError(
          `coordinator unreachable: POST ${origin}${path}: ${describe(err)}`,
          { cause: err },
        );
      }
    }
    const raw = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = raw ? JSON.parse(raw) : undefined;
    } catch {
      json = undefined;
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status, json };
    const problem = (json ?? {}) as { code?: unknown; detail?: unknown; title?: unknown; reason?: unknown };
    const code = typeof problem.code === 'string' ? problem.code : undefined;
    const detail =
      typeof problem.detail === 'string' ? problem.detail : String(problem.title ?? res.statusText);
    const details = { status: res.status, code, path };
    if (res.status === 409) {
      // The store's reason (`cancelled`, `lease_not_held`) rides in the problem's extension members.
      const reason = typeof problem.reason === 'string' ? { reason: problem.reason } : {};
      throw new LeaseLostError(`lease lost: ${detail}`, { details: { ...details, ...reason } });
    }
    if (res.status >= 500 || res.status === 408 || res.status === 429) {
      if (res.status >= 500) failover(index);
      throw new CoordinatorUnavailableError(`coordinator answered ${res.status} to POST ${path}: ${detail}`, {
        details,
      });
    }
    throw new CoordinatorRejectedError(
      `coordinator refused POST ${path} (${res.status} ${code ?? ''}): ${detail}`,
      {
        details,
      },
    );
  }

  function parse<T>(schema: z.ZodType<T>, json: unknown, path: string): T {
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new CoordinatorUnavailableError(`coordinator answer to ${path} has an unexpected shape`, {
        details: { issues: parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`) },
      });
    }
    return parsed.data;
  }

  const leaseBody = (encoderId: string, lease: LeaseRef) => ({
    encoderId,
    jobId: lease.jobId,
    leaseToken: lease.leaseToken,
  });

  return {
    kind: 'http',
    async register(registration: EncoderRegistration) {
      const { json } = await call('/api/v1/encoders/register', registration);
      return { encoderId: parse(registerAnswer, json, 'register').encoder.id };
    },
    async heartbeat(encoderId: string, activeJobs: string[], report?: HostReport) {
      await call('/api/v1/encoders/heartbeat', { encoderId, activeJobs, ...report });
    },
    async claim(encoderId: string, waitMs: number, signal?: AbortSignal): Promise<ClaimedJob | null> {
      if (signal?.aborted) return null;
      try {
        const { status, json } = await call(
          '/api/v1/agent/claim',
          { encoderId, waitMs },
          { signal, extraTimeoutMs: waitMs },
        );
        if (status === 204 || json === undefined) return null;
        const a = parse(claimHandoutSchema, json, 'claim');
        if (identity) {
          // Bounded: a node holds few leases; old entries are dropped first.
          if (grants.size >= 64) grants.delete(grants.keys().next().value as string);
          grants.set(
            grantKey({ jobId: a.job.id, leaseToken: a.leaseToken }),
            await signUploadGrant(identity, { jobId: a.job.id, leaseToken: a.leaseToken }),
          );
        }
        return fromHandout(a);
      } catch (err) {
        if (signal?.aborted) return null;
        throw err;
      }
    },
    async progress(encoderId: string, lease: LeaseRef, update: ProgressUpdate): Promise<ProgressAck> {
      const { json } = await call('/api/v1/agent/progress', { ...leaseBody(encoderId, lease), ...update });
      return parse(progressAnswerSchema, json, 'progress');
    },
    async complete(encoderId: string, lease: LeaseRef, result: CompletionResult) {
      // A coordinator that publishes staged outputs answers after the publish: allow it minutes.
      const { json } = await call(
        '/api/v1/agent/complete',
        { ...leaseBody(encoderId, lease), result },
        { extraTimeoutMs: 600_000 },
      );
      grants.delete(grantKey(lease));
      const url = (json as { job?: { result?: { masterUrl?: unknown } | null } } | null)?.job?.result
        ?.masterUrl;
      return typeof url === 'string' ? { publishedMasterUrl: url } : undefined;
    },
    async fail(encoderId: string, lease: LeaseRef, report: FailureReport) {
      await call('/api/v1/agent/fail', { ...leaseBody(encoderId, lease), ...report });
      grants.delete(grantKey(lease));
    },
    async release(encoderId: string, lease: LeaseRef, reason: string) {
      await call('/api/v1/agent/release', { ...leaseBody(encoderId, lease), reason });
      grants.delete(grantKey(lease));
    },
    remoteOutputs(lease: LeaseRef) {
      // Static auth headers only: a per-request signer cannot sign bodies streamed by the storage module,
      // so a signing node needs the coordinator to accept the lease token plus its key here.
      const { origin, basePath } = at();
      return {
        baseUrl: `${origin}${basePath}/api/v1/agent/outputs/${encodeURIComponent(lease.jobId)}/`,
        headers: {
          ...(identity ? { authorization: grants.get(grantKey(lease)) ?? '' } : bearer()),
          'x-lease-token': lease.leaseToken,
        },
      };
    },
    remoteSource(lease: LeaseRef) {
      // Streamed like uploads: a signing node authenticates with its job's grant and the lease token.
      const grant = identity ? grants.get(grantKey(lease)) : undefined;
      const { origin, basePath } = at();
      return {
        url: `${origin}${basePath}/api/v1/agent/jobs/${encodeURIComponent(lease.jobId)}/source`,
        headers: {
          ...(identity ? { authorization: grant ?? '' } : bearer()),
          'x-lease-token': lease.leaseToken,
        },
      };
    },
    // ---- live (issue 23): same lease-bound auth as the source relay ----
    liveEndpoints(lease: LeaseRef) {
      const { url, headers } = this.remoteSource!(lease);
      return { base: url.replace(/\/jobs\/([^/]+)\/source$/, '/live/$1'), headers };
    },
    remoteUploads(lease?: LeaseRef) {
      // A signing node downloads an upload source with its job's grant and lease token.
      const grant = identity && lease ? grants.get(grantKey(lease)) : undefined;
      const headers: Record<string, string> =
        identity && lease ? { authorization: grant ?? '', 'x-lease-token': lease.leaseToken } : bearer();
      const { origin, basePath } = at();
      return { baseUrl: `${origin}${basePath}`, headers };
    },
  };
}

/** Connection-phase failures (refused, no route, name not resolved): the request was never sent. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
function neverSent(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string; errors?: Array<{ code?: string }> } }).cause;
  // Happy-eyeballs connects report an AggregateError of every address tried.
  const codes = [cause?.code, ...(cause?.errors ?? []).map((e) => e.code)];
  return codes.some((c) => c !== undefined && CONNECT_ERRORS.has(c));
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}

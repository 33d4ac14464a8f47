import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { createParser } from 'eventsource-parser';
import { ApiError, CoordinatorUnreachableError } from './errors.js';
import type { EncoderView, JobEventView, JobStreamEvent, JobView } from './schemas.js';

/**
 * A small typed client of the vidmesh REST API (docs/api.md), used by the CLI and tests. Every method
 * throws {@link ApiError} (carrying the problem's `code` and `status`) on a non-2xx answer, and
 * {@link CoordinatorUnreachableError} when the coordinator cannot be reached.
 */
export interface VidmeshClient {
  readonly url: string;
  health(): Promise<{ status: string; version: string }>;
  /** `POST /api/v1/jobs`; `idempotencyKey` makes a retried submit return the first job. */
  submitJob(spec: Record<string, unknown>, options?: { idempotencyKey?: string }): Promise<JobView>;
  /** `GET /api/v1/jobs`; `search`: case-insensitive text in id, owner or metadata (e.g. a title). */
  listJobs(query?: {
    status?: string;
    queue?: string;
    search?: string;
    limit?: number;
    cursor?: string;
  }): Promise<{
    jobs: JobView[];
    nextCursor: string | null;
  }>;
  getJob(id: string): Promise<JobView>;
  cancelJob(id: string): Promise<JobView>;
  retryJob(id: string, options?: { renditions?: string[] }): Promise<JobView>;
  jobLogs(
    id: string,
    query?: { afterSeq?: number; limit?: number },
  ): Promise<{ lines: Array<{ seq: number; stream: string; line: string; at: string }>; nextSeq: number }>;
  jobHistory(id: string): Promise<JobEventView[]>;
  /** Follows `GET /api/v1/jobs/:id/events` until the job ends or `signal` aborts. */
  followJob(id: string, options?: { signal?: AbortSignal }): AsyncGenerator<JobStreamEvent>;
  /** Streams a local file to `POST /api/v1/uploads`; `onProgress(sentBytes, totalBytes)`. */
  upload(
    path: string,
    options?: { onProgress?: (sent: number, total: number) => void; signal?: AbortSignal },
  ): Promise<{
    source: { type: 'upload'; id: string };
    upload: { id: string; bytes: number; sha256: string };
  }>;
  listEncoders(): Promise<EncoderView[]>;
}

export interface ClientOptions {
  /** Coordinator base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  apiKey?: string;
  fetch?: typeof fetch;
  /** Where `url` came from (`VIDMESH_URL`, a client.json path, …): named in every error. */
  origin?: string;
}

/** Creates a {@link VidmeshClient}. No I/O until a method is called. */
export function createClient(options: ClientOptions): VidmeshClient {
  const base = options.url.replace(/\/+$/, '');
  const where = `coordinator ${base}${options.origin ? ` from ${options.origin}` : ''}`;
  const rawFetch = options.fetch ?? fetch;
  const doFetch: typeof fetch = async (input, init) => {
    try {
      return await rawFetch(input, init);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CoordinatorUnreachableError(
        `cannot reach the ${where}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        { cause: err },
      );
    }
  };
  const auth: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};

  async function request<T>(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...auth, ...init.headers };
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body);
    }
    const res = await doFetch(base + path, { method, headers, body, signal: init.signal });
    return parse<T>(res, where);
  }

  const qs = (q: Record<string, string | number | undefined>) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
    const s = p.toString();
    return s ? `?${s}` : '';
  };
  const enc = encodeURIComponent;

  return {
    url: base,
    health: () => request('GET', '/health'),
    submitJob: async (spec, o = {}) =>
      (
        await request<{ job: JobView }>('POST', '/api/v1/jobs', {
          body: spec,
          headers: o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {},
        })
      ).job,
    listJobs: (q = {}) => request('GET', `/api/v1/jobs${qs(q)}`),
    getJob: async (id) => (await request<{ job: JobView }>('GET', `/api/v1/jobs/${enc(id)}`)).job,
    cancelJob: async (id) => (await request<{ job: JobView }>('DELETE', `/api/v1/jobs/${enc(id)}`)).job,
    retryJob: async (id, o = {}) =>
      (await request<{ job: JobView }>('POST', `/api/v1/jobs/${enc(id)}/retry`, { body: o })).job,
    jobLogs: (id, q = {}) => request('GET', `/api/v1/jobs/${enc(id)}/logs${qs(q)}`),
    jobHistory: async (id) =>
      (await request<{ events: JobEventView[] }>('GET', `/api/v1/jobs/${enc(id)}/history`)).events,
    followJob: (id, o = {}) =>
      follow(where, doFetch, `${base}/api/v1/jobs/${enc(id)}/events`, auth, o.signal),
    upload: async (path, o = {}) => {
      const { size } = await stat(path);
      let sent = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          sent += chunk.length;
          o.onProgress?.(sent, size);
          cb(null, chunk);
        },
      });
      const body = Readable.toWeb(createReadStream(path).pipe(meter)) as ReadableStream<Uint8Array>;
      const res = await doFetch(`${base}/api/v1/uploads?filename=${enc(basename(path))}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body,
        signal: o.signal,
        // Node's fetch needs half-duplex for a streamed request body (fetch spec: RequestInit.duplex).
        duplex: 'half',
      } as RequestInit);
      return parse(res, where);
    },
    listEncoders: async () =>
      (await request<{ encoders: EncoderView[] }>('GET', '/api/v1/encoders')).encoders,
  };
}

async function parse<T>(res: Response, where: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) {
    let p: { code?: string; title?: string; detail?: string } = {};
    try {
      p = JSON.parse(text) as typeof p;
    } catch {
      p = { detail: text.slice(0, 200) || undefined };
    }
    throw new ApiError({
      status: res.status,
      ...p,
      detail: `${p.detail ?? p.title ?? `HTTP ${res.status}`} (${where})`,
    });
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Reads an SSE stream (WHATWG HTML §9.2) and yields each event's JSON payload until `end`. */
async function* follow(
  where: string,
  doFetch: typeof fetch,
  url: string,
  auth: Record<string, string>,
  signal: AbortSignal | undefined,
): AsyncGenerator<JobStreamEvent> {
  const res = await doFetch(url, { headers: { accept: 'text/event-stream', ...auth }, signal });
  if (!res.ok || !res.body) await parse(res, where);
  const queue: JobStreamEvent[] = [];
  const parser = createParser({
    onEvent: (ev) => {
      queue.push({ ...(JSON.parse(ev.data) as object), type: ev.event ?? 'message' } as JobStreamEvent);
    },
  });
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      while (queue.length > 0) {
        const ev = queue.shift()!;
        yield ev;
        if (ev.type === 'end') return;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

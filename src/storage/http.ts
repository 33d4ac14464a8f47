import { createReadStream, createWriteStream } from 'node:fs';
import { stat, truncate } from 'node:fs/promises';
import { request as httpRequestRaw, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequestRaw } from 'node:https';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isVidmeshError } from '../errors.js';
import { maxSourceBytes, type ProgressFn, type StorageContext } from './context.js';
import {
  SourceNotFoundError,
  SourceTooLargeError,
  StorageAbortedError,
  StorageRejectedError,
  StorageStalledError,
  StorageTransferError,
} from './errors.js';
import { isTransient, withRetry } from './retry.js';
import { assertPublicDestination, guardedLookup, type SsrfPolicy } from './ssrf.js';

export interface HttpRequestOptions {
  method?: 'GET' | 'PUT' | 'POST' | 'HEAD';
  headers?: Record<string, string>;
  /** Request body: a file path streamed from disk, or bytes. */
  body?: { file: string } | { stream: Readable } | Buffer;
  policy: SsrfPolicy;
  /** Redirects followed for GET/HEAD (default 5); other methods never follow redirects. */
  maxRedirects?: number;
  /** Socket idle timeout in ms before the request fails with StorageStalledError (default 30 000). */
  stallTimeoutMs?: number;
  signal?: AbortSignal;
}

const SENSITIVE_ON_REDIRECT = /^(authorization|cookie|proxy-authorization|x-api-key)$/i;

/**
 * Sends one HTTP(S) request through the SSRF guard and returns the response (body not consumed) and
 * the final URL. GET/HEAD follow up to `maxRedirects` redirects (RFC 9110 §15.4), re-checking every
 * hop; credentials headers are dropped when a redirect changes origin. The socket's address is pinned
 * by {@link guardedLookup}. The caller must consume or destroy the response.
 * @throws SsrfBlockedError, StorageStalledError, StorageTransferError (socket errors, too many redirects)
 */
export async function httpRequest(
  url: string,
  opts: HttpRequestOptions,
): Promise<{ res: IncomingMessage; url: string }> {
  const method = opts.method ?? 'GET';
  const follow = method === 'GET' || method === 'HEAD';
  const maxRedirects = opts.maxRedirects ?? 5;
  let current = new URL(url);
  let headers = { ...(opts.headers ?? {}) };
  for (let hop = 0; ; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw new StorageRejectedError(`refusing non-http(s) URL ${current.protocol}`);
    }
    await assertPublicDestination(current, opts.policy);
    const res = await sendOnce(current, method, headers, opts);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (follow && [301, 302, 303, 307, 308].includes(status) && location) {
      res.resume();
      if (hop >= maxRedirects) {
        throw new StorageRejectedError(`too many redirects (more than ${maxRedirects})`, {
          details: { maxRedirects },
        });
      }
      const next = new URL(location, current);
      if (next.origin !== current.origin) {
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !SENSITIVE_ON_REDIRECT.test(k)));
      }
      current = next;
      continue;
    }
    return { res, url: current.toString() };
  }
}

function sendOnce(
  url: URL,
  method: string,
  headers: Record<string, string>,
  opts: HttpRequestOptions,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const stallMs = opts.stallTimeoutMs ?? 30_000;
    const outHeaders: OutgoingHttpHeaders = { ...headers };
    const doRequest = url.protocol === 'https:' ? httpsRequestRaw : httpRequestRaw;
    const req = doRequest(url, {
      method,
      headers: outHeaders,
      lookup: guardedLookup(opts.policy),
      agent: false,
      signal: opts.signal,
    });
    let response: IncomingMessage | undefined;
    req.setTimeout(stallMs, () => {
      const err = new StorageStalledError(`no data from ${url.host} for ${stallMs} ms`, {
        details: { stallMs },
      });
      // Once the response has started, its stream must fail with the stall, not a bare "aborted".
      response?.destroy(err);
      req.destroy(err);
    });
    req.on('error', (err) => reject(mapSocketError(err, url, opts.signal)));
    req.on('response', (res) => {
      response = res;
      resolve(res);
    });
    const body = opts.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      const rs = 'file' in body ? createReadStream(body.file) : body.stream;
      rs.on('error', (err: Error) => req.destroy(err));
      rs.pipe(req);
    }
  });
}

function mapSocketError(err: unknown, url: URL, signal?: AbortSignal): unknown {
  if (isVidmeshError(err)) return err;
  if (signal?.aborted) return new StorageAbortedError(`request to ${url.host} aborted`, { cause: err });
  if (isTransient(err)) {
    return new StorageTransferError(`request to ${url.host} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return err;
}

/** Maps a non-success HTTP status to the right typed error (404/410 not found, 5xx/429 transient). */
export function errorForStatus(status: number, what: string): Error {
  if (status === 404 || status === 410)
    return new SourceNotFoundError(`${what}: HTTP ${status}`, { details: { status } });
  if (status >= 500 || status === 429 || status === 408) {
    return new StorageTransferError(`${what}: HTTP ${status}`, { details: { status } });
  }
  return new StorageRejectedError(`${what}: HTTP ${status}`, { details: { status } });
}

/**
 * Downloads `url` to `destPath`, streamed (never buffered whole). Follows redirects (limit
 * `ctx.http.maxRedirects`), refuses more than `limits.maxSourceBytes`, fails a stalled transfer after
 * `ctx.http.stallTimeoutMs`, and after a broken connection resumes with `Range: bytes=N-` and
 * `If-Range` (RFC 9110 §14.2, §13.1.5) up to `ctx.http.maxResumes` times; a server that ignores the
 * range (200) restarts the file from zero.
 * @returns bytes written and the response Content-Type.
 * @throws SourceNotFoundError, SourceTooLargeError, StorageRejectedError, StorageTransferError,
 *   StorageStalledError, SsrfBlockedError
 */
export async function downloadHttp(
  url: string,
  destPath: string,
  ctx: StorageContext,
  opts: {
    headers?: Record<string, string>;
    signal?: AbortSignal;
    onProgress?: ProgressFn;
    policy?: SsrfPolicy;
  },
): Promise<{ bytes: number; contentType?: string }> {
  const max = maxSourceBytes(ctx);
  const maxResumes = ctx.http?.maxResumes ?? 5;
  let written = 0;
  let total: number | undefined;
  let validator: string | undefined;
  let contentType: string | undefined;
  let failures = 0;
  for (;;) {
    const headers: Record<string, string> = { ...(opts.headers ?? {}), 'accept-encoding': 'identity' };
    if (written > 0) {
      headers.range = `bytes=${written}-`;
      if (validator) headers['if-range'] = validator;
    }
    try {
      const { res } = await httpRequest(url, {
        headers,
        policy: opts.policy ?? ctx.ssrf,
        maxRedirects: ctx.http?.maxRedirects,
        stallTimeoutMs: ctx.http?.stallTimeoutMs,
        signal: opts.signal,
      });
      const status = res.statusCode ?? 0;
      if (status === 416 && written > 0 && total !== undefined && written >= total) {
        res.resume();
        break;
      }
      let append = false;
      if (status === 206 && written > 0) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
        if (m && Number(m[1]) === written) append = true;
        else {
          // A range we did not ask for: start over rather than splice mismatched bytes.
          res.destroy();
          written = 0;
          validator = undefined;
          continue;
        }
      } else if (status !== 200) {
        res.resume();
        throw errorForStatus(status, `GET ${redactedUrl(url)}`);
      }
      if (!append) {
        written = 0;
        const len = Number(res.headers['content-length']);
        total = Number.isFinite(len) && res.headers['content-length'] !== undefined ? len : undefined;
        validator =
          res.headers.etag && !res.headers.etag.startsWith('W/')
            ? res.headers.etag
            : res.headers['last-modified'];
        contentType = res.headers['content-type'];
      }
      if (total !== undefined && total > max) {
        res.destroy();
        throw new SourceTooLargeError(`source is ${total} bytes, limit ${max}`, {
          details: { bytes: total, max },
        });
      }
      const start = written;
      let received = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          received += chunk.length;
          written = start + received;
          if (written > max) {
            cb(new SourceTooLargeError(`source exceeds limit of ${max} bytes`, { details: { max } }));
            return;
          }
          opts.onProgress?.(written, total);
          cb(null, chunk);
        },
      });
      if (!append) await truncate(destPath, 0).catch(() => undefined);
      await pipeline(res, counter, createWriteStream(destPath, { flags: append ? 'a' : 'w' }), {
        signal: opts.signal,
      });
      if (total !== undefined && written < total) {
        throw new StorageTransferError(`connection closed after ${written} of ${total} bytes`);
      }
      break;
    } catch (err) {
      if (opts.signal?.aborted) throw new StorageAbortedError('download aborted', { cause: err });
      if (!isTransient(err) || failures >= maxResumes) throw mapSocketError(err, new URL(url), opts.signal);
      failures++;
      // The file keeps what arrived; the next round asks for the rest with a Range request.
      const onDisk = await stat(destPath).then(
        (s) => s.size,
        () => 0,
      );
      written = Math.min(written, onDisk);
      ctx.log?.warn({ url: redactedUrl(url), written, failures }, 'storage: download interrupted, resuming');
    }
  }
  return { bytes: written, contentType };
}

/**
 * PUTs one file to `url` with `headers` (plus Content-Type and Content-Length), retrying transient
 * failures with backoff. 2xx is success; redirects are not followed (the body would be lost).
 * @throws StorageRejectedError (4xx), StorageTransferError (5xx, network, after retries), SsrfBlockedError
 */
export async function putHttpFile(
  url: string,
  filePath: string,
  contentType: string,
  ctx: StorageContext,
  opts: { headers?: Record<string, string>; signal?: AbortSignal; method?: 'PUT' | 'POST' },
): Promise<number> {
  return withRetry(
    async () => {
      const size = (await stat(filePath)).size;
      const { res } = await httpRequest(url, {
        method: opts.method ?? 'PUT',
        headers: { ...(opts.headers ?? {}), 'content-type': contentType, 'content-length': String(size) },
        body: { file: filePath },
        policy: ctx.ssrf,
        stallTimeoutMs: ctx.http?.stallTimeoutMs,
        signal: opts.signal,
      });
      res.resume();
      await new Promise<void>((r) => (res.complete ? r() : res.on('end', () => r()).on('error', () => r())));
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        const what = `PUT ${redactedUrl(url)}`;
        throw status === 404 || status === 410
          ? new StorageRejectedError(`${what}: HTTP ${status}`, { details: { status } })
          : errorForStatus(status, what);
      }
      return size;
    },
    {
      attempts: ctx.retry?.attempts,
      baseDelayMs: ctx.retry?.baseDelayMs,
      signal: opts.signal,
      what: 'http put',
    },
  );
}

/** URL without userinfo and query, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '[invalid url]';
  }
}

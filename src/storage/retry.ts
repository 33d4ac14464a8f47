import { setTimeout as sleep } from 'node:timers/promises';
import { isVidmeshError } from '../errors.js';
import { StorageAbortedError, StorageTransferError } from './errors.js';

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

/** True when `err` is worth retrying: a retryable VidmeshError or a transient socket error. */
export function isTransient(err: unknown): boolean {
  if (isVidmeshError(err)) return err.retryable;
  const e = err as { code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (e?.code && TRANSIENT_CODES.has(e.code)) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  return false;
}

/**
 * Runs `fn` up to `attempts` times, retrying transient failures ({@link isTransient}) with full-jitter
 * exponential backoff (`baseDelayMs * 2^n`, capped at 10 s). Non-transient errors and aborts are thrown
 * at once. The last error is rethrown, wrapped in StorageTransferError when it was not a VidmeshError.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: { attempts?: number; baseDelayMs?: number; signal?: AbortSignal; what: string },
): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 4);
  const base = opts.baseDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw new StorageAbortedError(`${opts.what}: aborted`);
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw new StorageAbortedError(`${opts.what}: aborted`, { cause: err });
      if (attempt >= attempts || !isTransient(err)) {
        if (isVidmeshError(err)) throw err;
        if (isTransient(err)) {
          throw new StorageTransferError(`${opts.what}: ${(err as Error).message}`, { cause: err });
        }
        throw err;
      }
      const delay = Math.random() * Math.min(10_000, base * 2 ** (attempt - 1));
      await sleep(delay, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
}

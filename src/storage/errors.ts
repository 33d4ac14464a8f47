import { VidmeshError } from '../errors.js';

/**
 * Errors raised by storage connectors. Codes are stable: the coordinator and tests match on them.
 * `retryable` tells the job store whether the attempt may be retried (a transient network failure)
 * or not (the reference itself is bad: a job retrying it would fail the same way).
 */

/** A network target resolves to a forbidden (non-public) address and no allowlist names it. HTTP 400. */
export class SsrfBlockedError extends VidmeshError {
  override readonly code: string = 'ssrf_blocked';
  override readonly status: number = 400;
}

/** A relative path or object key would escape its root/prefix, or is malformed. HTTP 400. */
export class UnsafePathError extends VidmeshError {
  override readonly code: string = 'unsafe_path';
  override readonly status: number = 400;
}

/** A source reference is malformed or refers to something this context does not allow. HTTP 400. */
export class InvalidStorageRefError extends VidmeshError {
  override readonly code: string = 'invalid_storage_ref';
  override readonly status: number = 400;
}

/**
 * A URL's host name does not resolve (DNS `ENOTFOUND`/`EAI_AGAIN`): the client named a host that does
 * not exist, or DNS is down. HTTP 422 when it answers a request; retryable for a job, since DNS recovers.
 */
export class HostNotFoundError extends VidmeshError {
  override readonly code: string = 'host_not_found';
  override readonly status: number = 422;
  override readonly retryable: boolean = true;
}

/** The source does not exist (HTTP 404, missing key, missing file). Not retryable. HTTP 422. */
export class SourceNotFoundError extends VidmeshError {
  override readonly code: string = 'source_not_found';
  override readonly status: number = 422;
}

/** The source is larger than `limits.maxSourceBytes` (or `maxInlineBytes`). HTTP 413. */
export class SourceTooLargeError extends VidmeshError {
  override readonly code: string = 'source_too_large';
  override readonly status: number = 413;
}

/** A remote store answered with a permanent refusal (auth, forbidden, bad request). HTTP 502. */
export class StorageRejectedError extends VidmeshError {
  override readonly code: string = 'storage_rejected';
  override readonly status: number = 502;
}

/** A transient transfer failure (connection reset, 5xx, 429, stall): retrying may succeed. HTTP 502. */
export class StorageTransferError extends VidmeshError {
  override readonly code: string = 'storage_transfer_failed';
  override readonly status: number = 502;
  override readonly retryable: boolean = true;
}

/** No bytes arrived for longer than the stall timeout. Retryable. HTTP 504. */
export class StorageStalledError extends VidmeshError {
  override readonly code: string = 'storage_stalled';
  override readonly status: number = 504;
  override readonly retryable: boolean = true;
}

/** Content failed verification (IPFS block hash, CID mismatch with kubo, size mismatch). HTTP 502. */
export class IntegrityError extends VidmeshError {
  override readonly code: string = 'integrity_failed';
  override readonly status: number = 502;
}

/** The operation was aborted through its AbortSignal. */
export class StorageAbortedError extends VidmeshError {
  override readonly code: string = 'cancelled';
  override readonly status: number = 499;
}

import { isVidmeshError } from '../errors.js';

/** How a failed job is reported: the error's stable code and message, and whether to retry it. */
export interface FailureClass {
  code: string;
  message: string;
  retryable: boolean;
}

// Errors of the machine, not of the job: another attempt (maybe elsewhere) can succeed.
const TRANSIENT_ERRNO = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

// Faults of this machine that another node would not share, even though the error itself says
// "not retryable" (it is not retryable *here*).
const MACHINE_CODES = new Set(['internal_error', 'ffmpeg_missing', 'hwaccel_unavailable']);

/**
 * Classifies a pipeline failure.
 * - Bad input, not retryable: a VidmeshError with a 4xx status other than 408/429 (probe errors,
 *   storage `source_not_found`, unsafe paths, an invalid spec), and any VidmeshError that says
 *   `retryable: false` with a 5xx status (e.g. storage `storage_rejected`: credentials refused).
 * - Transient, retryable: VidmeshErrors that say so (ffmpeg crash/stall, transfer failures), faults of
 *   this machine (ffmpeg missing, hwaccel gone), 408/429, errno network and disk errors, unknown errors.
 *   The job store's attempt limit bounds the retries.
 */
export function classifyFailure(err: unknown): FailureClass {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 2000);
  if (isVidmeshError(err)) {
    if (err.status === 408 || err.status === 429) return { code: err.code, message, retryable: true };
    if (MACHINE_CODES.has(err.code)) return { code: err.code, message, retryable: true };
    if (err.status >= 400 && err.status < 500) return { code: err.code, message, retryable: false };
    return { code: err.code, message, retryable: err.retryable };
  }
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno === 'string' && TRANSIENT_ERRNO.has(errno)) {
    return {
      code: errno === 'ENOSPC' || errno === 'EDQUOT' ? 'disk_full' : 'io_error',
      message,
      retryable: true,
    };
  }
  return { code: 'internal_error', message, retryable: true };
}

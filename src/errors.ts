/**
 * Base class of every error vidmesh raises on purpose.
 *
 * - `code`: stable machine-readable identifier (snake_case); API clients and tests match on it.
 * - `status`: the HTTP status the coordinator maps it to (RFC 9457 problem details, one mapping place).
 * - `retryable`: whether a job that failed with this error may be retried automatically.
 * - `details`: extra JSON-safe fields; never put secrets here (they reach API responses and logs).
 *
 * Subclasses override the fields, e.g.
 * `class ProbeError extends VidmeshError { override readonly code = 'probe_failed'; override readonly status = 422; }`
 */
export class VidmeshError extends Error {
  readonly code: string = 'internal_error';
  readonly status: number = 500;
  readonly retryable: boolean = false;
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
  }
}

/** A value given by a user (flag, request field, file) is invalid. HTTP 400. */
export class ValidationError extends VidmeshError {
  override readonly code: string = 'validation_failed';
  override readonly status: number = 400;
}

/** A referenced thing (job, encoder, upload) does not exist or is not visible to the caller. HTTP 404. */
export class NotFoundError extends VidmeshError {
  override readonly code: string = 'not_found';
  override readonly status: number = 404;
}

/**
 * The caller does not hold the job's lease (any more): wrong or stale token, another encoder's lease,
 * an expired lease that was rescued, or a job that is already finished or cancelled. HTTP 409
 * `lease_lost`. The one class for the job store, the coordinator's routes and encoder transports: an
 * encoder that sees it stops the job at once (kills ffmpeg) and discards its work. `details.reason`
 * says why when the store knows: `lease_not_held` | `cancelled` | `completed_with_different_result`.
 */
export class LeaseLostError extends VidmeshError {
  override readonly code: string = 'lease_lost';
  override readonly status: number = 409;
}

/** True when `err` is a VidmeshError (also across duplicated module instances). */
export function isVidmeshError(err: unknown): err is VidmeshError {
  return err instanceof VidmeshError;
}

import { LeaseLostError, VidmeshError } from '../errors.js';

/** The job was cancelled by a user; the encoder saw it in a progress answer and stopped. */
export class JobCancelledError extends VidmeshError {
  override readonly code: string = 'job_cancelled';
  override readonly status: number = 409;
}

/**
 * The job's work was stopped because this encoder is shutting down (graceful stop or grace period over);
 * the job is released back to the queue, no attempt counted.
 */
export class EncoderStoppingError extends VidmeshError {
  override readonly code: string = 'encoder_stopping';
  override readonly status: number = 503;
  override readonly retryable: boolean = true;
}

/**
 * A call to the coordinator failed without a usable answer: connection refused, timeout, 5xx, or a
 * response that is not the contract's shape. Retryable: the coordinator may be restarting.
 */
export class CoordinatorUnavailableError extends VidmeshError {
  override readonly code: string = 'coordinator_unavailable';
  override readonly status: number = 503;
  override readonly retryable: boolean = true;
}

/**
 * The coordinator refused a call with a 4xx problem other than `lease_lost` (bad key, bad request).
 * `details.code` is the coordinator's problem `code`, `details.status` its HTTP status.
 */
export class CoordinatorRejectedError extends VidmeshError {
  override readonly code: string = 'coordinator_rejected';
  override readonly status: number = 502;
}

/** The job spec a coordinator handed out does not parse: a bad job, never retried. */
export class InvalidJobSpecError extends VidmeshError {
  override readonly code: string = 'invalid_job_spec';
  override readonly status: number = 422;
}

/** Re-exported: one lease-lost error for the store, the routes and the transports (src/errors.ts). */
export { LeaseLostError };

/**
 * Every output of a job with outputs failed (docs/outputs.md): the attempt fails as a whole, retryable
 * when any output's failure was. `details.outputs` lists each output's error.
 */
export class OutputsFailedError extends VidmeshError {
  override readonly code: string = 'outputs_failed';
  override readonly status: number = 502;
  override readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; details?: Record<string, unknown> }) {
    super(message, { details: options.details });
    this.retryable = options.retryable;
  }
}

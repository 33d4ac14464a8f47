import { LeaseLostError, NotFoundError, VidmeshError } from '../errors.js';

/** No job with that id exists (or it is not visible to the caller). HTTP 404. */
export class JobNotFoundError extends NotFoundError {
  override readonly code: string = 'job_not_found';
}

/** No encoder with that id is registered. HTTP 404. */
export class EncoderNotFoundError extends NotFoundError {
  override readonly code: string = 'encoder_not_found';
}

/** The job's current status does not allow the operation (e.g. cancel a completed job). HTTP 409. */
export class InvalidTransitionError extends VidmeshError {
  override readonly code: string = 'invalid_transition';
  override readonly status: number = 409;
}

/**
 * The job's market order is not settled (its escrow still holds the price, or an accepted bid awaits
 * settlement), so the job may not be removed yet: the settlement pass needs it to release or refund.
 * HTTP 409, retryable once the order settles (docs/marketplace.md, "Failure handling").
 */
export class OrderUnsettledError extends VidmeshError {
  override readonly code: string = 'order_unsettled';
  override readonly status: number = 409;
  override readonly retryable: boolean = true;
}

/**
 * The did:key agent is already paired with a user of another tenant: a pairing proof (signed by the
 * agent, naming only the user) replayed with another tenant's key must not take the agent. HTTP 409.
 */
export class AgentPairedElsewhereError extends VidmeshError {
  override readonly code: string = 'agent_paired_elsewhere';
  override readonly status: number = 409;
}

/** Applying the database migrations failed; the process must not serve. HTTP 500. */
export class MigrationError extends VidmeshError {
  override readonly code: string = 'migration_failed';
  override readonly status: number = 500;
}

/** Re-exported: one lease-lost error for the store, the routes and the transports (src/errors.ts). */
export { LeaseLostError };

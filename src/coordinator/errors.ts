import { VidmeshError } from '../errors.js';

/** No or unknown credentials. HTTP 401 (with `WWW-Authenticate: Bearer`). */
export class UnauthorizedError extends VidmeshError {
  override readonly code: string = 'unauthorized';
  override readonly status: number = 401;
}

/** Valid credentials without the scope a route needs. HTTP 403. */
export class ForbiddenError extends VidmeshError {
  override readonly code: string = 'forbidden';
  override readonly status: number = 403;
}

/** A request body or upload is larger than the configured limit. HTTP 413. */
export class PayloadTooLargeError extends VidmeshError {
  override readonly code: string = 'payload_too_large';
  override readonly status: number = 413;
}

/** The same `Idempotency-Key` was used before with a different job spec. HTTP 422. */
export class IdempotencyKeyReusedError extends VidmeshError {
  override readonly code: string = 'idempotency_key_reused';
  override readonly status: number = 422;
}

/** The coordinator answered with an RFC 9457 problem (client side of the REST API). */
export class ApiError extends VidmeshError {
  override readonly code: string;
  override readonly status: number;
  override readonly retryable: boolean;
  constructor(problem: { status: number; code?: string; title?: string; detail?: string }) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`, {
      details: { status: problem.status },
    });
    this.status = problem.status;
    this.code = problem.code ?? (problem.status >= 500 ? 'server_error' : 'request_failed');
    this.retryable = problem.status >= 500 || problem.status === 429;
  }
}

/** The coordinator could not be reached at all (connection refused, DNS, TLS). Retryable. */
export class CoordinatorUnreachableError extends VidmeshError {
  override readonly code: string = 'coordinator_unreachable';
  override readonly status: number = 503;
  override readonly retryable: boolean = true;
}

/** The operator's registration policy refuses this encoder (allowlist, ban). HTTP 403. */
export class EncoderNotAllowedError extends VidmeshError {
  override readonly code: string = 'encoder_not_allowed';
  override readonly status: number = 403;
}

/**
 * A market job whose `market.maxPrice` is over the `maxPrice` of its user's settings. HTTP 422;
 * `details`: `{maxPrice, userMaxPrice}` as HBD strings.
 */
export class OverUserMaxPriceError extends VidmeshError {
  override readonly code: string = 'over_user_max_price';
  override readonly status: number = 422;
}

/** A desktop agent registered before its did:key was paired with a user. HTTP 403. */
export class AgentNotPairedError extends VidmeshError {
  override readonly code: string = 'agent_not_paired';
  override readonly status: number = 403;
}

/** The encoder waits for an operator's approval (`vidmesh encoders approve`). HTTP 403, retryable later. */
export class EncoderPendingApprovalError extends VidmeshError {
  override readonly code: string = 'encoder_pending_approval';
  override readonly status: number = 403;
}

/** The caller is not the identity that holds (or may act for) this encoder or lease. HTTP 403. */
export class NotLeaseHolderError extends VidmeshError {
  override readonly code: string = 'not_lease_holder';
  override readonly status: number = 403;
}

/** Too many requests from one API key, DID or address in the window. HTTP 429 (with `Retry-After`). */
export class RateLimitedError extends VidmeshError {
  override readonly code: string = 'rate_limited';
  override readonly status: number = 429;
  override readonly retryable: boolean = true;
}

/** A URL in a request names a private, loopback or link-local address (SSRF guard). HTTP 400. */
export class UrlForbiddenError extends VidmeshError {
  override readonly code: string = 'url_forbidden';
  override readonly status: number = 400;
}

/** A JSON request body did not arrive in time (slow-drip client). HTTP 408. */
export class RequestTimeoutError extends VidmeshError {
  override readonly code: string = 'request_timeout';
  override readonly status: number = 408;
}

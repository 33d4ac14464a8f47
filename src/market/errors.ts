import { NotFoundError, ValidationError, VidmeshError } from '../errors.js';

/** A movement would take an account below zero (a payer without the funds to accept a bid). HTTP 402. */
export class InsufficientFundsError extends VidmeshError {
  override readonly code: string = 'insufficient_funds';
  override readonly status: number = 402;
}

/** An idempotency key was reused for a different movement. HTTP 422. */
export class LedgerKeyReusedError extends VidmeshError {
  override readonly code: string = 'ledger_key_reused';
  override readonly status: number = 422;
}

/** The order, bid or offer is in a state that does not allow the operation (e.g. a second accept). HTTP 409. */
export class MarketConflictError extends VidmeshError {
  override readonly code: string = 'market_conflict';
  override readonly status: number = 409;
}

/**
 * The bidding encoder cannot encode the job (its codecs, hardware accelerator, tags, or its kind's height
 * or duration limits do not match what the job requires), so the claim would never lease it. HTTP 422.
 */
export class EncoderCannotEncodeError extends VidmeshError {
  override readonly code: string = 'encoder_cannot_encode';
  override readonly status: number = 422;
}

/** No market order for that job, or not visible to the caller. HTTP 404. */
export class OrderNotFoundError extends NotFoundError {
  override readonly code: string = 'order_not_found';
}

/** A Hive signature (Keychain `requestSignBuffer`) does not verify against the account's keys. HTTP 401. */
export class HiveSignatureError extends VidmeshError {
  override readonly code: string = 'hive_signature_invalid';
  override readonly status: number = 401;
}

/** The Hive API node failed or answered with a JSON-RPC error. HTTP 502, retryable. */
export class HiveRpcError extends VidmeshError {
  override readonly code: string = 'hive_rpc_failed';
  override readonly status: number = 502;
  override readonly retryable: boolean = true;
}

/** A price or bid beyond the order's maximum, or a malformed market request. HTTP 400. */
export class MarketValidationError extends ValidationError {
  override readonly code: string = 'market_invalid';
}

/** A withdrawal below the minimum, or beyond what the payer may still withdraw today. HTTP 422. */
export class WithdrawalLimitError extends VidmeshError {
  override readonly code: string = 'withdrawal_limit';
  override readonly status: number = 422;
}

/** The withdrawal's Idempotency-Key was used before for another amount or account. HTTP 422. */
export class WithdrawalKeyReusedError extends VidmeshError {
  override readonly code: string = 'idempotency_key_reused';
  override readonly status: number = 422;
}

/**
 * The payer has no Hive account to withdraw to: it is neither a Hive Keychain user (`hive:<account>`)
 * nor has the operator bound one to it (`PUT /api/v1/wallet/hive-account`, admin). HTTP 409.
 */
export class NoHiveAccountError extends VidmeshError {
  override readonly code: string = 'hive_account_required';
  override readonly status: number = 409;
}

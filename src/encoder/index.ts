/**
 * Encoder node: leases jobs from a coordinator (over HTTP or straight from the job store), runs the
 * pipeline (fetch → probe → plan → encode → publish) and reports the result. See docs/encoder.md.
 */
export { backoffMs } from './backoff.js';
export type { HwaccelChoice } from './capabilities.js';
export { detectCapabilities } from './capabilities.js';
export { classifyFailure, type FailureClass } from './classify.js';
export { createDbTransport, type DbTransportStore } from './db-transport.js';
export {
  CoordinatorRejectedError,
  CoordinatorUnavailableError,
  EncoderStoppingError,
  InvalidJobSpecError,
  JobCancelledError,
  LeaseLostError,
} from './errors.js';
export {
  createHttpTransport,
  type HttpTransportOptions,
  type OutgoingRequest,
  type RequestAuthenticator,
} from './http-transport.js';
export { createEncoderMetrics, type EncoderMetrics, startMetricsServer } from './metrics.js';
export {
  type EncoderNode,
  type EncoderNodeEvent,
  type EncoderNodeOptions,
  type StopOptions,
  startEncoderNode,
} from './node.js';
export { type CachedResult, ResultCache } from './result-cache.js';
export type {
  ClaimedJob,
  CompletionResult,
  EncoderCapabilities,
  EncoderKind,
  EncoderRegistration,
  EncoderTransport,
  FailureReport,
  JobStage,
  LeaseRef,
  ProgressAck,
  ProgressUpdate,
  RemoteOutputTarget,
  RemoteUploads,
  RenditionProgress,
} from './transport.js';

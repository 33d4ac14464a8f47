/**
 * 3Speak network compatibility (issue 9), coordinator side: the legacy gateway API, the Gateway
 * Monitor job view, a kubo RPC subset on the embedded IPFS store, and the 3Speak job mapping.
 * See docs/3speak.md. Everything not exported here is internal.
 */

export { runThreeSpeakEncoderCli } from './cli.js';
export {
  createGatewayClient,
  createMonitorClient,
  type GatewayClient,
  type GatewayClientOptions,
  GatewayRejectedError,
  GatewayUnavailableError,
  type MonitorJob,
  type NodeInfo,
  sameDid,
} from './client.js';
export {
  type DirectApi,
  type DirectApiOptions,
  DirectApiUnauthorizedError,
  type DirectJobRequest,
  startDirectApi,
} from './direct-api.js';
export {
  type EncodeToKuboOptions,
  encodeToKubo,
  legacyRenditions,
  sourceOf,
  startThreeSpeakEncoder,
  type ThreeSpeakEncoder,
  type ThreeSpeakEncoderEvent,
  type ThreeSpeakEncoderOptions,
} from './encoder.js';
export {
  NodeForbiddenError,
  NotJobHolderError,
  ResultNotStoredError,
  StalePayloadError,
  type ThreeSpeakGatewayOptions,
  threeSpeakGatewayRoutes,
} from './gateway.js';
export {
  KuboAddTooLargeError,
  KuboRpcError,
  KuboWriteForbiddenError,
  kuboRpcRoutes,
  readIpfsFile,
  verifyDag,
} from './kubo.js';
export {
  type GatewayJob,
  LEGACY_PROFILES,
  type LegacyStatus,
  legacyStatus,
  THREESPEAK_TAG,
  type ThreeSpeakJobInput,
  type ThreeSpeakMeta,
  threeSpeakSpecInput,
  threeSpeakSubmitInput,
  toGatewayJob,
} from './legacy.js';
export { kuboUrlFromAddr, type LegacyEncoderConfig, loadLegacyEncoderConfig } from './legacy-env.js';

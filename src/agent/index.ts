/**
 * The desktop agent (`vidmesh agent`, issue 16): one user's encoder on their own machine, with the SPK
 * blueprint's local API on 127.0.0.1:3002 for their web app. docs/encoders.md.
 */
export {
  AgentJobStoppedError,
  type AgentOptions,
  type DesktopAgent,
  loadOrCreatePairingToken,
  startAgent,
} from './agent.js';
export {
  AgentBusyError,
  type AgentClaim,
  type AgentControl,
  type AgentHealth,
  type AgentJobState,
  buildLocalApi,
  type LocalApiOptions,
} from './local-api.js';

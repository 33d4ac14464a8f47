/**
 * The coordinator ↔ encoder protocol room: wire schemas (one definition for every transport) and the
 * trust-aware hand-out of claimed jobs. Imports the job store's types; imported by the coordinator's
 * routes and the encoder's transports (data flows API → jobs → protocol → encoder).
 */
export * from './agent.js';
export * from './handout.js';
export { isLiveSpec, type LiveJobSpec, liveJobSpecSchema } from './live.js';
export { encodePlanOf } from './plan.js';
export { completionRows, type OutputResult, outputResultSchema } from './result.js';
export * from './wire.js';

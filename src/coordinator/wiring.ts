import { type Config, ssrfPolicyOf } from '../config.js';
import type { SourceLimits } from '../protocol/wire.js';
import { DEFAULT_VERIFICATION_POLICY, type VerificationPolicy } from '../trust/index.js';
import type { AppDeps } from './app.js';

/** The per-job source limits of `VIDMESH_MAX_SOURCE_*` (carried in every claim). Pure. */
export function sourceLimitsOf(config: Config): SourceLimits {
  return {
    maxDimension: config.maxSourceDimension,
    maxPixels: config.maxSourcePixels,
    maxDurationS: config.maxSourceDurationS,
    maxFrames: config.maxSourceFrames,
  };
}

/** The verification policy of `VIDMESH_VERIFY_*`, or undefined when `VIDMESH_VERIFY=off`. Pure. */
export function verificationOf(
  config: Config,
): { policy: VerificationPolicy; spotSegments: number; minSsim: number } | undefined {
  if (config.verify !== 'on') return undefined;
  return {
    policy: {
      ...DEFAULT_VERIFICATION_POLICY,
      sampleRate: config.verifySampleRate,
      trustedAfter: config.verifyTrustedAfter,
      suspendAfter: config.verifySuspendAfter,
    },
    spotSegments: config.verifySpotSegments,
    minSsim: config.verifyMinSsim,
  };
}

/** The settings of the HTTP app that come from configuration alone (no I/O, no live objects). */
export type ConfiguredAppOptions = Pick<
  AppDeps,
  | 'registration'
  | 'sourceLimits'
  | 'bodyTimeoutMs'
  | 'metricsToken'
  | 'mediaOrigin'
  | 'rateLimit'
  | 'apiCorsOrigins'
  | 'refusePrivateUrls'
  | 'ssrfAllow'
  | 'limits'
  | 'corsOrigin'
>;

/**
 * Everything `vidmesh serve` passes to `buildApp` that is derived from its config: the one pure step
 * of wiring (the database, keys, secret box, metrics and listeners are made by `startCoordinator`).
 * Table-tested in wiring.test.ts.
 */
export function appOptionsFromConfig(config: Config): ConfiguredAppOptions {
  return {
    registration: { policy: config.registrationPolicy, allowlist: config.encoderAllowlist },
    sourceLimits: sourceLimitsOf(config),
    bodyTimeoutMs: config.bodyTimeoutMs,
    ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
    ...(config.mediaOrigin ? { mediaOrigin: config.mediaOrigin.replace(/\/+$/, '') } : {}),
    ...(config.rateLimitPerKey > 0
      ? {
          rateLimit: {
            perKey: config.rateLimitPerKey,
            perIp: config.rateLimitPerIp,
            authFailuresPerIp: config.authFailuresPerIp,
            windowMs: config.rateLimitWindowMs,
          },
        }
      : {}),
    apiCorsOrigins: config.apiCorsOrigins,
    refusePrivateUrls: !config.allowPrivateNetworks,
    ssrfAllow: ssrfPolicyOf(config),
    limits: {
      maxUploadBytes: config.maxUploadBytes,
      maxJsonBodyBytes: config.maxJsonBodyBytes,
      claimMaxWaitMs: config.claimMaxWaitMs,
      maxAttempts: config.maxAttempts,
    },
    corsOrigin: config.corsOrigin,
  };
}

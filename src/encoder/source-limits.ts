import { VidmeshError } from '../errors.js';
import type { ProbeResult } from '../media/index.js';

import { type SourceLimits, sourceLimitsSchema } from '../protocol/wire.js';

/** Per-job source limits (wire schema in src/protocol/wire.ts), checked right after probe. */
export { type SourceLimits, sourceLimitsSchema };

/** 8K UHD (7680x4320) in either orientation, 12 hours, 12 h at 120 fps. */
export const DEFAULT_SOURCE_LIMITS: SourceLimits = {
  maxDimension: 7680,
  maxPixels: 7680 * 4320,
  maxDurationS: 12 * 3600,
  maxFrames: 12 * 3600 * 120,
};

/** The source exceeds a per-job limit. HTTP 422, not retryable: no other attempt would succeed. */
export class SourceLimitExceededError extends VidmeshError {
  override readonly code: string = 'source_limit_exceeded';
  override readonly status: number = 422;
}

/** Throws {@link SourceLimitExceededError} naming the first limit `info` exceeds. Pure. */
export function checkSourceLimits(info: ProbeResult, limits: SourceLimits = DEFAULT_SOURCE_LIMITS): void {
  const fail = (what: string, got: number, max: number): never => {
    throw new SourceLimitExceededError(`source ${what} ${got} exceeds the limit ${max}`, {
      details: { limit: what, value: got, max },
    });
  };
  if (!(info.durationS <= limits.maxDurationS)) fail('duration (s)', info.durationS, limits.maxDurationS);
  const v = info.video;
  if (!v) return;
  // The probe refuses to decode frames over its pixel cap and then reports a size of 0.
  if (!(v.width > 0 && v.height > 0)) {
    throw new SourceLimitExceededError('source frame size is unknown or over the probe limit', {
      details: { limit: 'dimension (px)', value: Math.max(v.width, v.height) },
    });
  }
  const dim = Math.max(v.width, v.height, v.displayWidth, v.displayHeight);
  if (!(dim <= limits.maxDimension)) fail('dimension (px)', dim, limits.maxDimension);
  const pixels = v.width * v.height;
  if (!(pixels <= limits.maxPixels)) fail('frame area (px)', pixels, limits.maxPixels);
  const frames = Math.ceil(info.durationS * (Number.isFinite(v.fps) ? v.fps : 0));
  if (!(frames <= limits.maxFrames)) fail('frame count', frames, limits.maxFrames);
}

import type { LadderPlan, PlannedVideoRendition } from '../media/index.js';
import type { EncodePlan } from './wire.js';

/**
 * The wire form ({@link EncodePlan}) of a ladder plan: the video renditions this run encodes, with
 * the sizes, rates and GOP the verifier checks. Undefined for an audio-only plan. Pure.
 */
export function encodePlanOf(plan: LadderPlan): EncodePlan | undefined {
  if (plan.kind !== 'video' || !plan.video) return undefined;
  const renditions = plan.renditions
    .filter((r): r is PlannedVideoRendition => r.kind === 'video' && plan.encode.includes(r.name))
    .map((r) => ({
      name: r.name,
      codec: r.codec,
      width: r.width,
      height: r.height,
      videoBitrate: r.videoBitrate,
      maxrate: r.maxrate,
      profile: r.profile,
      ...(r.level ? { level: r.level } : {}),
    }));
  return {
    durationS: plan.durationS,
    segmentDurationS: plan.segmentDuration,
    fps: plan.video.fps,
    gopFrames: plan.video.gopFrames,
    format: plan.format,
    renditions,
    ...(plan.audio.mode === 'source' ? { audio: { bitrate: plan.audio.bitrate } } : {}),
  };
}

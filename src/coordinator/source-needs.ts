import type { JobRequirements } from '../jobs/index.js';
import type { JobSpec } from '../jobs/spec.js';
import {
  type LadderPlan,
  type PlannedVideoRendition,
  type ProbeResult,
  planLadder,
  probe,
} from '../media/index.js';
import { uploadPath } from './routes/uploads.js';

/** A submitted upload source, probed once at submit, and the ladder planned for it. */
export interface MeasuredSource {
  info: ProbeResult;
  plan: LadderPlan;
}

/**
 * Probes an `upload` source (the coordinator's own file; other sources are never fetched at submit)
 * and plans the spec's ladder for it. Undefined for other sources, 3Speak jobs, or when the probe or
 * the plan fails (the job then runs as before, without measured requirements).
 */
export async function measureUploadSource(
  uploadsDir: string,
  spec: JobSpec,
  log?: { warn(obj: object, msg: string): void },
): Promise<MeasuredSource | undefined> {
  if (spec.source.type !== 'upload' || spec.protocol === '3speak') return undefined;
  try {
    const info = await probe(await uploadPath(uploadsDir, spec.source.id));
    return { info, plan: planLadder(info, spec.ladder ?? {}) };
  } catch (err) {
    log?.warn({ err }, 'submit: the upload could not be probed; the job has no measured requirements');
    return undefined;
  }
}

/**
 * The requirements a measured video job carries into the claim filter: its output duration (`durationS`,
 * s) and the height of its tallest planned rendition (`sourceHeight`, pixels). Encoders with kind limits
 * (a browser: 120 s, 480p; ENCODER_KIND_LIMITS) are offered only jobs that have both. Empty for an
 * audio-only plan.
 */
export function measuredNeeds(plan: LadderPlan): Pick<JobRequirements, 'durationS' | 'sourceHeight'> {
  const heights = plan.renditions
    .filter((r): r is PlannedVideoRendition => r.kind === 'video' && plan.encode.includes(r.name))
    .map((r) => r.height);
  if (plan.kind !== 'video' || heights.length === 0) return {};
  return { durationS: plan.durationS, sourceHeight: Math.max(...heights) };
}

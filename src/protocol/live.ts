import { z } from 'zod';
import { LIVE_RENDITION_NAMES } from '../media/live-args.js';
import { destinationSchema } from '../storage/schema.js';

/**
 * The spec of a live job as the coordinator stores it (`jobs.spec`) and hands it to the encoder that
 * claims it (issue 23, docs/live.md). The feed and the outputs travel through the coordinator's
 * lease-bound live routes, so the spec an encoder gets holds no URL and no credential (the recording's
 * `destination` is removed from the handout).
 */
export const liveJobSpecSchema = z.object({
  kind: z.literal('live'),
  source: z.object({ type: z.literal('live') }),
  /** Rendition names of the live ladder (media `LIVE_RENDITIONS`). */
  renditions: z.array(z.enum(LIVE_RENDITION_NAMES)).min(1).max(5),
  /** Segment duration, seconds. */
  segmentS: z.number().min(1).max(10),
  playlist: z.enum(['event', 'sliding']),
  record: z.boolean(),
  title: z.string().max(200).optional(),
  /**
   * Where the recording is published (`record` only; default the coordinator's `local` media store).
   * The coordinator's business: its secrets are sealed at rest, and the claim hands the spec out
   * without it (the live encoder only sends segments to the coordinator).
   */
  destination: destinationSchema.optional(),
});
export type LiveJobSpec = z.infer<typeof liveJobSpecSchema>;

/** True when a job spec is a live one (the encoder node runs the live runner for it). */
export function isLiveSpec(spec: unknown): spec is LiveJobSpec {
  return typeof spec === 'object' && spec !== null && (spec as { kind?: unknown }).kind === 'live';
}

import type { JobSpec } from '../jobs/spec.js';
import {
  type EncodeOptions,
  type EncodeResult,
  encodeAudioTrack,
  encodeVideoChunk,
  type LadderPlan,
} from '../media/index.js';

type ChunkRef = NonNullable<JobSpec['chunk']>;

/**
 * The encode step of a chunk task (docs/chunking.md): the video renditions of the chunk's time range,
 * or the audio track of the whole duration; the rest of the pipeline (fetch, probe, plan, publish,
 * complete) is the same as for any job. Same shape as `encodeLadder`.
 */
export function chunkEncoder(
  chunk: ChunkRef,
): (plan: LadderPlan, outDir: string, options: EncodeOptions) => Promise<EncodeResult> {
  return chunk.role === 'audio'
    ? (plan, outDir, options) => encodeAudioTrack(plan, outDir, options)
    : (plan, outDir, options) => encodeVideoChunk(plan, chunk, outDir, options);
}

/** One line for the job log, e.g. `video chunk 2 of job …, 8.000 s + 4.000 s (pre-roll 2.000 s)`. */
export function describeChunk(chunk: ChunkRef): string {
  return chunk.role === 'audio'
    ? `audio track of job ${chunk.parentId}`
    : `video chunk ${chunk.index} of job ${chunk.parentId}, ${chunk.startS.toFixed(3)} s + ${chunk.durationS.toFixed(3)} s${chunk.prerollS ? ` (pre-roll ${chunk.prerollS.toFixed(3)} s)` : ''}`;
}

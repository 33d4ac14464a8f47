import { readFile, rm, stat } from 'node:fs/promises';
import { VidmeshError } from '../errors.js';
import type { JobSpec } from '../jobs/spec.js';
import { checkStoryboardVtt, DASH_MANIFEST, rewriteMpdFromMaster, STORYBOARD_VTT } from '../media/index.js';
import { fileNameOf } from '../protocol/media-url.js';
import {
  isMediaFile,
  listFiles,
  type PublishResult,
  publish,
  type StorageContext,
  safeJoin,
} from '../storage/index.js';

/**
 * Staged outputs of encoders that may not hold a job's credentials (community encoders, other tenants'
 * encoders on open-network jobs): they PUT every file to `<stagingRoot>/<jobId>/…` through the
 * lease-bound output route; nothing there is served. On completion the coordinator checks the staged
 * set and publishes it to the job's real destination with the opened spec, then drops the staging.
 * This is the seam where verification of untrusted results runs before publication.
 */

/** The staged output is not a publishable ladder (no master playlist, a non-media file). HTTP 422. */
export class StagedOutputInvalidError extends VidmeshError {
  override readonly code: string = 'output_invalid';
  override readonly status: number = 422;
}

/**
 * Publishes `<stagingRoot>/<jobId>` to `spec.destination` (secrets opened) and returns the URLs the
 * job's result reports: the master playlist the encoder named (default `master.m3u8`), the poster if
 * staged, and the storage module's PublishResult. Removes the staging folder after a successful publish.
 * @throws StagedOutputInvalidError (422) when the staged set has no such master playlist or holds a
 *   non-media file; the storage module's errors (retryable transfer errors among them) when publishing fails.
 */
export async function publishStaged(input: {
  jobId: string;
  spec: Pick<JobSpec, 'destination'>;
  stagingRoot: string;
  storage: StorageContext;
  reported: { masterUrl: string; posterUrl?: string };
  signal?: AbortSignal;
}): Promise<{
  masterUrl: string;
  posterUrl?: string;
  dashUrl?: string;
  storyboardUrl?: string;
  publish: PublishResult;
}> {
  const dir = safeJoin(input.stagingRoot, input.jobId);
  // An upload still in flight is a `.part` file: not part of the staged set.
  const files = await stat(dir).then(
    async () => (await listFiles(dir)).filter((f) => !f.endsWith('.part')),
    () => [] as string[],
  );
  const master = fileNameOf(input.reported.masterUrl) ?? 'master.m3u8';
  if (!files.includes(master) || !master.endsWith('.m3u8')) {
    throw new StagedOutputInvalidError(
      `staged output of job ${input.jobId} has no master playlist ${master}`,
    );
  }
  const foreign = files.find((f) => !isMediaFile(f));
  if (foreign) throw new StagedOutputInvalidError(`staged output holds a non-media file: ${foreign}`);
  const poster = input.reported.posterUrl ? fileNameOf(input.reported.posterUrl) : undefined;
  // A DASH MPD is derived data: rebuilt here from the staged playlists and files, never published as
  // the encoder wrote it (it could point anywhere).
  const dash = files.includes(DASH_MANIFEST) ? DASH_MANIFEST : undefined;
  const storyboard = files.includes(STORYBOARD_VTT) ? STORYBOARD_VTT : undefined;
  if (storyboard) {
    const problem = checkStoryboardVtt(await readFile(safeJoin(dir, storyboard), 'utf8'), new Set(files));
    if (problem)
      throw new StagedOutputInvalidError(`staged storyboard of job ${input.jobId} is invalid: ${problem}`);
  }
  if (dash) {
    await rewriteMpdFromMaster(dir, master, dash).catch((err: unknown) => {
      throw new StagedOutputInvalidError(
        `staged DASH output of job ${input.jobId} is not valid CMAF: ${(err as Error).message}`,
      );
    });
  }
  const published = await publish(dir, input.spec.destination, input.storage, {
    jobId: input.jobId,
    ...(input.signal ? { signal: input.signal } : {}),
  });
  const urlOf = (rel: string) => published.files.find((f) => f.path === rel)?.url;
  const masterUrl = published.ipfsUrl ?? urlOf(master) ?? published.masterUrl ?? master;
  const posterUrl = poster && files.includes(poster) ? (urlOf(poster) ?? poster) : undefined;
  const dashUrl = dash ? (urlOf(dash) ?? dash) : undefined;
  const storyboardUrl = storyboard ? (urlOf(storyboard) ?? storyboard) : undefined;
  await rm(dir, { recursive: true, force: true });
  return {
    masterUrl,
    ...(posterUrl ? { posterUrl } : {}),
    ...(dashUrl ? { dashUrl } : {}),
    ...(storyboardUrl ? { storyboardUrl } : {}),
    publish: published,
  };
}

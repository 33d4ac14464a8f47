import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VidmeshError } from '../errors.js';
import { type JobSpec, outputDestination } from '../jobs/spec.js';
import {
  checkStoryboardVtt,
  DASH_MANIFEST,
  probe,
  rewriteMpdFromMaster,
  STORYBOARD_VTT,
} from '../media/index.js';
import type { OutputResult } from '../protocol/index.js';
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

/**
 * Publishes the staged outputs of a job with `outputs[]` (`<stagingRoot>/<jobId>/<name>/…`), each to its
 * own destination (`outputDestination`, secrets opened), after verification. Returns one result per
 * reported output, in the order reported: a `completed` one with the URL (master playlist, DASH MPD, the
 * file, or the first image), `files` (thumbnails), bytes, duration and frame size (ffprobe of the staged
 * file), CID; a `failed` one as the encoder reported it; an output whose publish fails becomes `failed`
 * with the storage error (the others are still published). Removes the staging folder afterwards.
 * @throws StagedOutputInvalidError (422) when a completed output staged nothing, a non-media file, or
 *   an hls/dash output without its master playlist (or a DASH set that is not valid CMAF); the storage
 *   module's error when every completed output failed to publish.
 */
export async function publishStagedOutputs(input: {
  jobId: string;
  spec: JobSpec;
  stagingRoot: string;
  storage: StorageContext;
  reported: OutputResult[];
  signal?: AbortSignal;
}): Promise<OutputResult[]> {
  const root = safeJoin(input.stagingRoot, input.jobId);
  const byName = new Map((input.spec.outputs ?? []).map((o) => [o.name, o]));
  // Every staged set is checked before anything is published: a bad one publishes nothing.
  const sets = new Map<string, string[]>();
  for (const r of input.reported) {
    const o = byName.get(r.name);
    if (!o) throw new StagedOutputInvalidError(`output ${r.name} is not in the job`);
    if (r.status !== 'completed') continue;
    const dir = safeJoin(root, o.name);
    const files = await stat(dir).then(
      async () => (await listFiles(dir)).filter((f) => !f.endsWith('.part')),
      () => [] as string[],
    );
    if (files.length === 0) throw new StagedOutputInvalidError(`output ${o.name} staged nothing`);
    const foreign = files.find((f) => !isMediaFile(f));
    if (foreign) throw new StagedOutputInvalidError(`output ${o.name} holds a non-media file: ${foreign}`);
    if ((o.kind === 'hls' || o.kind === 'dash') && !files.includes('master.m3u8'))
      throw new StagedOutputInvalidError(`output ${o.name} has no master playlist`);
    if (o.kind === 'dash') {
      // The MPD is derived data: rebuilt from the staged playlists, never published as uploaded.
      await rewriteMpdFromMaster(dir, 'master.m3u8', DASH_MANIFEST).catch((err: unknown) => {
        throw new StagedOutputInvalidError(
          `staged DASH output ${o.name} is not valid CMAF: ${(err as Error).message}`,
        );
      });
    }
    sets.set(o.name, files);
  }
  const out: OutputResult[] = [];
  let firstError: unknown;
  for (const r of input.reported) {
    const o = byName.get(r.name)!;
    if (r.status !== 'completed') {
      out.push({
        name: o.name,
        kind: o.kind,
        status: 'failed',
        error: r.error ?? { code: 'output_failed', message: 'the encoder reported no error' },
      });
      continue;
    }
    const dir = safeJoin(root, o.name);
    const dest = outputDestination(input.spec, o);
    try {
      const published = await publish(dir, dest, input.storage, {
        jobId: input.jobId,
        ...(input.signal ? { signal: input.signal } : {}),
      });
      const mainPath =
        o.kind === 'hls'
          ? 'master.m3u8'
          : o.kind === 'dash'
            ? DASH_MANIFEST
            : (published.files.find((f) => !f.path.includes('/'))?.path ?? published.files[0]?.path ?? '');
      const urlOf = (rel: string) =>
        published.cid ? `ipfs://${published.cid}/${rel}` : published.files.find((f) => f.path === rel)?.url;
      const media =
        o.kind === 'thumbnails'
          ? undefined
          : await probe(join(dir, mainPath), input.signal ? { signal: input.signal } : {}).catch(
              () => undefined,
            );
      const url = urlOf(mainPath);
      out.push({
        name: o.name,
        kind: o.kind,
        status: 'completed',
        ...(url ? { url } : {}),
        ...(o.kind === 'thumbnails'
          ? { files: published.files.slice(0, 200).map((f) => urlOf(f.path) ?? f.url) }
          : {}),
        destinationType: dest.type,
        bytes: published.bytes,
        ...(media && media.durationS > 0 && o.kind !== 'poster' ? { durationS: media.durationS } : {}),
        ...(media?.video ? { width: media.video.displayWidth, height: media.video.displayHeight } : {}),
        ...(published.cid ? { cid: published.cid } : {}),
      });
    } catch (err) {
      firstError ??= err;
      const e =
        err instanceof VidmeshError
          ? { code: err.code, message: err.message.slice(0, 2000) }
          : { code: 'output_failed', message: String((err as Error)?.message ?? err).slice(0, 2000) };
      out.push({ name: o.name, kind: o.kind, status: 'failed', error: e });
    }
  }
  if (firstError !== undefined && !out.some((r) => r.status === 'completed')) throw firstError;
  await rm(root, { recursive: true, force: true });
  return out;
}

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type JobSpec, jobSpecSchema, requestedRenditions } from '../jobs/spec.js';
import type { Logger } from '../log.js';
import { type CodecSupport, encodeLadder, type HwaccelReport, planLadder, probe } from '../media/index.js';
import { mediaUrl, pathSegments } from '../protocol/media-url.js';
import {
  type DestinationInput,
  fetchSource,
  publish,
  type SourceRef,
  type StorageContext,
} from '../storage/index.js';
import { withSpan } from '../tracing.js';
import { chunkEncoder, describeChunk } from './chunk-task.js';
import { InvalidJobSpecError } from './errors.js';
import { runOutputs } from './outputs-task.js';
import type { JobReporter } from './reporter.js';
import { selectRenditions } from './selection.js';
import { checkSourceLimits } from './source-limits.js';
import { declareFiles } from './staged-files.js';
import type { ClaimedJob, CompletionResult, EncoderTransport, JobStage, LeaseRef } from './transport.js';

/** Inputs of one pipeline run; built by the node for each claimed job. */
export interface PipelineInput {
  job: ClaimedJob;
  /** Empty per-job folder `<dataDir>/encoder/work/<jobId>`; the node removes it afterwards. */
  workDir: string;
  /** Aborted on lease loss, cancel or shutdown: stops downloads, ffmpeg (process group) and uploads. */
  signal: AbortSignal;
  reporter: JobReporter;
  storage: StorageContext;
  transport: EncoderTransport;
  lease: LeaseRef;
  /** Backend order from the node's hwaccel detection. */
  hwaccel: HwaccelReport;
  /** Backends that passed the test encode per codec (the node's codec detection). */
  codecBackends?: CodecSupport['backends'];
  log?: Logger;
  onStage(stage: JobStage): void;
}

/**
 * Runs one job: fetch the source (streamed to the work dir) → probe → plan the ladder → encode it (one
 * ffmpeg process) → publish the outputs. Returns the completion report; does not report it.
 *
 * @throws InvalidJobSpecError (`invalid_job_spec`, 422) when the spec does not parse; the storage and
 *   media modules' typed errors otherwise (probe errors, transfer errors, encode errors); whatever the
 *   abort reason is when `signal` aborts.
 */
export async function runPipeline(input: PipelineInput): Promise<CompletionResult> {
  const { job, workDir, signal, reporter, log } = input;
  const parsed = jobSpecSchema.safeParse(job.spec);
  if (!parsed.success) {
    throw new InvalidJobSpecError(`job ${job.id} has an invalid spec`, {
      details: { issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) },
    });
  }
  const spec = parsed.data;
  const ctx = storageContextFor(input);
  const step = (line: string) => {
    reporter.log(`[vidmesh] ${line}`);
    log?.info(line);
  };

  const stage = (s: JobStage, progress = 0) => {
    reporter.update({ stage: s, progress });
    input.onStage(s);
  };

  stage('downloading');
  const source = sourceFor(spec.source, input);
  step(
    `attempt ${job.attempt}: fetching ${spec.source.type} source` +
      (source === spec.source ? '' : ' through the coordinator'),
  );
  const sourcePath = join(workDir, 'source');
  const started = Date.now();
  const fetched = await withSpan(
    'encoder.download',
    { 'vidmesh.source.type': spec.source.type },
    async (span) => {
      const f = await fetchSource(source, sourcePath, ctx, {
        signal,
        onProgress: (bytes, total) =>
          reporter.update({ stage: 'downloading', progress: total ? (bytes / total) * 100 : 0 }),
      });
      span.setAttributes({ 'vidmesh.source.bytes': f.bytes });
      return f;
    },
  );
  step(`fetched ${fetched.bytes} bytes in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const info = await withSpan('encoder.probe', {}, async () => {
    const i = await probe(fetched.path, { signal });
    // Before anything decodes: a hostile header must cost one ffprobe run, not the machine's memory.
    checkSourceLimits(i, job.limits);
    return i;
  });
  const v = info.video;
  step(
    `probed: ${info.container}, ${info.durationS.toFixed(2)} s` +
      (v ? `, ${v.codec} ${v.displayWidth}x${v.displayHeight} @ ${v.fps.toFixed(2)} fps` : ', audio only'),
  );
  if (spec.outputs) {
    return runOutputs({
      input,
      spec: { ...spec, outputs: spec.outputs },
      info,
      sourcePath,
      ctx,
      step,
      destinationFor: (dest) => destinationFor(dest, input) as JobSpec['destination'],
    });
  }
  // What this source allows first (never upscaled), then what this run encodes of it: a per-rendition
  // retry encodes only the claimed names and keeps the rest of the published ladder.
  const allowed = planLadder(info, spec.ladder ?? {});
  // A chunk task encodes its part of the whole plan; selection and retries are the parent's business.
  const selection = spec.chunk
    ? { only: undefined, keep: [], skipped: [], notes: [`chunk task: ${describeChunk(spec.chunk)}`] }
    : selectRenditions({
        planned: allowed.encode,
        requested: job.renditions,
        asked: requestedRenditions(spec),
        kept: job.keep ?? [],
        patchable: spec.destination.type !== 'ipfs',
      });
  const plan = selection.only ? planLadder(info, { ...spec.ladder, only: selection.only }) : allowed;
  for (const note of selection.notes) step(note);
  step(`plan: ${plan.encode.join(', ')} (${plan.segmentDuration} s segments, ${plan.format}, ${plan.speed})`);
  if (selection.keep.length > 0)
    step(`kept from an earlier run: ${selection.keep.map((k) => k.name).join(', ')}`);
  if (selection.skipped.length > 0) {
    step(`not produced for this source (never upscaled): ${selection.skipped.join(', ')}`);
  }
  // Every report from here on carries the skipped names, so the job shows them as soon as the plan is
  // known (the reporter keeps the last rendition list until a new one is given).
  const renditionStates = (status: 'running' | 'completed', progress: number, names = plan.encode) => [
    ...names.map((name) => ({ name, status, progress })),
    ...selection.skipped.map((name) => ({ name, status: 'skipped' as const, progress: 0 })),
  ];
  reporter.update({ stage: 'encoding', progress: 0, renditions: renditionStates('running', 0) });

  stage('encoding');
  const outDir = join(workDir, 'out');
  await mkdir(outDir, { recursive: true });
  const encode = spec.chunk ? chunkEncoder(spec.chunk) : encodeLadder;
  const encoded = await withSpan('encoder.encode', { 'vidmesh.renditions': plan.encode.join(',') }, () =>
    encode(plan, outDir, {
      signal,
      hwaccel: input.hwaccel,
      codecBackends: input.codecBackends,
      keep: selection.keep,
      onProgress: (p) =>
        reporter.update({
          stage: 'encoding',
          progress: p.percent,
          // One ffmpeg process encodes every rendition in step: they share the percentage.
          renditions: renditionStates('running', p.percent),
          ...(p.etaS === undefined ? {} : { etaS: Math.round(p.etaS) }),
          speed: p.speed,
          fps: p.fps,
        }),
      log,
    }),
  );
  for (const f of encoded.fallbacks) step(`backend ${f.backend} failed (${f.code}): ${f.reason}`);
  step(
    `encoded ${encoded.encoded.join(', ')} with ${encoded.backend} in ${encoded.encodeWallS.toFixed(1)} s ` +
      `(${encoded.speed.toFixed(2)}x realtime)`,
  );
  // The source is not needed any more: free the disk before uploading.
  await rm(sourcePath, { force: true });

  reporter.update({
    stage: 'uploading',
    progress: 0,
    renditions: renditionStates('completed', 100, encoded.encoded),
  });
  stage('uploading');
  // Nothing is published on a lease this node cannot confirm: after a partition another encoder may
  // have been given the job, and two writers must never race on one destination.
  await reporter.confirmLease({ signal });
  const destination = destinationFor(spec.destination, input);
  const published = await withSpan('encoder.publish', { 'vidmesh.destination.type': destination.type }, () =>
    publish(outDir, destination, ctx, {
      signal,
      jobId: job.id,
      // A per-rendition retry publishes only the new renditions and the master: the kept ones stay.
      merge: selection.keep.length > 0,
      onProgress: (bytes, total) =>
        reporter.update({ stage: 'uploading', progress: total ? (bytes / total) * 100 : 0 }),
    }),
  );
  step(`published ${published.files.length} files to ${destination.type}`);

  const encodeReport = {
    backend: encoded.backend,
    fallbacks: encoded.fallbacks,
    wallS: encoded.encodeWallS,
    speed: encoded.speed,
    renditions: encoded.encoded,
  };
  // Staged outputs are published by the coordinator, which reports their URLs: name the files only.
  if (job.transfer?.output === 'coordinator') {
    return {
      renditions: encoded.renditions,
      masterUrl: encoded.master,
      ...(encoded.poster ? { posterUrl: encoded.poster } : {}),
      ...(encoded.dash ? { dashUrl: encoded.dash } : {}),
      ...(encoded.storyboard ? { storyboardUrl: encoded.storyboard.vtt } : {}),
      publish: { type: 'staged', bytes: published.bytes },
      files: await declareFiles(outDir),
      encode: encodeReport,
    };
  }
  // Remote `local` outputs land in the coordinator's media folder: report the URLs it serves them at.
  const localViaCoordinator = destination !== spec.destination;
  const localPrefix = spec.destination.type === 'local' ? spec.destination.prefix : undefined;
  const urlOf = (rel: string): string | undefined =>
    localViaCoordinator
      ? mediaUrl(input.storage.localUrlBase ?? '/media', job.id, localPrefix, rel)
      : published.files.find((f) => f.path === rel)?.url;
  const masterUrl = published.ipfsUrl ?? urlOf(encoded.master) ?? published.masterUrl ?? '';
  const posterUrl = encoded.poster ? urlOf(encoded.poster) : undefined;
  const dashUrl = encoded.dash ? urlOf(encoded.dash) : undefined;
  const storyboardUrl = encoded.storyboard ? urlOf(encoded.storyboard.vtt) : undefined;
  return {
    renditions: encoded.renditions,
    masterUrl,
    ...(posterUrl ? { posterUrl } : {}),
    ...(dashUrl ? { dashUrl } : {}),
    ...(storyboardUrl ? { storyboardUrl } : {}),
    publish: published,
    encode: encodeReport,
  };
}

// Remote encoders cannot read the coordinator's upload folder: they download uploads over the agent
// API, and the coordinator's host is exempt from the SSRF guard (it is operator configuration).
function storageContextFor(input: PipelineInput): StorageContext {
  const uploads = input.transport.remoteUploads?.(input.lease);
  const relay =
    input.job.transfer?.source === 'coordinator' ? input.transport.remoteSource?.(input.lease) : undefined;
  if (!uploads && !relay) return input.storage;
  const hosts = [uploads?.baseUrl, relay?.url]
    .filter((u): u is string => !!u)
    .map((u) => new URL(u).hostname);
  return {
    ...input.storage,
    ...(uploads ? { uploads: { kind: 'http', baseUrl: uploads.baseUrl, headers: uploads.headers } } : {}),
    ssrf: { ...input.storage.ssrf, allowHosts: [...(input.storage.ssrf.allowHosts ?? []), ...hosts] },
  };
}

/**
 * The source to fetch: the spec's own, or the coordinator's lease-bound relay when the hand-out says
 * so (the spec then holds no credential to read it with).
 * @throws InvalidJobSpecError when the hand-out asks for the relay and the transport has none.
 */
function sourceFor(src: SourceRef, input: PipelineInput): SourceRef {
  if (input.job.transfer?.source !== 'coordinator') return src;
  const relay = input.transport.remoteSource?.(input.lease);
  if (!relay) throw new InvalidJobSpecError(`job ${input.job.id} must be read through a coordinator relay`);
  return { type: 'http', url: relay.url, headers: relay.headers };
}

// A remote encoder publishes a `local` destination into the coordinator's storage through
// `PUT /api/v1/agent/outputs/:jobId/<path>` (storage http destination, lease token header); an
// untrusted one stages every destination there (no prefix: the coordinator publishes the set).
function destinationFor(dest: DestinationInput, input: PipelineInput): DestinationInput {
  const staged = input.job.transfer?.output === 'coordinator';
  if (dest.type !== 'local' && !staged) return dest;
  const remote = input.transport.remoteOutputs?.(input.lease);
  if (!remote) {
    if (staged)
      throw new InvalidJobSpecError(`job ${input.job.id} must stage its outputs on the coordinator`);
    return dest;
  }
  // The coordinator refuses traversal itself; this only keeps the URL well-formed.
  const parts = dest.type === 'local' && !staged ? pathSegments(dest.prefix).map(encodeURIComponent) : [];
  const baseUrl = remote.baseUrl + (parts.length ? `${parts.join('/')}/` : '');
  return { type: 'http', baseUrl, headers: remote.headers, method: 'PUT' };
}

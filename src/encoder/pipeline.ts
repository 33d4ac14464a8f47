import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { jobSpecSchema } from '../jobs/spec.js';
import type { Logger } from '../log.js';
import { encodeLadder, type HwaccelReport, planLadder, probe } from '../media/index.js';
import { type DestinationInput, fetchSource, publish, type StorageContext } from '../storage/index.js';
import { withSpan } from '../tracing.js';
import { InvalidJobSpecError } from './errors.js';
import type { JobReporter } from './reporter.js';
import { checkSourceLimits } from './source-limits.js';
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
  step(`attempt ${job.attempt}: fetching ${spec.source.type} source`);
  const sourcePath = join(workDir, 'source');
  const started = Date.now();
  const fetched = await withSpan(
    'encoder.download',
    { 'vidmesh.source.type': spec.source.type },
    async (span) => {
      const f = await fetchSource(spec.source, sourcePath, ctx, {
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
  const plan = planLadder(info, spec.ladder ?? {});
  step(`plan: ${plan.encode.join(', ')} (${plan.segmentDuration} s segments, ${plan.format}, ${plan.speed})`);
  const missing = job.renditions.filter((r) => !plan.encode.includes(r));
  if (missing.length > 0) step(`not produced for this source (never upscaled): ${missing.join(', ')}`);

  stage('encoding');
  const outDir = join(workDir, 'out');
  await mkdir(outDir, { recursive: true });
  const encoded = await withSpan('encoder.encode', { 'vidmesh.renditions': plan.encode.join(',') }, () =>
    encodeLadder(plan, outDir, {
      signal,
      hwaccel: input.hwaccel,
      onProgress: (p) =>
        reporter.update({
          stage: 'encoding',
          progress: p.percent,
          // One ffmpeg process encodes every rendition in step: they share the percentage.
          renditions: plan.encode.map((name) => ({ name, status: 'running' as const, progress: p.percent })),
          ...(p.etaS === undefined ? {} : { etaS: Math.round(p.etaS) }),
          speed: p.speed,
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
    renditions: encoded.encoded.map((name) => ({ name, status: 'completed' as const, progress: 100 })),
  });
  stage('uploading');
  const destination = destinationFor(spec.destination, input);
  const published = await withSpan('encoder.publish', { 'vidmesh.destination.type': destination.type }, () =>
    publish(outDir, destination, ctx, {
      signal,
      jobId: job.id,
      onProgress: (bytes, total) =>
        reporter.update({ stage: 'uploading', progress: total ? (bytes / total) * 100 : 0 }),
    }),
  );
  step(`published ${published.files.length} files to ${destination.type}`);

  // Remote `local` outputs land in the coordinator's media folder: report the URLs it serves them at.
  const localViaCoordinator = destination !== spec.destination;
  const localPrefix = spec.destination.type === 'local' ? spec.destination.prefix : undefined;
  const urlOf = (rel: string): string | undefined =>
    localViaCoordinator
      ? localUrl(input, rel, localPrefix)
      : published.files.find((f) => f.path === rel)?.url;
  const masterUrl = published.ipfsUrl ?? urlOf(encoded.master) ?? published.masterUrl ?? '';
  const posterUrl = encoded.poster ? urlOf(encoded.poster) : undefined;
  return {
    renditions: encoded.renditions,
    masterUrl,
    ...(posterUrl ? { posterUrl } : {}),
    publish: published,
    encode: {
      backend: encoded.backend,
      fallbacks: encoded.fallbacks,
      wallS: encoded.encodeWallS,
      speed: encoded.speed,
    },
  };
}

// Remote encoders cannot read the coordinator's upload folder: they download uploads over the agent
// API, and the coordinator's host is exempt from the SSRF guard (it is operator configuration).
function storageContextFor(input: PipelineInput): StorageContext {
  const uploads = input.transport.remoteUploads?.(input.lease);
  if (!uploads) return input.storage;
  const host = new URL(uploads.baseUrl).hostname;
  return {
    ...input.storage,
    uploads: { kind: 'http', baseUrl: uploads.baseUrl, headers: uploads.headers },
    ssrf: { ...input.storage.ssrf, allowHosts: [...(input.storage.ssrf.allowHosts ?? []), host] },
  };
}

// A remote encoder publishes a `local` destination into the coordinator's storage through
// `PUT /api/v1/agent/outputs/:jobId/<path>` (storage http destination, lease token header).
function destinationFor(dest: DestinationInput, input: PipelineInput): DestinationInput {
  if (dest.type !== 'local') return dest;
  const remote = input.transport.remoteOutputs?.(input.lease);
  if (!remote) return dest;
  const baseUrl = remote.baseUrl + prefixPath(dest.prefix);
  return { type: 'http', baseUrl, headers: remote.headers, method: 'PUT' };
}

// The coordinator refuses traversal itself; this only keeps the URL well-formed.
function prefixPath(prefix: string | undefined): string {
  const parts = (prefix ?? '').split('/').filter((p) => p && p !== '.' && p !== '..');
  return parts.length ? parts.map(encodeURIComponent).join('/') + '/' : '';
}

function localUrl(input: PipelineInput, rel: string, prefix: string | undefined): string {
  const base = (input.storage.localUrlBase ?? '/media').replace(/\/+$/, '');
  return `${base}/${encodeURIComponent(input.job.id)}/${prefixPath(prefix)}${rel}`;
}

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VidmeshError } from '../errors.js';
import { type JobOutput, type JobSpec, namedOutputs, outputDestination } from '../jobs/spec.js';
import {
  CancelledError,
  encodeFileOutputs,
  encodeLadder,
  type PlannedLadderOutput,
  type ProbeResult,
  planLadder,
  planOutputs,
  probe,
} from '../media/index.js';
import { mediaUrl } from '../protocol/media-url.js';
import type { OutputResult } from '../protocol/result.js';
import { publish, type StorageContext } from '../storage/index.js';
import { withSpan } from '../tracing.js';
import { InvalidJobSpecError, OutputsFailedError } from './errors.js';
import type { PipelineInput } from './pipeline.js';
import { declareFiles } from './staged-files.js';
import type { CompletionResult } from './transport.js';

/** What the pipeline hands the outputs task after fetch and probe. */
export interface OutputsTaskInput {
  input: PipelineInput;
  spec: JobSpec & { outputs: JobOutput[] };
  info: ProbeResult;
  sourcePath: string;
  ctx: StorageContext;
  step(line: string): void;
  /** Maps a destination to the one this encoder may write to (lease-bound for remote `local`). */
  destinationFor(dest: JobSpec['destination']): JobSpec['destination'];
}

const errorOf = (err: unknown): { code: string; message: string; retryable: boolean } =>
  err instanceof VidmeshError
    ? { code: err.code, message: err.message.slice(0, 2000), retryable: err.retryable }
    : {
        code: 'output_failed',
        message: String((err as Error)?.message ?? err).slice(0, 2000),
        retryable: true,
      };

/**
 * Runs the outputs of a job (docs/outputs.md) on a fetched, probed source: hls/dash outputs through the
 * ladder encoder, every file output through one shared decode, then each output published to its own
 * destination. One output's failure (impossible for this source, its encode, its publish) fails that
 * output only; the completion reports each output run by this attempt (a retry names some: the others
 * stay as they were).
 * @throws OutputsFailedError when every output of this attempt failed; CancelledError on abort.
 */
export async function runOutputs(t: OutputsTaskInput): Promise<CompletionResult> {
  const { input, spec, info, step } = t;
  const { job, reporter, signal, workDir } = input;
  const wanted = new Set(job.renditions);
  const outputs = spec.outputs.filter((o) => wanted.size === 0 || wanted.has(o.name));
  const named = namedOutputs({ ...spec, outputs });
  const plan = planOutputs(info, named, spec.ladder ?? {});
  const results = new Map<string, OutputResult>();
  const retryable: boolean[] = [];
  const fail = (o: JobOutput, err: unknown) => {
    const e = errorOf(err);
    retryable.push(e.retryable);
    results.set(o.name, {
      name: o.name,
      kind: o.kind,
      status: 'failed',
      error: { code: e.code, message: e.message },
    });
    step(`output ${o.name} failed: ${e.code}: ${e.message}`);
  };
  const byName = new Map(outputs.map((o) => [o.name, o]));
  for (const i of plan.impossible) fail(byName.get(i.name)!, new OutputImpossibleError(i.reason));

  // Progress: each ladder is one share of the encode, the shared decode one more.
  const progress = new Map<string, number>(outputs.map((o) => [o.name, 0]));
  const report = (stage: 'encoding' | 'uploading') => {
    const values = [...progress.values()];
    reporter.update({
      stage,
      progress: values.reduce((a, b) => a + b, 0) / Math.max(1, values.length),
      renditions: outputs.map((o) => ({
        name: o.name,
        status: results.get(o.name)?.status === 'failed' ? 'failed' : 'running',
        progress: progress.get(o.name) ?? 0,
      })),
    });
  };
  input.onStage('encoding');
  report('encoding');
  step(
    `outputs: ${outputs.map((o) => `${o.name} (${o.kind})`).join(', ')}; ` +
      `${plan.files.length} from one shared decode, ${plan.ladders.length} ladder(s)`,
  );

  const outDir = join(workDir, 'out');
  const started = performance.now();
  let backend = 'libx264';
  for (const l of plan.ladders) {
    try {
      const encoded = await encodeLadderOutput(t, l, join(outDir, l.name), (p) => {
        progress.set(l.name, p);
        report('encoding');
      });
      backend = encoded;
    } catch (err) {
      if (err instanceof CancelledError || signal.aborted) throw err;
      fail(byName.get(l.name)!, err);
    }
  }
  const fileNames = new Set(plan.files.map((f) => f.name));
  if (plan.files.length > 0) {
    try {
      const written = await withSpan('encoder.encode_outputs', { 'vidmesh.outputs': plan.files.length }, () =>
        encodeFileOutputs(plan, outDir, {
          signal,
          log: input.log,
          onProgress: (p) => {
            for (const n of fileNames) progress.set(n, p.percent);
            report('encoding');
          },
        }),
      );
      for (const w of written) {
        if (w.files.length === 0)
          fail(byName.get(w.name)!, new OutputImpossibleError('ffmpeg wrote no file'));
      }
    } catch (err) {
      if (err instanceof CancelledError || signal.aborted) throw err;
      for (const n of fileNames) fail(byName.get(n)!, err);
    }
  }
  const encodeWallS = (performance.now() - started) / 1000;
  step(`encoded outputs in ${encodeWallS.toFixed(1)} s`);
  await rm(t.sourcePath, { force: true });

  input.onStage('uploading');
  for (const o of outputs) if (!results.has(o.name)) progress.set(o.name, 100);
  report('uploading');
  // As for a ladder: nothing is published on a lease this node cannot confirm.
  await reporter.confirmLease({ signal });
  let bytes = 0;
  // An untrusted encoder stages every output on the coordinator (`<name>/…`), which verifies and
  // publishes them (docs/verification.md): it never holds a destination's credentials.
  const staged = input.job.transfer?.output === 'coordinator';
  for (const o of outputs) {
    if (results.has(o.name)) continue;
    try {
      const result = staged
        ? await stageOutput(t, o, join(outDir, o.name))
        : await publishOutput(t, o, join(outDir, o.name));
      bytes += result.bytes ?? 0;
      results.set(o.name, result);
      step(
        staged
          ? `output ${o.name} staged on the coordinator`
          : `output ${o.name} published to ${result.destinationType}: ${result.url ?? ''}`,
      );
    } catch (err) {
      if (err instanceof CancelledError || signal.aborted) throw err;
      fail(o, err);
    }
  }
  const reported = outputs.map((o) => results.get(o.name)!);
  if (reported.every((r) => r.status === 'failed')) {
    throw new OutputsFailedError(`every output failed: ${reported.map((r) => r.error?.code).join(', ')}`, {
      retryable: retryable.some(Boolean),
      details: { outputs: reported.map((r) => ({ name: r.name, error: r.error })) },
    });
  }
  const main = reported.find((r) => r.status === 'completed' && (r.kind === 'hls' || r.kind === 'dash'));
  return {
    renditions: [],
    masterUrl: main?.url ?? reported.find((r) => r.url)?.url ?? '',
    publish: { type: 'outputs', bytes },
    encode: {
      backend,
      fallbacks: [],
      wallS: encodeWallS,
      speed: encodeWallS > 0 ? info.durationS / encodeWallS : 0,
      renditions: outputs.map((o) => o.name),
    },
    outputs: reported,
    // Staged: the coordinator verifies the staged files against these and reports the URLs.
    ...(staged
      ? {
          files: (await declareFiles(outDir)).filter((f) =>
            reported.some((r) => r.status === 'completed' && f.path.startsWith(`${r.name}/`)),
          ),
        }
      : {}),
  };
}

/**
 * Uploads one output's folder to the coordinator's staging (`<name>/…` under the lease-bound output
 * route); the coordinator publishes it to the output's destination after verification.
 */
async function stageOutput(t: OutputsTaskInput, o: JobOutput, dir: string): Promise<OutputResult> {
  const { input, spec } = t;
  const target = t.destinationFor(outputDestination(spec, o));
  if (target.type !== 'http')
    throw new InvalidJobSpecError(`job ${input.job.id} must stage its outputs on the coordinator`);
  const staging = {
    ...target,
    baseUrl: `${target.baseUrl.replace(/\/?$/, '/')}${encodeURIComponent(o.name)}/`,
  };
  const published = await withSpan('encoder.publish', { 'vidmesh.destination.type': 'staged' }, () =>
    publish(dir, staging, t.ctx, { signal: input.signal, jobId: input.job.id }),
  );
  return {
    name: o.name,
    kind: o.kind,
    status: 'completed',
    destinationType: 'staged',
    bytes: published.bytes,
  };
}

/** An output this source cannot give (video of an audio-only source, a time past the end). */
export class OutputImpossibleError extends VidmeshError {
  override readonly code: string = 'output_impossible';
  override readonly status: number = 422;
}

async function encodeLadderOutput(
  t: OutputsTaskInput,
  l: PlannedLadderOutput,
  dir: string,
  onPercent: (p: number) => void,
): Promise<string> {
  const { input } = t;
  const plan = planLadder(t.info, l.ladder);
  t.step(`output ${l.name}: ladder ${plan.encode.join(', ')} (${plan.format}${plan.dash ? ', DASH' : ''})`);
  const encoded = await withSpan('encoder.encode', { 'vidmesh.output': l.name }, () =>
    encodeLadder(plan, dir, {
      signal: input.signal,
      hwaccel: input.hwaccel,
      codecBackends: input.codecBackends,
      log: input.log,
      onProgress: (p) => onPercent(p.percent),
    }),
  );
  for (const f of encoded.fallbacks) t.step(`backend ${f.backend} failed (${f.code}): ${f.reason}`);
  return encoded.backend;
}

/** Publishes one output's folder to its destination and describes it (URL, bytes, duration, size). */
async function publishOutput(t: OutputsTaskInput, o: JobOutput, dir: string): Promise<OutputResult> {
  const { input, spec } = t;
  const dest = outputDestination(spec, o);
  const target = t.destinationFor(dest);
  const published = await withSpan('encoder.publish', { 'vidmesh.destination.type': dest.type }, () =>
    publish(dir, target, t.ctx, { signal: input.signal, jobId: input.job.id }),
  );
  // The file a player or client wants: the master (DASH: the MPD), else the one file, else the first image.
  const mainPath =
    o.kind === 'hls'
      ? 'master.m3u8'
      : o.kind === 'dash'
        ? 'manifest.mpd'
        : (published.files.find((f) => !f.path.includes('/'))?.path ?? published.files[0]?.path ?? '');
  const remoteLocal = dest.type === 'local' && target !== dest;
  const urlOf = (rel: string): string | undefined =>
    remoteLocal
      ? mediaUrl(
          input.storage.localUrlBase ?? '/media',
          input.job.id,
          dest.type === 'local' ? dest.prefix : '',
          rel,
        )
      : published.cid
        ? `ipfs://${published.cid}/${rel}`
        : published.files.find((f) => f.path === rel)?.url;
  const media =
    o.kind === 'thumbnails'
      ? undefined
      : await probe(join(dir, mainPath), { signal: input.signal }).catch(() => undefined);
  const images = published.files.filter((f) => f.path !== mainPath || o.kind === 'thumbnails');
  return {
    name: o.name,
    kind: o.kind,
    status: 'completed',
    url: urlOf(mainPath),
    ...(o.kind === 'thumbnails' ? { files: images.slice(0, 200).map((f) => urlOf(f.path) ?? f.url) } : {}),
    destinationType: dest.type,
    bytes: published.bytes,
    ...(media && media.durationS > 0 && o.kind !== 'poster' ? { durationS: media.durationS } : {}),
    ...(media?.video ? { width: media.video.displayWidth, height: media.video.displayHeight } : {}),
    ...(published.cid ? { cid: published.cid } : {}),
  };
}

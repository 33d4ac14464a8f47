import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { CancelledError, EncodeError } from './errors.js';
import { buildOutputsArgs, type OutputsPlan } from './outputs.js';
import { runProcess, summarizeStderr } from './process.js';
import { createProgressParser, type EncodeProgress, throttleProgress } from './progress.js';

/** What the shared decode wrote for one file output (relative to its folder), in bytes. */
export interface FileOutputResult {
  name: string;
  files: string[];
  bytes: number;
}

export interface EncodeOutputsOptions {
  signal?: AbortSignal;
  /** Throttled to one per `progressIntervalMs` (default 1000) plus the last. */
  onProgress?: (p: EncodeProgress) => void;
  progressIntervalMs?: number;
  /** Kill ffmpeg after this long without output (ms, default 120000). */
  stallTimeoutMs?: number;
  log?: Logger;
}

/**
 * Runs the shared decode of a {@link OutputsPlan} (software encoders): one ffmpeg process writes every
 * file output into `<outDir>/<name>/`. Each output's folder is emptied first. Resolves with what each
 * output wrote; an output that wrote nothing (a thumbnail time no frame reached) is returned with no
 * files, for the caller to report as failed.
 * @throws CancelledError when `signal` aborts; EncodeStalledError on silence; EncodeError when ffmpeg fails
 *   (then every file output of this run failed: they share the process).
 */
export async function encodeFileOutputs(
  plan: OutputsPlan,
  outDir: string,
  options: EncodeOutputsOptions = {},
): Promise<FileOutputResult[]> {
  const args = buildOutputsArgs(plan, outDir);
  if (!args) return [];
  if (options.signal?.aborted) throw new CancelledError('cancelled before start');
  for (const f of plan.files) {
    await rm(join(outDir, f.name), { recursive: true, force: true });
    await mkdir(join(outDir, f.name), { recursive: true });
  }
  options.log?.debug({ args }, 'ffmpeg outputs');
  const parse = createProgressParser(plan.durationS);
  const emit = options.onProgress
    ? throttleProgress((p) => options.onProgress?.(p), options.progressIntervalMs ?? 1000)
    : undefined;
  const outcome = await runProcess('ffmpeg', args, {
    signal: options.signal,
    stallTimeoutMs: options.stallTimeoutMs ?? 120_000,
    onStdoutLine: (line) => {
      const p = parse(line);
      if (p && emit) emit(p);
    },
  });
  if (outcome.code !== 0) {
    throw new EncodeError(
      `ffmpeg (outputs) exited with ${outcome.code ?? outcome.signal}: ${summarizeStderr(outcome.stderr)}`,
      { details: { exitCode: outcome.code } },
    );
  }
  const results: FileOutputResult[] = [];
  for (const f of plan.files) {
    const dir = join(outDir, f.name);
    const files = (await readdir(dir)).sort();
    let bytes = 0;
    for (const file of files) bytes += (await stat(join(dir, file))).size;
    results.push({ name: f.name, files, bytes });
  }
  return results;
}

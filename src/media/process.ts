import { spawn } from 'node:child_process';
import { CancelledError, EncodeStalledError, FfmpegMissingError } from './errors.js';

/** Outcome of a finished child process. `stdout` is only kept when `captureStdout` was set. */
export interface ProcessOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  /** The last `stderrLimit` bytes of stderr, as text. */
  stderr: string;
}

export interface RunProcessOptions {
  signal?: AbortSignal;
  /** Kill the process when stdout/stderr stay silent for this long (ms). Unset: no watchdog. */
  stallTimeoutMs?: number;
  /** Called with each complete stdout line (then stdout is not buffered). */
  onStdoutLine?: (line: string) => void;
  /** Keep the whole stdout in the outcome (ffprobe JSON, raw bitstreams). */
  captureStdout?: boolean;
  /** Fed to the process's stdin (e.g. `-i pipe:0`); absent: stdin is closed. */
  stdin?: NodeJS.ReadableStream;
  stderrLimit?: number;
}

/**
 * Runs `command args` in its own process group (detached), so that cancelling or a stalled watchdog
 * kills ffmpeg and every helper it started (`process.kill(-pid)`), never leaving orphans that keep
 * writing into a folder being cleaned. There is deliberately no total timeout: a 2-hour encode is
 * normal; only silence (no output for `stallTimeoutMs`) means stuck.
 *
 * Resolves with the outcome whatever the exit code; rejects with CancelledError when `signal` aborts,
 * EncodeStalledError on a stall, FfmpegMissingError when the binary is missing.
 */
export function runProcess(
  command: string,
  args: string[],
  options: RunProcessOptions = {},
): Promise<ProcessOutcome> {
  const { signal, stallTimeoutMs, onStdoutLine, captureStdout = false, stderrLimit = 64 * 1024 } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError('cancelled before start'));
      return;
    }
    const child = spawn(command, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    // ffmpeg closing its input early (it failed, or was killed) is its exit's business, not an error here.
    child.stdin.on('error', () => {});
    if (options.stdin) {
      options.stdin.on('error', () => child.stdin.end());
      options.stdin.pipe(child.stdin);
    } else {
      child.stdin.end();
    }
    let failure: Error | undefined;
    let stderr = '';
    const stdoutChunks: Buffer[] = [];
    let pending = '';
    let stallTimer: NodeJS.Timeout | undefined;

    const killGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const stop = (err: Error): void => {
      if (failure) return;
      failure = err;
      // Every stop discards the output (cancel, lost lease, stall), so there is nothing for ffmpeg to
      // flush: SIGTERM would let x264 drain its lookahead for seconds while another encoder may already
      // hold the job. SIGKILL the whole group now.
      killGroup('SIGKILL');
    };
    const armWatchdog = (): void => {
      if (stallTimeoutMs === undefined) return;
      if (stallTimer) clearTimeout(stallTimer);
      stallTimer = setTimeout(
        () =>
          stop(
            new EncodeStalledError(`${command} made no progress for ${stallTimeoutMs} ms`, {
              details: { stallTimeoutMs },
            }),
          ),
        stallTimeoutMs,
      );
    };
    const onAbort = (): void => stop(new CancelledError('cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    armWatchdog();

    child.stdout.on('data', (chunk: Buffer) => {
      armWatchdog();
      if (onStdoutLine) {
        pending += chunk.toString('utf8');
        let nl = pending.indexOf('\n');
        while (nl >= 0) {
          onStdoutLine(pending.slice(0, nl).trimEnd());
          pending = pending.slice(nl + 1);
          nl = pending.indexOf('\n');
        }
      } else if (captureStdout) {
        stdoutChunks.push(chunk);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      armWatchdog();
      stderr += chunk.toString('utf8');
      if (stderr.length > stderrLimit) stderr = stderr.slice(-stderrLimit);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') failure ??= new FfmpegMissingError(`${command} not found`, { cause: err });
      else failure ??= err;
    });
    child.on('close', (code, sig) => {
      if (stallTimer) clearTimeout(stallTimer);
      signal?.removeEventListener('abort', onAbort);
      // Helpers started by ffmpeg may outlive it; the group is ours, end it.
      if (failure) killGroup('SIGKILL');
      if (onStdoutLine && pending) onStdoutLine(pending.trimEnd());
      if (failure) reject(failure);
      else resolve({ code, signal: sig, stdout: Buffer.concat(stdoutChunks), stderr });
    });
  });
}

/** The last few meaningful stderr lines of ffmpeg, for error messages and hwaccel reasons. */
export function summarizeStderr(stderr: string, maxLines = 4): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^(Press \[q\]|frame=|size=)/.test(l));
  return lines.slice(-maxLines).join(' | ').slice(0, 600);
}

/**
 * The browser encoder's dedicated Worker (docs/encoders.md, "Browser encoder"): runs the whole encode
 * loop of {@link transcodeToHls} (demux, WebCodecs decode/encode, resize, mux) off the page's main
 * thread, so the page keeps only UI, lease renewal, progress reports and upload. Started by
 * `transcodeInWorker` (transcode-client.ts), one Worker per job.
 *
 * Messages in: `{type: 'start', source: Blob, plan: EncodePlan}`, then optionally `{type: 'cancel'}`.
 * Messages out: `{type: 'progress', fraction 0..1, sourceS}`, then exactly one of `{type: 'done',
 * result: TranscodeResult}` (the files' buffers transferred) or `{type: 'error', message, code?}`
 * (`code` `unsupported_source` for a source it cannot read, `canceled` after a cancel).
 */

import type { EncodePlan } from '../../../src/protocol/wire.js';
import { TranscodeInputError, transcodeToHls } from './transcode.js';

export type WorkerRequest = { type: 'start'; source: Blob; plan: EncodePlan } | { type: 'cancel' };

export type WorkerReply =
  | { type: 'progress'; fraction: number; sourceS: number }
  | { type: 'done'; result: Awaited<ReturnType<typeof transcodeToHls>> }
  | { type: 'error'; message: string; code?: 'unsupported_source' | 'canceled' };

// A dedicated worker's global scope (the web app compiles with the DOM lib, not WebWorker).
const scope = self as unknown as {
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

const abort = new AbortController();
let started = false;

scope.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === 'cancel') {
    abort.abort(new Error('encode cancelled'));
    return;
  }
  if (started) return;
  started = true;
  transcodeToHls(msg.source, msg.plan, {
    signal: abort.signal,
    onProgress: (fraction, sourceS) => scope.postMessage({ type: 'progress', fraction, sourceS }),
  }).then(
    (result) =>
      scope.postMessage(
        { type: 'done', result },
        result.files.map((f) => f.bytes.buffer as ArrayBuffer),
      ),
    (err: unknown) =>
      scope.postMessage({
        type: 'error',
        message: err instanceof Error ? err.message : String(err),
        ...(err instanceof TranscodeInputError
          ? { code: 'unsupported_source' as const }
          : abort.signal.aborted
            ? { code: 'canceled' as const }
            : {}),
      }),
  );
};

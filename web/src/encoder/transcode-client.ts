import type { EncodePlan } from '../../../src/protocol/wire.js';
import { TranscodeInputError, type TranscodeResult } from './transcode.js';
import type { WorkerReply, WorkerRequest } from './transcode-worker.js';

/**
 * {@link transcodeToHls} in a dedicated Worker (transcode-worker.ts): the same inputs, result and
 * errors, with the encode loop off the page's main thread. `onProgress(fraction 0..1, sourceS)` is
 * called from the worker's progress messages. Throws {@link TranscodeInputError} for sources it cannot
 * read (not retryable), the signal's reason when `signal` aborts (the worker is told to cancel and is
 * terminated), and an `Error` for any other failure of the worker (including one that could not start).
 */
export function transcodeInWorker(
  source: Blob,
  plan: EncodePlan,
  options: { onProgress?: (fraction: number, sourceS: number) => void; signal?: AbortSignal } = {},
): Promise<TranscodeResult> {
  const { signal, onProgress } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const worker = new Worker(new URL('./transcode-worker.ts', import.meta.url), {
    type: 'module',
    name: 'vidmesh-encoder',
  });
  return new Promise<TranscodeResult>((resolve, reject) => {
    const finish = () => {
      signal?.removeEventListener('abort', onAbort);
      worker.terminate();
    };
    const onAbort = () => {
      worker.postMessage({ type: 'cancel' } satisfies WorkerRequest);
      finish();
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const msg = event.data;
      if (msg.type === 'progress') onProgress?.(msg.fraction, msg.sourceS);
      else if (msg.type === 'done') {
        finish();
        resolve(msg.result);
      } else {
        finish();
        reject(
          msg.code === 'unsupported_source' ? new TranscodeInputError(msg.message) : new Error(msg.message),
        );
      }
    };
    worker.onerror = (event) => {
      finish();
      reject(new Error(`the encoder worker failed: ${event.message || 'could not start'}`));
    };
    worker.postMessage({ type: 'start', source, plan } satisfies WorkerRequest);
  });
}

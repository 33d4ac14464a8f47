import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProbeResult, probe } from '../media/index.js';
import { maxSourceBytes } from '../storage/context.js';
import { fetchSource, type StorageContext } from '../storage/index.js';

/** Probes the source at an http(s) URL for a quote: `url` and optional request `headers`. */
export type UrlProber = (source: { url: string; headers?: Record<string, string> }) => Promise<ProbeResult>;

/**
 * The prober of `POST /api/v1/community/quote` for URL sources: downloads the source with storage's
 * `fetchSource` (the path the source relay and encoders use: the SSRF guard on every hop and resolved
 * address, redirects re-checked, the stall timeout) into a temporary folder under `workDir`, at most
 * `maxBytes` bytes (and the storage context's own limit), probes it with ffprobe and deletes it.
 * @throws SsrfBlockedError (400), SourceNotFoundError (422), SourceTooLargeError (413),
 *   StorageTransferError / StorageStalledError (502, retryable), and probe errors (422) for a non-media file
 */
export function createUrlProber(o: {
  storage: () => StorageContext;
  workDir: string;
  maxBytes: number;
}): UrlProber {
  return async (source) => {
    await mkdir(o.workDir, { recursive: true });
    const dir = await mkdtemp(join(o.workDir, 'quote-'));
    try {
      const ctx = o.storage();
      const path = join(dir, 'source');
      await fetchSource({ type: 'http', ...source }, path, {
        ...ctx,
        limits: { ...ctx.limits, maxSourceBytes: Math.min(maxSourceBytes(ctx), o.maxBytes) },
      });
      return await probe(path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

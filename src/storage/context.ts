import type { Logger } from '../log.js';
import type { SsrfPolicy } from './ssrf.js';

/**
 * How `upload` sources are resolved: in-process encoders read the coordinator's upload directory
 * (`dir`, one file per upload id); remote encoders GET `<baseUrl>/api/v1/uploads/:id/content` with
 * `headers` (e.g. their signed auth). The coordinator URL is operator configuration, so its host is
 * exempt from the SSRF policy.
 */
export type UploadResolver =
  | { kind: 'dir'; dir: string }
  | { kind: 'http'; baseUrl: string; headers?: Record<string, string> | (() => Record<string, string>) };

/**
 * Everything a storage connector may use, built from explicit values by the config owner (this
 * module reads no environment variables).
 * - `localRoot`: directory of the `local` destination; a job's files land in `<localRoot>/<jobId>/…`
 *   and the coordinator serves them at `/media/<jobId>/…` (`localUrlBase`, default `/media`).
 * - `fileRoots`: absolute directories `file` sources may read from (empty: `file` sources refused).
 * - `ssrf`: allowlist for non-public network targets (default: none allowed).
 * - `ipfs.blockstoreDir`: embedded blockstore directory; `gatewayUrl` (a trustless gateway serving
 *   `?format=raw` blocks) or `kuboApiUrl` (kubo RPC) are used to fetch `ipfs` sources.
 * - `limits.maxSourceBytes` (bytes, default 20 GiB), `limits.maxInlineBytes` (bytes, default 1 MiB).
 * - `http`: stall timeout (ms, default 30 000), redirect limit (default 5), resume attempts (default 5).
 * - `retry`: publish attempts per file (default 4) and base backoff (ms, default 250).
 */
export interface StorageContext {
  localRoot: string;
  localUrlBase?: string;
  uploads?: UploadResolver;
  fileRoots: readonly string[];
  ssrf: SsrfPolicy;
  ipfs: { blockstoreDir: string; gatewayUrl?: string; kuboApiUrl?: string };
  limits?: { maxSourceBytes?: number; maxInlineBytes?: number };
  http?: { stallTimeoutMs?: number; maxRedirects?: number; maxResumes?: number };
  retry?: { attempts?: number; baseDelayMs?: number };
  log?: Logger;
}

/** Progress callback: bytes transferred so far and, when known, the total (both in bytes). */
export type ProgressFn = (bytes: number, totalBytes?: number) => void;

export const DEFAULT_MAX_SOURCE_BYTES = 20 * 1024 ** 3;
export const DEFAULT_MAX_INLINE_BYTES = 1024 * 1024;

export function maxSourceBytes(ctx: StorageContext): number {
  return ctx.limits?.maxSourceBytes ?? DEFAULT_MAX_SOURCE_BYTES;
}

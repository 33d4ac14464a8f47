import { copyFile, mkdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import { contentTypeFor } from './content-type.js';
import { DEFAULT_MAX_INLINE_BYTES, maxSourceBytes, type ProgressFn, type StorageContext } from './context.js';
import {
  InvalidStorageRefError,
  SourceNotFoundError,
  SourceTooLargeError,
  StorageAbortedError,
} from './errors.js';
import { downloadFtp } from './ftp.js';
import { downloadHttp } from './http.js';
import { downloadIpfs } from './ipfs.js';
import { safeJoin } from './paths.js';
import { downloadS3 } from './s3.js';
import { type SourceRef, sourceSchema } from './schema.js';

/** What {@link fetchSource} wrote: the local path, its size in bytes, and the content type if known. */
export interface FetchedSource {
  path: string;
  bytes: number;
  contentType?: string;
}

export interface FetchOptions {
  signal?: AbortSignal;
  /** Called as bytes arrive: bytes so far and the total when known. */
  onProgress?: ProgressFn;
}

/**
 * Fetches a job's source to `destPath` (its parent directory is created), streamed to disk.
 * `ref` is validated with {@link sourceSchema} first. On failure the partial file is removed.
 * - `file`: only inside `ctx.fileRoots` (resolved through symlinks); copied.
 * - `upload`: from `ctx.uploads` (a directory, or the coordinator's `/api/v1/uploads/:id/content`).
 * - `http`: redirects, size limit, Range resume, stall timeout (see downloadHttp).
 * - `s3`: GetObject. `ftp`: basic-ftp. `ipfs`: hash-verified blocks. `inline`: base64 ≤ maxInlineBytes.
 * Every network target passes the SSRF guard (`ctx.ssrf`).
 * @throws ValidationError-like InvalidStorageRefError, SourceNotFoundError, SourceTooLargeError,
 *   SsrfBlockedError, UnsafePathError, StorageRejectedError, StorageTransferError (retryable),
 *   StorageStalledError (retryable), IntegrityError, StorageAbortedError
 */
export async function fetchSource(
  ref: SourceRef,
  destPath: string,
  ctx: StorageContext,
  opts: FetchOptions = {},
): Promise<FetchedSource> {
  const parsed = sourceSchema.safeParse(ref);
  if (!parsed.success) {
    throw new InvalidStorageRefError(
      `invalid source: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  const src = parsed.data;
  await mkdir(dirname(destPath), { recursive: true });
  try {
    const r = await fetchInto(src, destPath, ctx, opts);
    return { path: destPath, ...r };
  } catch (err) {
    await rm(destPath, { force: true });
    if (opts.signal?.aborted && !(err instanceof StorageAbortedError)) {
      throw new StorageAbortedError('fetch aborted', { cause: err });
    }
    throw err;
  }
}

async function fetchInto(
  src: SourceRef,
  destPath: string,
  ctx: StorageContext,
  opts: FetchOptions,
): Promise<{ bytes: number; contentType?: string }> {
  switch (src.type) {
    case 'file':
      return copyLocal(await resolveFileSource(src.path, ctx.fileRoots), destPath, ctx, opts);
    case 'upload':
      return fetchUpload(src.id, destPath, ctx, opts);
    case 'http':
      return downloadHttp(src.url, destPath, ctx, {
        headers: src.headers,
        signal: opts.signal,
        onProgress: opts.onProgress,
      });
    case 's3':
      return downloadS3(src, destPath, ctx, opts);
    case 'ftp':
      return downloadFtp(src, destPath, ctx, opts);
    case 'inline':
      return writeInline(src.data, destPath, ctx, opts);
    case 'ipfs':
      return downloadIpfs(src, destPath, ctx, opts);
    default:
      return assertNever(src);
  }
}

function assertNever(x: never): never {
  throw new InvalidStorageRefError(`unknown source type ${(x as { type?: string }).type}`);
}

/**
 * Resolves a `file` source path to a real path inside one of `roots` (after following symlinks, so
 * a link inside a root cannot point out of it). Relative paths are tried under each root in order.
 * @throws InvalidStorageRefError (no roots configured, or outside every root), SourceNotFoundError
 */
export async function resolveFileSource(path: string, roots: readonly string[]): Promise<string> {
  if (roots.length === 0)
    throw new InvalidStorageRefError('file sources are disabled (no file roots configured)');
  const realRoots = (await Promise.all(roots.map((r) => realpath(resolve(r)).catch(() => null)))).filter(
    (r): r is string => r !== null,
  );
  const inside = (p: string) => realRoots.some((root) => p.startsWith(root + sep));
  const outside = () =>
    new InvalidStorageRefError('file source is outside the allowed roots', { details: { path } });
  const candidates = isAbsolute(path) ? [resolve(path)] : roots.map((r) => safeJoin(r, path));
  for (const c of candidates) {
    const real = await realpath(c).catch(() => null);
    if (real === null) continue;
    if (!inside(real)) throw outside();
    if (!(await stat(real)).isFile()) throw new InvalidStorageRefError('file source is not a regular file');
    return real;
  }
  if (isAbsolute(path) && !roots.some((r) => resolve(path).startsWith(resolve(r) + sep))) throw outside();
  throw new SourceNotFoundError('file source does not exist', { details: { path } });
}

async function copyLocal(
  from: string,
  to: string,
  ctx: StorageContext,
  opts: FetchOptions,
): Promise<{ bytes: number; contentType?: string }> {
  const size = (await stat(from)).size;
  const max = maxSourceBytes(ctx);
  if (size > max)
    throw new SourceTooLargeError(`file is ${size} bytes, limit ${max}`, { details: { bytes: size, max } });
  await copyFile(from, to);
  opts.onProgress?.(size, size);
  return { bytes: size, contentType: contentTypeFor(from) };
}

async function fetchUpload(
  id: string,
  destPath: string,
  ctx: StorageContext,
  opts: FetchOptions,
): Promise<{ bytes: number; contentType?: string }> {
  const up = ctx.uploads;
  if (!up) throw new InvalidStorageRefError('upload sources are not available on this node');
  if (up.kind === 'dir') {
    const file = safeJoin(up.dir, id);
    if (
      !(await stat(file).then(
        (s) => s.isFile(),
        () => false,
      ))
    ) {
      throw new SourceNotFoundError(`upload ${id} not found`, { details: { id } });
    }
    return copyLocal(file, destPath, ctx, opts);
  }
  const base = up.baseUrl.endsWith('/') ? up.baseUrl : up.baseUrl + '/';
  const url = new URL(`api/v1/uploads/${encodeURIComponent(id)}/content`, base).toString();
  const headers = typeof up.headers === 'function' ? up.headers() : up.headers;
  // The coordinator URL is operator configuration, so its host bypasses the SSRF allowlist.
  const policy = {
    ...ctx.ssrf,
    allowHosts: [...(ctx.ssrf.allowHosts ?? []), new URL(base).hostname.replace(/^\[|\]$/g, '')],
  };
  return downloadHttp(url, destPath, ctx, {
    headers,
    signal: opts.signal,
    onProgress: opts.onProgress,
    policy,
  });
}

async function writeInline(
  data: string,
  destPath: string,
  ctx: StorageContext,
  opts: FetchOptions,
): Promise<{ bytes: number }> {
  const max = ctx.limits?.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES;
  // base64 is 4 chars per 3 bytes: refuse before decoding anything big.
  if (Math.floor((data.length * 3) / 4) - 2 > max) {
    throw new SourceTooLargeError(`inline data exceeds ${max} bytes`, { details: { max } });
  }
  if (data.length % 4 !== 0) throw new InvalidStorageRefError('inline data is not padded base64');
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > max)
    throw new SourceTooLargeError(`inline data exceeds ${max} bytes`, { details: { max } });
  if (bytes.length === 0) throw new InvalidStorageRefError('inline data is empty');
  await writeFile(destPath, bytes);
  opts.onProgress?.(bytes.length, bytes.length);
  return { bytes: bytes.length };
}

import { randomUUID } from 'node:crypto';
import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { contentTypeFor, isPlaylist } from './content-type.js';
import type { StorageContext } from './context.js';
import { InvalidStorageRefError } from './errors.js';
import { uploadFtp } from './ftp.js';
import { putHttpFile, redactedUrl } from './http.js';
import { addDirectory, discardingBlockstore, FsBlockstore, listFiles, pushToKubo } from './ipfs.js';
import { safeJoin, safeKey, safeSegments } from './paths.js';
import { withRetry } from './retry.js';
import { s3ClientFor, uploadS3File } from './s3.js';
import { type DestinationInput, type DestinationRef, destinationSchema } from './schema.js';

/** One stored file of a published ladder. `path` is relative to the rendered directory (POSIX). */
export interface PublishedFile {
  path: string;
  /** Where a player fetches it: `/media/<jobId>/…` (local), https URL, `s3://…`, `ftp://…`, `ipfs://…`. */
  url: string;
  /** Object key (s3) or remote path (ftp), when the destination has one. */
  key?: string;
  bytes: number;
  contentType: string;
}

/**
 * Result of {@link publish}: returned only when every file is stored. `masterUrl` is the URL of
 * `master.m3u8` (when present); for IPFS, `cid` is the root CID (CIDv0) and `ipfsUrl` is
 * `ipfs://<cid>/master.m3u8`.
 */
export interface PublishResult {
  type: DestinationRef['type'];
  files: PublishedFile[];
  bytes: number;
  masterUrl?: string;
  cid?: string;
  ipfsUrl?: string;
}

export interface PublishOptions {
  jobId: string;
  signal?: AbortSignal;
  /** Bytes stored so far and the total, both in bytes. */
  onProgress?: (bytes: number, totalBytes: number) => void;
  /**
   * Add to what is published already instead of replacing it: top-level entries of `dir` (a file, or
   * a rendition folder) replace their namesakes, the others stay. Only `local` replaces a whole folder
   * otherwise; the other destinations write file by file and keep what they do not overwrite.
   */
  merge?: boolean;
}

const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Playlists last (master very last), so no published playlist references a missing file. */
function uploadOrder(files: string[]): string[] {
  const rank = (f: string) => (f === 'master.m3u8' ? 2 : isPlaylist(f) ? 1 : 0);
  return [...files].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function fill(template: string, jobId: string): string {
  return template.replaceAll('{jobId}', jobId);
}

/**
 * Publishes every file of the rendered ladder directory `dir` to `dest` (validated and defaulted
 * with {@link destinationSchema}; `{jobId}` in an s3 prefix, ftp dir or http baseUrl is replaced).
 * - `local`: copied to a staging folder, then renamed into `<ctx.localRoot>/<jobId>[/prefix]`
 *   (atomic: readers never see a half-copied ladder); URLs `<localUrlBase>/<jobId>/…`.
 * - `s3`: one object per file via @aws-sdk/lib-storage (multipart above 5 MiB), content type by
 *   extension (or the destination's `contentType`), `cacheControl`, ACL (private by default).
 * - `http`: one PUT per file to `baseUrl + path`, with the destination's headers.
 * - `ftp`: uploads into `dir`, creating sub-directories.
 * - `ipfs`: root CID computed as kubo's defaults would; `embedded` stores blocks in
 *   `ctx.ipfs.blockstoreDir`, `kubo` adds+pins via RPC and checks kubo's CID equals ours.
 * Transient failures are retried with backoff per file; any file that still fails fails the whole
 * publish (the error is thrown, no result is returned).
 * @throws InvalidStorageRefError, UnsafePathError, SsrfBlockedError, StorageRejectedError,
 *   StorageTransferError, IntegrityError
 */
export async function publish(
  dir: string,
  destination: DestinationInput,
  ctx: StorageContext,
  opts: PublishOptions,
): Promise<PublishResult> {
  if (!JOB_ID.test(opts.jobId)) throw new InvalidStorageRefError('invalid job id for publish');
  const parsed = destinationSchema.safeParse(destination);
  if (!parsed.success) {
    throw new InvalidStorageRefError(
      `invalid destination: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  const dest = parsed.data;
  const files = uploadOrder(await listFiles(dir));
  if (files.length === 0) throw new InvalidStorageRefError('nothing to publish: empty directory');
  const sizes = new Map<string, number>();
  for (const f of files) sizes.set(f, (await stat(join(dir, ...f.split('/')))).size);
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  let done = 0;
  const advance = (rel: string) => {
    done += sizes.get(rel) ?? 0;
    opts.onProgress?.(done, total);
  };
  const entry = (rel: string, url: string, key?: string): PublishedFile => ({
    path: rel,
    url,
    ...(key === undefined ? {} : { key }),
    bytes: sizes.get(rel) ?? 0,
    contentType: contentTypeFor(rel),
  });
  let out: PublishedFile[];
  let extra: Pick<PublishResult, 'cid' | 'ipfsUrl'> = {};
  switch (dest.type) {
    case 'local':
      out = await publishLocal(dir, files, dest.prefix, ctx, opts.jobId, entry, opts.merge ?? false);
      opts.onProgress?.(total, total);
      break;
    case 's3': {
      const client = await s3ClientFor(dest, ctx);
      const prefix = fill(dest.prefix, opts.jobId);
      try {
        out = [];
        for (const rel of files) {
          const key = safeKey(prefix, rel);
          await withRetry(
            () =>
              uploadS3File(
                client,
                dest.bucket,
                key,
                join(dir, ...rel.split('/')),
                {
                  contentType: dest.contentType ?? contentTypeFor(rel),
                  cacheControl: isPlaylist(rel)
                    ? (dest.cacheControlPlaylists ?? dest.cacheControl)
                    : dest.cacheControl,
                  acl: dest.acl,
                },
                { signal: opts.signal },
              ),
            {
              attempts: ctx.retry?.attempts,
              baseDelayMs: ctx.retry?.baseDelayMs,
              signal: opts.signal,
              what: 's3 put',
            },
          );
          const url = dest.publicBaseUrl
            ? new URL(
                key.split('/').map(encodeURIComponent).join('/'),
                withSlash(dest.publicBaseUrl),
              ).toString()
            : `s3://${dest.bucket}/${key}`;
          out.push({ ...entry(rel, url, key), contentType: dest.contentType ?? contentTypeFor(rel) });
          advance(rel);
        }
      } finally {
        client.destroy();
      }
      break;
    }
    case 'http': {
      const base = withSlash(fill(dest.baseUrl, opts.jobId));
      out = [];
      for (const rel of files) {
        const url = new URL(safeSegments(rel).map(encodeURIComponent).join('/'), base).toString();
        await putHttpFile(url, join(dir, ...rel.split('/')), contentTypeFor(rel), ctx, {
          headers: dest.headers,
          signal: opts.signal,
          method: dest.method,
        });
        out.push(entry(rel, redactedUrl(url)));
        advance(rel);
      }
      break;
    }
    case 'ftp': {
      const d = { ...dest, dir: fill(dest.dir, opts.jobId) };
      const remotes = await uploadFtp(d, dir, files, ctx, { signal: opts.signal, onFile: advance });
      // The URL names the port the files are on (host + port fields, or the `url`'s own).
      const host = d.host ? (d.port && d.port !== 21 ? `${d.host}:${d.port}` : d.host) : new URL(d.url!).host;
      out = files.map((rel, i) => entry(rel, `ftp://${host}${remotes[i]}`, remotes[i]));
      break;
    }
    case 'ipfs': {
      let cid: string;
      if (dest.mode === 'embedded') {
        cid = (
          await addDirectory(dir, new FsBlockstore(ctx.ipfs.blockstoreDir), { signal: opts.signal })
        ).cid.toString();
      } else {
        const apiUrl = dest.apiUrl ?? ctx.ipfs.kuboApiUrl;
        if (!apiUrl) throw new InvalidStorageRefError('ipfs kubo mode needs apiUrl (or ctx.ipfs.kuboApiUrl)');
        cid = (await addDirectory(dir, discardingBlockstore(), { signal: opts.signal })).cid.toString();
        await withRetry(() => pushToKubo(dir, files, apiUrl, cid, ctx, opts.signal), {
          attempts: ctx.retry?.attempts,
          baseDelayMs: ctx.retry?.baseDelayMs,
          signal: opts.signal,
          what: 'kubo add',
        });
      }
      out = files.map((rel) => entry(rel, `ipfs://${cid}/${rel}`));
      opts.onProgress?.(total, total);
      extra = { cid, ipfsUrl: `ipfs://${cid}/master.m3u8` };
      if (!files.includes('master.m3u8')) extra = { cid, ipfsUrl: `ipfs://${cid}` };
      break;
    }
    default:
      throw new InvalidStorageRefError(`unknown destination type ${(dest as { type?: string }).type}`);
  }
  const master = out.find((f) => f.path === 'master.m3u8');
  return {
    type: dest.type,
    files: out,
    bytes: total,
    ...(master ? { masterUrl: master.url } : {}),
    ...extra,
  };
}

function withSlash(u: string): string {
  return u.endsWith('/') ? u : u + '/';
}

async function publishLocal(
  dir: string,
  files: string[],
  prefix: string | undefined,
  ctx: StorageContext,
  jobId: string,
  entry: (rel: string, url: string) => PublishedFile,
  merge: boolean,
): Promise<PublishedFile[]> {
  const rel = prefix ? `${jobId}/${safeSegments(prefix.replace(/^\/+|\/+$/g, '')).join('/')}` : jobId;
  const final = safeJoin(ctx.localRoot, rel);
  const staging = safeJoin(ctx.localRoot, `.staging-${jobId}-${randomUUID()}`);
  await mkdir(staging, { recursive: true });
  try {
    for (const f of files) {
      const to = safeJoin(staging, f);
      await mkdir(dirname(to), { recursive: true });
      await cp(join(dir, ...f.split('/')), to);
    }
    if (merge) {
      // Copied, not moved: until the swap below the published ladder stays whole and untouched.
      const fresh = new Set(files.map((f) => f.split('/')[0]));
      const current = await readdir(final).catch(() => [] as string[]);
      for (const name of current.filter((n) => !fresh.has(n))) {
        await cp(join(final, name), join(staging, name), { recursive: true });
      }
    }
    await mkdir(dirname(final), { recursive: true });
    // Re-publishing replaces the previous ladder; the swap is two renames, not a slow delete+copy.
    const old = `${final}.old-${randomUUID()}`;
    const hadOld = await rename(final, old).then(
      () => true,
      () => false,
    );
    await rename(staging, final);
    if (hadOld) await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  const base = (ctx.localUrlBase ?? '/media').replace(/\/+$/, '');
  return files.map((f) => entry(f, `${base}/${posix.join(rel, f)}`));
}

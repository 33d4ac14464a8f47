import { createWriteStream } from 'node:fs';
import { isIP } from 'node:net';
import { posix } from 'node:path';
import { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Client, FTPError } from 'basic-ftp';
import { maxSourceBytes, type ProgressFn, type StorageContext } from './context.js';
import {
  InvalidStorageRefError,
  SourceNotFoundError,
  SourceTooLargeError,
  StorageRejectedError,
  StorageTransferError,
} from './errors.js';
import { safeSegments } from './paths.js';
import { withRetry } from './retry.js';
import type { DestinationRef, SourceRef } from './schema.js';
import { assertPublicDestination } from './ssrf.js';

type FtpRef = Extract<SourceRef, { type: 'ftp' }> | Extract<DestinationRef, { type: 'ftp' }>;

interface FtpTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  secure: boolean | 'implicit';
  path?: string;
}

/** Normalises an ftp ref (`url` or host/port/path, explicit fields win over URL parts). */
export function ftpTarget(ref: FtpRef): FtpTarget {
  let host = ref.host;
  let port = ref.port;
  let user = ref.user;
  let password = ref.password;
  let secure = ref.secure;
  let path = 'path' in ref ? ref.path : undefined;
  if (ref.url) {
    const u = new URL(ref.url);
    host ??= u.hostname;
    port ??= u.port ? Number(u.port) : undefined;
    user ??= u.username ? decodeURIComponent(u.username) : undefined;
    password ??= u.password ? decodeURIComponent(u.password) : undefined;
    secure ??= u.protocol === 'ftps:';
    if (u.pathname && u.pathname !== '/') path ??= decodeURIComponent(u.pathname);
  }
  if (!host) throw new InvalidStorageRefError('ftp ref has no host');
  return {
    host: host.replace(/^\[|\]$/g, ''),
    port: port ?? (secure === 'implicit' ? 990 : 21),
    user: user ?? 'anonymous',
    password: password ?? 'anonymous@',
    secure: secure ?? false,
    path,
  };
}

/**
 * Connects and logs in, after checking the host against the SSRF policy and pinning the resolved
 * address (basic-ftp takes no lookup hook, so the control connection goes to the checked IP and TLS
 * still verifies the certificate against the original host name). basic-ftp itself refuses PASV
 * answers that point a public server's data connection at a private address.
 */
async function connect(t: FtpTarget, ctx: StorageContext, signal?: AbortSignal): Promise<Client> {
  const [address] = await assertPublicDestination(
    `ftp://${isIP(t.host) === 6 ? `[${t.host}]` : t.host}`,
    ctx.ssrf,
  );
  const client = new Client(ctx.http?.stallTimeoutMs ?? 30_000);
  signal?.addEventListener('abort', () => client.close(), { once: true });
  try {
    await client.access({
      host: address ?? t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      secure: t.secure,
      secureOptions: isIP(t.host) ? undefined : { servername: t.host },
    });
  } catch (err) {
    client.close();
    throw mapFtpError(err, `ftp login to ${t.host}`);
  }
  return client;
}

function mapFtpError(err: unknown, what: string): unknown {
  if (err instanceof FTPError) {
    if (err.code === 550) return new SourceNotFoundError(`${what}: ${err.message}`, { cause: err });
    if (err.code === 530) return new StorageRejectedError(`${what}: login refused`, { cause: err });
    if (err.code >= 500) return new StorageRejectedError(`${what}: ${err.message}`, { cause: err });
    return new StorageTransferError(`${what}: ${err.message}`, { cause: err });
  }
  const e = err as { code?: string; message?: string };
  if (e?.code || /timeout|closed/i.test(e?.message ?? '')) {
    return new StorageTransferError(`${what}: ${e.message}`, { cause: err });
  }
  return err;
}

/**
 * Downloads an FTP/FTPS file to `destPath`, streamed, refusing files above `limits.maxSourceBytes`
 * (checked with SIZE first when the server supports it, and while streaming).
 * @throws SourceNotFoundError (550), StorageRejectedError (login), SourceTooLargeError, StorageTransferError
 */
export async function downloadFtp(
  ref: Extract<SourceRef, { type: 'ftp' }>,
  destPath: string,
  ctx: StorageContext,
  opts: { signal?: AbortSignal; onProgress?: ProgressFn },
): Promise<{ bytes: number }> {
  const t = ftpTarget(ref);
  if (!t.path) throw new InvalidStorageRefError('ftp source has no path');
  const remote = t.path;
  const max = maxSourceBytes(ctx);
  return withRetry(
    async () => {
      const client = await connect(t, ctx, opts.signal);
      try {
        const total = await client.size(remote).catch((err: unknown) => {
          if (err instanceof FTPError && err.code === 550) throw mapFtpError(err, `ftp ${remote}`);
          return undefined;
        });
        if (total !== undefined && total > max) {
          throw new SourceTooLargeError(`file is ${total} bytes, limit ${max}`, {
            details: { bytes: total, max },
          });
        }
        let bytes = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _e, cb) {
            bytes += chunk.length;
            if (bytes > max) return cb(new SourceTooLargeError(`file exceeds limit of ${max} bytes`));
            opts.onProgress?.(bytes, total);
            cb(null, chunk);
          },
        });
        const file = createWriteStream(destPath);
        counter.pipe(file);
        try {
          await client.downloadTo(counter, remote);
        } catch (err) {
          counter.destroy();
          throw mapFtpError(err, `ftp ${remote}`);
        }
        counter.end();
        await finished(file);
        return { bytes };
      } finally {
        client.close();
      }
    },
    {
      attempts: ctx.retry?.attempts,
      baseDelayMs: ctx.retry?.baseDelayMs,
      signal: opts.signal,
      what: 'ftp get',
    },
  );
}

/**
 * Uploads `files` (paths relative to `localDir`, already safe) into the destination's `dir`,
 * creating sub-directories. One connection; a transient failure reconnects and retries that file.
 * @returns remote path of each file, in order.
 */
export async function uploadFtp(
  ref: Extract<DestinationRef, { type: 'ftp' }>,
  localDir: string,
  files: readonly string[],
  ctx: StorageContext,
  opts: { signal?: AbortSignal; onFile?: (rel: string) => void },
): Promise<string[]> {
  const t = ftpTarget(ref);
  const baseDir = posix.normalize('/' + (ref.dir ?? '/'));
  if (baseDir !== '/') safeSegments(baseDir.replace(/^\/+|\/+$/g, ''));
  let client: Client | undefined;
  const out: string[] = [];
  try {
    for (const rel of files) {
      const remoteDir = posix.join(baseDir, posix.dirname(rel));
      const remote = posix.join(remoteDir, posix.basename(rel));
      await withRetry(
        async () => {
          if (!client || client.closed) client = await connect(t, ctx, opts.signal);
          try {
            await client.ensureDir(remoteDir);
            await client.uploadFrom(posix.join(localDir, rel), posix.basename(rel));
          } catch (err) {
            client.close();
            throw mapFtpError(err, `ftp put ${remote}`);
          }
        },
        {
          attempts: ctx.retry?.attempts,
          baseDelayMs: ctx.retry?.baseDelayMs,
          signal: opts.signal,
          what: 'ftp put',
        },
      );
      out.push(remote);
      opts.onFile?.(rel);
    }
  } finally {
    client?.close();
  }
  return out;
}

import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  type ObjectCannedACL,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { maxSourceBytes, type ProgressFn, type StorageContext } from './context.js';
import { SourceNotFoundError, SourceTooLargeError, StorageRejectedError } from './errors.js';
import { isTransient, withRetry } from './retry.js';
import type { DestinationRef, SourceRef } from './schema.js';
import { assertPublicDestination, createGuardedAgents } from './ssrf.js';

type S3Ref = Extract<SourceRef, { type: 's3' }> | Extract<DestinationRef, { type: 's3' }>;

/**
 * Builds an S3 client for a ref: region (default us-east-1), optional S3-compatible endpoint with
 * path-style addressing, static credentials or the default AWS chain, checksums only when the
 * operation requires them (S3-compatible stores often reject the newer default CRC headers), and
 * SSRF-guarded sockets. The endpoint (or regional AWS host) is checked before the client exists.
 */
export async function s3ClientFor(ref: S3Ref, ctx: StorageContext): Promise<S3Client> {
  const region = ref.region ?? 'us-east-1';
  await assertPublicDestination(ref.endpoint ?? `https://s3.${region}.amazonaws.com`, ctx.ssrf);
  const agents = createGuardedAgents(ctx.ssrf);
  return new S3Client({
    region,
    endpoint: ref.endpoint,
    forcePathStyle: ref.forcePathStyle ?? ref.endpoint !== undefined,
    credentials: ref.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { httpAgent: agents.http, httpsAgent: agents.https, connectionTimeout: 10_000 },
  });
}

function mapS3Error(err: unknown, what: string): unknown {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
  const status = e?.$metadata?.httpStatusCode;
  if (e?.name === 'NoSuchKey' || e?.name === 'NoSuchBucket' || e?.name === 'NotFound' || status === 404) {
    return new SourceNotFoundError(`${what}: not found`, { cause: err, details: { status } });
  }
  if (status === 401 || status === 403) {
    return new StorageRejectedError(`${what}: access denied (HTTP ${status})`, {
      cause: err,
      details: { status },
    });
  }
  if (!isTransient(err) && status !== undefined) {
    return new StorageRejectedError(`${what}: ${e.name ?? 'error'} (HTTP ${status})`, { cause: err });
  }
  return err;
}

/**
 * Streams an S3 object to `destPath` (GetObject), refusing objects above `limits.maxSourceBytes`.
 * @throws SourceNotFoundError, SourceTooLargeError, StorageRejectedError, StorageTransferError
 */
export async function downloadS3(
  ref: Extract<SourceRef, { type: 's3' }>,
  destPath: string,
  ctx: StorageContext,
  opts: { signal?: AbortSignal; onProgress?: ProgressFn },
): Promise<{ bytes: number; contentType?: string }> {
  const client = await s3ClientFor(ref, ctx);
  const max = maxSourceBytes(ctx);
  try {
    return await withRetry(
      async () => {
        let out: GetObjectCommandOutput;
        try {
          out = await client.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }), {
            abortSignal: opts.signal,
          });
        } catch (err) {
          throw mapS3Error(err, `s3://${ref.bucket}/${ref.key}`);
        }
        const total = out.ContentLength;
        if (total !== undefined && total > max) {
          (out.Body as Readable | undefined)?.destroy?.();
          throw new SourceTooLargeError(`object is ${total} bytes, limit ${max}`, {
            details: { bytes: total, max },
          });
        }
        let bytes = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _e, cb) {
            bytes += chunk.length;
            if (bytes > max) return cb(new SourceTooLargeError(`object exceeds limit of ${max} bytes`));
            opts.onProgress?.(bytes, total);
            cb(null, chunk);
          },
        });
        await pipeline(out.Body as Readable, counter, createWriteStream(destPath), { signal: opts.signal });
        return { bytes, contentType: out.ContentType };
      },
      {
        attempts: ctx.retry?.attempts,
        baseDelayMs: ctx.retry?.baseDelayMs,
        signal: opts.signal,
        what: 's3 get',
      },
    );
  } finally {
    client.destroy();
  }
}

/**
 * Uploads one file with @aws-sdk/lib-storage (multipart above 5 MiB parts, 4 parts in flight;
 * aborted multipart uploads are cleaned up, so a failure leaves no partial object visible).
 */
export async function uploadS3File(
  client: S3Client,
  bucket: string,
  key: string,
  filePath: string,
  meta: { contentType: string; cacheControl?: string; acl: string },
  opts: { signal?: AbortSignal; onBytes?: (loaded: number) => void },
): Promise<void> {
  const upload = new Upload({
    client,
    params: {
      Bucket: bucket,
      Key: key,
      Body: createReadStream(filePath),
      ContentType: meta.contentType,
      CacheControl: meta.cacheControl,
      ACL: meta.acl as ObjectCannedACL,
    },
    partSize: 5 * 1024 * 1024,
    queueSize: 4,
    leavePartsOnError: false,
    abortController: undefined,
  });
  if (opts.onBytes) upload.on('httpUploadProgress', (p) => opts.onBytes?.(p.loaded ?? 0));
  const onAbort = () => void upload.abort().catch(() => undefined);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await upload.done();
  } catch (err) {
    throw mapS3Error(err, `s3://${bucket}/${key}`);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

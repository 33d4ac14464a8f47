import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../errors.js';
import { PayloadTooLargeError, UnauthorizedError } from '../errors.js';
import type { Principal } from '../plugins/auth.js';

export interface UploadRouteOptions {
  /**
   * Checks an upload grant (`Authorization: DIDGRANT`) on `GET /uploads/:id/content`: the grant's DID
   * must hold the live lease of a job whose source is this upload (see plugins/identity.ts).
   */
  checkGrant?: (principal: Principal, uploadId: string, leaseToken: string | undefined) => Promise<void>;
  /** `<dataDir>/uploads`: `<id>` holds the bytes, `<id>.json` the metadata. */
  dir: string;
  /** Largest upload in bytes. */
  maxBytes: number;
}

/** Metadata of one stored upload. */
export const uploadSchema = z.object({
  id: z.string(),
  filename: z.string().nullable(),
  bytes: z.number().int(),
  sha256: z.string(),
  createdAt: z.string(),
});
export type Upload = z.infer<typeof uploadSchema>;

const idSchema = z.string().regex(/^[0-9a-f-]{36}$/, 'not an upload id');

/** Resolves an upload id to its file on this coordinator; throws NotFoundError. */
export async function uploadPath(dir: string, id: string): Promise<string> {
  if (!idSchema.safeParse(id).success) throw new NotFoundError(`upload ${id} not found`);
  const path = join(dir, id);
  try {
    await stat(path);
  } catch {
    throw new NotFoundError(`upload ${id} not found`);
  }
  return path;
}

/**
 * Throws `NotFoundError` (404, like an unknown id) when upload `id` belongs to a tenant other than
 * `tenant`; `tenant` undefined (operator keys) sees all. Uploads without a recorded tenant are `default`'s.
 */
export async function assertUploadVisible(
  dir: string,
  id: string,
  tenant: string | undefined,
): Promise<void> {
  await uploadPath(dir, id);
  if (tenant === undefined) return;
  let owner = 'default';
  try {
    const meta = JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as { tenant?: unknown };
    if (typeof meta.tenant === 'string') owner = meta.tenant;
  } catch {
    // No sidecar: an upload from before tenants were recorded.
  }
  if (owner !== tenant) throw new NotFoundError(`upload ${id} not found`);
}

/**
 * `POST /uploads` streams the request body (`application/octet-stream`) to `<dir>/<id>.part`, counting
 * and hashing on the way, then renames it into place: never buffered in memory, refused with 413 as
 * soon as it passes `maxBytes` (or up front when Content-Length says so), removed when the client
 * disconnects. `GET /uploads/:id/content` serves it to remote encoders (encoder scope).
 */
export const uploadRoutes: FastifyPluginAsyncZod<UploadRouteOptions> = async (app, opts) => {
  await mkdir(opts.dir, { recursive: true });
  // Hand the raw request stream to the handler instead of parsing (and buffering) it.
  app.addContentTypeParser(['application/octet-stream', 'video/*'], (_req, payload, done) =>
    done(null, payload),
  );

  app.post(
    '/uploads',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'createUpload',
        summary: 'Upload a source video (raw body, streamed to disk)',
        tags: ['uploads'],
        querystring: z.object({ filename: z.string().max(255).optional() }),
        response: {
          201: z.object({
            upload: uploadSchema,
            source: z.object({ type: z.literal('upload'), id: z.string() }),
          }),
        },
      },
    },
    async (req, reply) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        throw new PayloadTooLargeError(
          `upload of ${declared} bytes exceeds the limit of ${opts.maxBytes} bytes`,
        );
      }
      const body = req.body as NodeJS.ReadableStream | undefined;
      if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function') {
        throw new ValidationError(
          'send the file as the raw body with Content-Type: application/octet-stream',
        );
      }
      const id = randomUUID();
      const part = join(opts.dir, `${id}.part`);
      const hash = createHash('sha256');
      let bytes = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          if (bytes > opts.maxBytes) {
            cb(new PayloadTooLargeError(`upload exceeds the limit of ${opts.maxBytes} bytes`));
            return;
          }
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      try {
        await pipeline(body, meter, createWriteStream(part, { flags: 'wx', mode: 0o600 }));
      } catch (err) {
        await rm(part, { force: true });
        throw err;
      }
      const upload: Upload = {
        id,
        filename: req.query.filename ?? null,
        bytes,
        sha256: hash.digest('hex'),
        createdAt: new Date().toISOString(),
      };
      // The tenant stays in the sidecar only: the response schema lists the public fields.
      await writeFile(
        join(opts.dir, `${id}.json`),
        JSON.stringify({ ...upload, tenant: req.principal?.tenant ?? 'default' }),
        { mode: 0o600 },
      );
      await rename(part, join(opts.dir, id));
      return reply.status(201).send({ upload, source: { type: 'upload' as const, id } });
    },
  );

  app.get(
    '/uploads/:id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getUpload',
        summary: 'Metadata of an upload',
        tags: ['uploads'],
        params: z.object({ id: z.string() }),
        response: { 200: z.object({ upload: uploadSchema }) },
      },
    },
    async (req) => {
      await assertUploadVisible(opts.dir, req.params.id, req.principal?.tenant);
      const upload = uploadSchema.parse(
        JSON.parse(await readFile(join(opts.dir, `${req.params.id}.json`), 'utf8')),
      );
      return { upload };
    },
  );

  app.get(
    '/uploads/:id/content',
    {
      config: { scope: 'encoder', acceptsGrant: true },
      schema: {
        operationId: 'getUploadContent',
        summary: "The uploaded bytes (the upload's tenant, or the lease holder of a job reading it)",
        description:
          "An API key of the upload's tenant (or an operator key) reads it; a did:key encoder reads it " +
          'only with an upload grant for the live lease of a job whose source it is (`X-Lease-Token`). ' +
          'Untrusted encoders read job sources through `GET /agent/jobs/:jobId/source`.',
        tags: ['uploads'],
        params: z.object({ id: z.string() }),
      },
    },
    async (req, reply) => {
      const p = req.principal;
      if (p?.grant) {
        if (!opts.checkGrant) throw new UnauthorizedError('upload grants are not accepted here');
        const token = req.headers['x-lease-token'];
        await opts.checkGrant(p, req.params.id, typeof token === 'string' ? token : undefined);
      } else if (p?.scheme === 'did') {
        // A signature proves an identity, not a right to a tenant's file: only a lease grant does.
        throw new NotFoundError(`upload ${req.params.id} not found`);
      } else {
        await assertUploadVisible(opts.dir, req.params.id, p?.tenant);
      }
      const path = await uploadPath(opts.dir, req.params.id);
      const { size } = await stat(path);
      reply.header('content-length', String(size));
      return reply.type('application/octet-stream').send(createReadStream(path));
    },
  );
};

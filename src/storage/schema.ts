import { z } from 'zod';

/**
 * Job-spec shapes of storage references. The coordinator embeds {@link sourceSchema} and
 * {@link destinationSchema} in job specs; fields named in {@link SECRET_FIELDS} are secrets
 * (encrypted at rest by src/identity, replaced by {@link redactSecrets} in every response and log).
 *
 * Terminology: a *source* is where an encoder fetches the input video from; a *destination* is where
 * it publishes the rendered ladder directory (master playlist, rendition playlists, segments, poster).
 */

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'invalid HTTP header name');
const headerValue = z
  .string()
  .max(8192)
  .regex(/^[^\r\n\0]*$/, 'header values must not contain CR, LF or NUL');
/** Extra request headers (e.g. `Authorization`). All values are treated as secrets. */
export const headersSchema = z.record(headerName, headerValue);

const httpUrl = z
  .string()
  .max(4096)
  .url()
  .refine((u) => /^https?:$/.test(new URL(u).protocol), 'only http and https URLs are allowed');

const token = "[A-Za-z0-9!#$%&'*+.^_`|~-]+";
const MIME = new RegExp(
  `^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}` +
    `(?:[ \\t]*;[ \\t]*${token}=(?:${token}|"[^"\\\\\\x00-\\x1f\\x7f]*"))*$`,
);
/**
 * A MIME type as a `Content-Type` value: `type/subtype` (RFC 6838 §4.2 names) with optional
 * `; name=value` parameters (RFC 9110 §8.3.1, values a token or a quoted string), at most 255
 * characters. No CR, LF or other control characters, so it can never split a header.
 */
export const mimeTypeSchema = z
  .string()
  .max(255)
  .regex(MIME, 'contentType must be a MIME type such as "video/mp4" (type/subtype[; name=value])');

/** Static AWS credentials; when absent the standard AWS chain (env, profile, instance role) is used. */
export const s3CredentialsSchema = z.object({
  accessKeyId: z.string().min(1).max(256),
  secretAccessKey: z.string().min(1).max(256),
  sessionToken: z.string().max(4096).optional(),
});

const s3Common = {
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'invalid S3 bucket name'),
  region: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/)
    .optional(),
  /** S3-compatible endpoint (MinIO, R2, Wasabi...). Checked by the SSRF policy like any URL. */
  endpoint: httpUrl.optional(),
  forcePathStyle: z.boolean().optional(),
  credentials: s3CredentialsSchema.optional(),
};

const ftpCommon = {
  /** `ftp://[user[:password]@]host[:port]/path` or `ftps://…` (explicit TLS). Alternative to host/port. */
  url: z
    .string()
    .max(4096)
    .refine((u) => /^ftps?:\/\//i.test(u), 'FTP URL must start with ftp:// or ftps://')
    .optional(),
  host: z.string().min(1).max(253).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().max(256).optional(),
  password: z.string().max(1024).optional(),
  /** true: explicit FTPS (AUTH TLS); 'implicit': implicit TLS (port 990). Default false (plain FTP). */
  secure: z.union([z.boolean(), z.literal('implicit')]).optional(),
};

/** A file on the encoder host, only under the context's `fileRoots` (absolute or root-relative path). */
export const fileSourceSchema = z.object({ type: z.literal('file'), path: z.string().min(1).max(4096) });
/** A file uploaded to the coordinator (`POST /api/v1/uploads`), by its id. */
export const uploadSourceSchema = z.object({
  type: z.literal('upload'),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'invalid upload id'),
});
/** An http(s) URL, with optional request headers (e.g. a bearer token). */
export const httpSourceSchema = z.object({
  type: z.literal('http'),
  url: httpUrl,
  headers: headersSchema.optional(),
});
/** An S3 (or S3-compatible) object. */
export const s3SourceSchema = z.object({
  type: z.literal('s3'),
  ...s3Common,
  key: z.string().min(1).max(1024),
});
/** A file on an FTP/FTPS server: `url`, or `host` (+ `port`) and `path`. */
export const ftpSourceSchema = z
  .object({ type: z.literal('ftp'), ...ftpCommon, path: z.string().max(4096).optional() })
  .refine((s) => s.url !== undefined || (s.host !== undefined && s.path !== undefined), {
    message: 'ftp source needs url, or host and path',
  });
/** Small inputs carried in the spec itself, base64 (RFC 4648 §4). Limited by `limits.maxInlineBytes`. */
export const inlineSourceSchema = z.object({
  type: z.literal('inline'),
  data: z
    .string()
    .max(16 * 1024 * 1024)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'inline data must be base64'),
});
/** An IPFS file: `cid` (optionally `CID/sub/path`) plus optional `path`, or `url` = `ipfs://CID/path`. */
export const ipfsSourceSchema = z
  .object({
    type: z.literal('ipfs'),
    cid: z.string().min(1).max(2048).optional(),
    path: z.string().max(2048).optional(),
    url: z
      .string()
      .max(4096)
      .refine((u) => u.startsWith('ipfs://'), 'IPFS URL must start with ipfs://')
      .optional(),
  })
  .refine((s) => (s.cid === undefined) !== (s.url === undefined), {
    message: 'ipfs source needs cid or url',
  });

/** Where a job's input comes from. Discriminated on `type`. */
export const sourceSchema = z.discriminatedUnion('type', [
  fileSourceSchema,
  uploadSourceSchema,
  httpSourceSchema,
  s3SourceSchema,
  ftpSourceSchema,
  inlineSourceSchema,
  ipfsSourceSchema,
]);
export type SourceRef = z.infer<typeof sourceSchema>;

/** Keep on the coordinator; served at `/media/<jobId>/<path>`. `prefix` adds a sub-folder. */
export const localDestinationSchema = z.object({
  type: z.literal('local'),
  prefix: z.string().max(512).optional(),
});
/** S3 (or compatible): one object per file under `prefix`. ACL defaults to `private`. */
export const s3DestinationSchema = z.object({
  type: z.literal('s3'),
  ...s3Common,
  prefix: z.string().max(512).default(''),
  acl: z.enum(['private', 'public-read', 'bucket-owner-full-control']).default('private'),
  /** Cache-Control for segments; playlists get `cacheControlPlaylists` (or the same value). */
  cacheControl: z.string().max(256).optional(),
  cacheControlPlaylists: z.string().max(256).optional(),
  /** Public base URL of the bucket/prefix (CDN); when set, result URLs are `publicBaseUrl + key`. */
  publicBaseUrl: httpUrl.optional(),
  /**
   * Content-Type of every object written, instead of the type by extension. Meant for destinations of
   * one file (an `mp4`, `webm`, `audio` or `poster` output): a ladder's playlists and segments need
   * their own types.
   */
  contentType: mimeTypeSchema.optional(),
});
/**
 * HTTP PUT (or POST, for receivers that take uploads that way) of every file to `baseUrl +
 * relativePath`, with custom headers (e.g. Authorization).
 */
export const httpDestinationSchema = z.object({
  type: z.literal('http'),
  baseUrl: httpUrl,
  headers: headersSchema.optional(),
  method: z.enum(['PUT', 'POST']).default('PUT'),
});
/** An FTP/FTPS directory (`dir`, created when missing). */
export const ftpDestinationSchema = z
  .object({ type: z.literal('ftp'), ...ftpCommon, dir: z.string().max(4096).default('/') })
  .refine((s) => s.url !== undefined || s.host !== undefined, {
    message: 'ftp destination needs url or host',
  });
/** IPFS: `embedded` stores blocks in the coordinator's blockstore; `kubo` adds and pins via kubo RPC. */
export const ipfsDestinationSchema = z.object({
  type: z.literal('ipfs'),
  mode: z.enum(['embedded', 'kubo']).default('embedded'),
  /** kubo RPC base URL (default: the context's `ipfs.kuboApiUrl`). */
  apiUrl: httpUrl.optional(),
});

/** Where a job's rendered ladder goes. Discriminated on `type`; the default is `{type: 'local'}`. */
export const destinationSchema = z.discriminatedUnion('type', [
  localDestinationSchema,
  s3DestinationSchema,
  httpDestinationSchema,
  ftpDestinationSchema,
  ipfsDestinationSchema,
]);
export type DestinationRef = z.infer<typeof destinationSchema>;
export type DestinationInput = z.input<typeof destinationSchema>;

/**
 * Secret fields of source/destination refs, as dotted paths (`*` = every key of a record). The
 * identity module encrypts these at rest; {@link redactSecrets} blanks them. URL-embedded secrets
 * (userinfo passwords, signed query strings) are handled by redactSecrets too.
 */
export const SECRET_FIELDS: readonly string[] = [
  'credentials.accessKeyId',
  'credentials.secretAccessKey',
  'credentials.sessionToken',
  'password',
  'headers.*',
];

export const REDACTED = '[redacted]';

// Query parameters that carry signatures or tokens in presigned/capability URLs.
const SECRET_QUERY =
  /^(x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token|key|api_key|apikey|auth|password|x-goog-signature)$/i;

function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    let changed = false;
    if (u.password) {
      u.password = REDACTED;
      changed = true;
    }
    for (const k of [...u.searchParams.keys()]) {
      if (SECRET_QUERY.test(k)) {
        u.searchParams.set(k, REDACTED);
        changed = true;
      }
    }
    return changed ? u.toString() : value;
  } catch {
    return value;
  }
}

/**
 * Returns a deep copy of a source or destination ref with every secret replaced by `[redacted]`:
 * the {@link SECRET_FIELDS}, passwords in URL userinfo, and signature/token query parameters. Safe
 * to put in API responses, log lines and webhooks. Unknown shapes are copied with the same rules.
 */
export function redactSecrets<T>(ref: T): T {
  if (ref === null || typeof ref !== 'object') return ref;
  const src = ref as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === 'credentials' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.keys(v).map((ck) => [ck, REDACTED]));
    } else if (k === 'headers' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.keys(v).map((hk) => [hk, REDACTED]));
    } else if (k === 'password' && typeof v === 'string') {
      out[k] = REDACTED;
    } else if (
      (k === 'url' || k === 'baseUrl' || k === 'endpoint' || k === 'apiUrl') &&
      typeof v === 'string'
    ) {
      out[k] = redactUrl(v);
    } else {
      out[k] = v;
    }
  }
  return out as T;
}

import { posix } from 'node:path';
import { z } from 'zod';
import type { JobView, OutputView } from '../../coordinator/schemas.js';
import { mimeTypeSchema } from '../../storage/index.js';

/**
 * The "Encoder v2" transcoding API (a Node.js service in the style of Elastic Transcoder / Coconut /
 * Qencode: MySQL queue, `POST /jobs` with a `source`, `outputs[]` and `notificationUrl`), translated
 * to and from vidmesh's job API (docs/outputs.md, "Encoder v2 API"). Pure: request bodies become
 * vidmesh job specs with `outputs`, vidmesh job views become that API's job shape.
 *
 * Source of the shape: the original's README (request body of `POST /jobs`, `202 {id, uuid, status}`,
 * source kinds http/https/s3/ftp/inline, destination kinds s3/http/ftp, S3 `path` as the full object key).
 * Fields the README does not name keep the vidmesh names (`endpoint`, `forcePathStyle` for S3-compatible
 * stores; `local`/`ipfs` destinations).
 */

const s3Fields = {
  bucket: z.string().min(1).max(63),
  /** Full object key of the file (source: the input; destination: the output file). */
  path: z.string().min(1).max(1024),
  region: z.string().max(32).optional(),
  access_key_id: z.string().min(1).max(256).optional(),
  access_key_secret: z.string().min(1).max(256).optional(),
  /** vidmesh extension: an S3-compatible endpoint (MinIO, R2, s3rver). */
  endpoint: z.string().max(4096).optional(),
  forcePathStyle: z.boolean().optional(),
};
const ftpFields = {
  /** `ftp://user:password@host:port/path`, or the fields below. */
  url: z.string().max(4096).optional(),
  host: z.string().max(253).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  username: z.string().max(256).optional(),
  password: z.string().max(1024).optional(),
  path: z.string().max(4096).optional(),
};

export const v2SourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.enum(['http', 'https']),
    url: z.string().max(4096),
    username: z.string().max(256).optional(),
    password: z.string().max(1024).optional(),
  }),
  z.strictObject({ kind: z.literal('s3'), ...s3Fields }),
  z.strictObject({ kind: z.literal('ftp'), ...ftpFields }),
  z.strictObject({ kind: z.literal('inline'), data: z.string().max(16 * 1024 * 1024) }),
]);

export const v2DestinationSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('s3'),
    ...s3Fields,
    acl: z.enum(['private', 'public-read', 'bucket-owner-full-control']).optional(),
    /** Content-Type of the object (default: by the file's extension); a MIME type, no CR/LF. */
    contentType: mimeTypeSchema.optional(),
  }),
  z.strictObject({
    kind: z.literal('http'),
    /** URL of the file (or of the folder, for HLS and thumbnails). */
    url: z.string().max(4096),
    method: z.enum(['PUT', 'POST']).optional(),
    headers: z.record(z.string(), z.string()).optional(),
  }),
  z.strictObject({ kind: z.literal('ftp'), ...ftpFields }),
  /** vidmesh extensions: the coordinator's own storage, the embedded IPFS store. */
  z.strictObject({ kind: z.literal('local'), path: z.string().max(512).optional() }),
  z.strictObject({ kind: z.literal('ipfs') }),
]);

/** ffmpeg-style bitrate (`"2500k"`, `"1.5M"`, `"800000"`) in bits/s. */
const bitrate = z
  .string()
  .regex(/^\d+(\.\d+)?[kKmM]?$/, 'a bitrate such as "2500k"')
  .transform((s) => {
    const unit = s.slice(-1).toLowerCase();
    const n = Number.parseFloat(s);
    return Math.round(unit === 'k' ? n * 1000 : unit === 'm' ? n * 1_000_000 : n);
  });

/** Containers of the original and what vidmesh output each one is. */
export const V2_CONTAINERS = [
  'mp4',
  'webm',
  'hls',
  'dash',
  'm4a',
  'mp3',
  'opus',
  'jpg',
  'png',
  'webp',
] as const;
export type V2Container = (typeof V2_CONTAINERS)[number];

export const v2OutputSchema = z.strictObject({
  container: z.enum(V2_CONTAINERS),
  /** ffmpeg encoder or codec name: libx264/h264, libx265/hevc, libvpx-vp9/vp9, libsvtav1/av1. */
  videoCodec: z.string().max(32).optional(),
  videoBitrate: bitrate.optional(),
  audioCodec: z.string().max(32).optional(),
  audioBitrate: bitrate.optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  fps: z.number().optional(),
  destination: v2DestinationSchema,
});

/** The request body of the original's `POST /jobs`. */
export const v2JobRequestSchema = z.strictObject({
  source: v2SourceSchema,
  outputs: z.array(v2OutputSchema).min(1).max(8),
  notificationUrl: z.string().max(2048).optional(),
});
export type V2JobRequest = z.output<typeof v2JobRequestSchema>;

const VIDEO_CODECS: Record<string, 'h264' | 'hevc' | 'vp9' | 'av1'> = {
  libx264: 'h264',
  h264: 'h264',
  libx265: 'hevc',
  hevc: 'hevc',
  h265: 'hevc',
  'libvpx-vp9': 'vp9',
  vp9: 'vp9',
  libsvtav1: 'av1',
  'libaom-av1': 'av1',
  av1: 'av1',
};

/** A request the translation refuses: the message names the field (mapped to a 422 problem). */
export class V2TranslationError extends Error {}

function videoCodec(value: string | undefined, allowed: readonly string[], at: string) {
  if (value === undefined) return undefined;
  const codec = VIDEO_CODECS[value.toLowerCase()];
  if (!codec || !allowed.includes(codec))
    throw new V2TranslationError(`${at}.videoCodec: ${value} is not one of ${allowed.join(', ')}`);
  return codec;
}

function ftpRef(f: {
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  path?: string;
}) {
  if (f.url) {
    const u = new URL(f.url);
    if (u.protocol !== 'ftp:' && u.protocol !== 'ftps:')
      throw new V2TranslationError('ftp url must be ftp://');
    return {
      host: u.hostname,
      ...(u.port ? { port: Number(u.port) } : {}),
      ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      path: decodeURIComponent(u.pathname),
      ...(u.protocol === 'ftps:' ? { secure: true } : {}),
    };
  }
  if (!f.host || !f.path) throw new V2TranslationError('ftp needs url, or host and path');
  return {
    host: f.host,
    ...(f.port ? { port: f.port } : {}),
    ...(f.username ? { user: f.username } : {}),
    ...(f.password ? { password: f.password } : {}),
    path: f.path,
  };
}

const s3Credentials = (r: { access_key_id?: string; access_key_secret?: string }) => {
  if (!r.access_key_id && !r.access_key_secret) return {};
  if (!r.access_key_id || !r.access_key_secret)
    throw new V2TranslationError('s3 needs both access_key_id and access_key_secret (or neither)');
  return { credentials: { accessKeyId: r.access_key_id, secretAccessKey: r.access_key_secret } };
};
const s3Common = (r: { bucket: string; region?: string; endpoint?: string; forcePathStyle?: boolean }) => ({
  bucket: r.bucket,
  ...(r.region ? { region: r.region } : {}),
  ...(r.endpoint ? { endpoint: r.endpoint } : {}),
  ...(r.forcePathStyle !== undefined ? { forcePathStyle: r.forcePathStyle } : {}),
});

/** The vidmesh source of an Encoder v2 source (pure). */
export function translateSource(s: V2JobRequest['source']): Record<string, unknown> {
  switch (s.kind) {
    case 'http':
    case 'https': {
      const auth =
        s.username !== undefined
          ? {
              headers: {
                Authorization: `Basic ${Buffer.from(`${s.username}:${s.password ?? ''}`).toString('base64')}`,
              },
            }
          : {};
      return { type: 'http', url: s.url, ...auth };
    }
    case 's3':
      return { type: 's3', ...s3Common(s), key: s.path, ...s3Credentials(s) };
    case 'ftp':
      return { type: 'ftp', ...ftpRef(s) };
    case 'inline':
      return { type: 'inline', data: s.data };
  }
}

/**
 * Splits a destination into the vidmesh destination (a folder) and the output's file name: the
 * original names the file itself (S3 `path`, HTTP `url`, FTP path); folder outputs (HLS, DASH,
 * thumbnails) take the whole path as the folder.
 */
function translateDestination(
  d: z.output<typeof v2DestinationSchema>,
  folder: boolean,
): { destination: Record<string, unknown>; fileName?: string } {
  const split = (p: string) => {
    const clean = p.replace(/^\/+/, '');
    if (folder || clean.endsWith('/')) return { dir: clean.replace(/\/+$/, ''), file: undefined };
    return { dir: posix.dirname(clean) === '.' ? '' : posix.dirname(clean), file: posix.basename(clean) };
  };
  switch (d.kind) {
    case 's3': {
      const { dir, file } = split(d.path);
      return {
        destination: {
          type: 's3',
          ...s3Common(d),
          prefix: dir,
          ...(d.acl ? { acl: d.acl } : {}),
          ...(d.contentType ? { contentType: d.contentType } : {}),
          ...s3Credentials(d),
        },
        ...(file ? { fileName: file } : {}),
      };
    }
    case 'http': {
      const u = new URL(d.url);
      const { dir, file } = split(u.pathname);
      const baseUrl = `${u.origin}/${dir ? `${dir}/` : ''}${u.search}`;
      return {
        destination: {
          type: 'http',
          baseUrl,
          ...(d.method ? { method: d.method } : {}),
          ...(d.headers ? { headers: d.headers } : {}),
        },
        ...(file ? { fileName: file } : {}),
      };
    }
    case 'ftp': {
      const { path, ...ref } = ftpRef(d);
      const { dir, file } = split(path);
      return { destination: { type: 'ftp', ...ref, dir: `/${dir}` }, ...(file ? { fileName: file } : {}) };
    }
    case 'local':
      return { destination: { type: 'local', ...(d.path ? { prefix: d.path } : {}) } };
    case 'ipfs':
      return { destination: { type: 'ipfs' } };
  }
}

/** The vidmesh output of an Encoder v2 output (pure). `name` is `o1`, `o2`, … in request order. */
export function translateOutput(o: z.output<typeof v2OutputSchema>, index: number): Record<string, unknown> {
  const at = `outputs.${index}`;
  const name = `o${index + 1}`;
  const size = {
    ...(o.width !== undefined ? { width: o.width } : {}),
    ...(o.height !== undefined ? { height: o.height } : {}),
  };
  const audio = o.audioBitrate !== undefined ? { audioBitrate: o.audioBitrate } : {};
  const folder = o.container === 'hls' || o.container === 'dash';
  // One type for playlists, segments and init files alike would break players.
  if (folder && o.destination.kind === 's3' && o.destination.contentType !== undefined)
    throw new V2TranslationError(
      `${at}.destination.contentType: ${o.container} outputs are many files, each typed by its extension`,
    );
  const { destination, fileName } = translateDestination(o.destination, folder);
  const file = fileName ? { fileName } : {};
  switch (o.container) {
    case 'mp4':
    case 'webm': {
      const codec = videoCodec(
        o.videoCodec,
        o.container === 'mp4' ? ['h264', 'hevc', 'av1'] : ['vp9', 'av1'],
        at,
      );
      const audioCodec = o.audioCodec?.toLowerCase();
      const allowedAudio = o.container === 'mp4' ? ['aac'] : ['opus', 'libopus'];
      if (audioCodec && !allowedAudio.includes(audioCodec))
        throw new V2TranslationError(`${at}.audioCodec: ${o.audioCodec} is not ${allowedAudio.join(' or ')}`);
      return {
        name,
        kind: o.container,
        ...(codec ? { videoCodec: codec } : {}),
        ...(o.videoBitrate !== undefined ? { videoBitrate: o.videoBitrate } : {}),
        ...(o.fps !== undefined ? { fps: o.fps } : {}),
        ...size,
        ...audio,
        ...file,
        destination,
      };
    }
    case 'hls':
    case 'dash':
      return { name, kind: o.container, destination };
    case 'm4a':
    case 'mp3':
    case 'opus':
      return { name, kind: 'audio', format: o.container, ...audio, ...file, destination };
    case 'jpg':
    case 'png':
    case 'webp':
      return { name, kind: 'poster', format: o.container, ...size, ...file, destination };
  }
}

/**
 * The vidmesh job spec of an Encoder v2 request (pure): `outputs` from `outputs[]`, `notificationUrl`
 * as the job's webhook (every event but progress).
 * @throws V2TranslationError naming the field a request uses in a way vidmesh cannot honour.
 */
export function translateRequest(body: V2JobRequest): Record<string, unknown> {
  return {
    source: translateSource(body.source),
    outputs: body.outputs.map(translateOutput),
    ...(body.notificationUrl
      ? {
          webhook: {
            url: body.notificationUrl,
            events: [
              'job.started',
              'output.completed',
              'output.failed',
              'job.completed',
              'job.failed',
              'job.cancelled',
            ],
          },
        }
      : {}),
  };
}

/** The original's job statuses. */
export type V2JobStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled';

/** A vidmesh job status in the original's words (a retry wait is still `queued`). */
export function v2Status(status: JobView['status']): V2JobStatus {
  switch (status) {
    case 'queued':
    case 'failed':
      return 'queued';
    case 'leased':
    case 'running':
    case 'verifying':
      return 'processing';
    case 'completed':
      return 'completed';
    case 'dead':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
  }
}

/** An output row's status in the original's words (`uploaded` once published). */
export function v2OutputStatus(status: OutputView['status']): string {
  return {
    pending: 'pending',
    running: 'processing',
    completed: 'uploaded',
    failed: 'failed',
    skipped: 'skipped',
  }[status];
}

/** A vidmesh job view in the original's job shape (secrets never appear: views carry none). */
export function v2JobView(job: JobView) {
  return {
    id: job.id,
    uuid: job.id,
    status: v2Status(job.status),
    progress: job.progress,
    error: job.error,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    finishedAt: job.finishedAt,
    source: job.source,
    outputs: (job.outputs ?? []).map((o) => ({
      id: o.name,
      kind: o.kind,
      status: v2OutputStatus(o.status),
      progress: o.progress,
      destination: { kind: o.destinationType },
      ...(o.url ? { url: o.url } : {}),
      ...(o.files ? { files: o.files } : {}),
      ...(o.bytes !== undefined ? { size: o.bytes } : {}),
      ...(o.durationS !== undefined ? { duration: o.durationS } : {}),
      ...(o.width !== undefined ? { width: o.width, height: o.height } : {}),
      ...(o.error ? { error: o.error } : {}),
    })),
  };
}

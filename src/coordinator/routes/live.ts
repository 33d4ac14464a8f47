import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import type { Queryable } from '../../jobs/db.js';
import type { JobStore } from '../../jobs/index.js';
import type { FeedStats } from '../../live/ingest.js';
import { createLiveSchema, type LiveService } from '../../live/service.js';
import { listLiveStreams } from '../../live/store.js';
import { LIVE_RENDITION_NAMES } from '../../media/live-args.js';
import type { LiveJobSpec } from '../../protocol/live.js';
import { type StorageContext, safeJoin } from '../../storage/index.js';
import { PayloadTooLargeError } from '../errors.js';
import type { Principal } from '../plugins/auth.js';
import { jobViewSchema } from '../schemas.js';
import { publishStaged } from '../staging.js';
import { jobView } from '../views.js';
import { assertHoldsLease, leaseHeaders } from './agent.js';
import { visibleJob } from './jobs.js';
import { mediaRoutes } from './media.js';

export interface LiveRouteOptions {
  store: JobStore;
  db: Queryable;
  live: LiveService;
  publicUrl: () => string;
  mediaBase?: () => string;
  /** Base of the ingest URLs shown to publishers (`rtmp://host:port/live`); default from the public URL. */
  rtmpBase: () => string;
  /** Largest segment accepted, bytes. */
  maxSegmentBytes: number;
  /** Where a recording is staged before it is published like a VOD job's output. */
  stagingRoot: string;
  /** The storage context recordings are published with (the job's destination, default `local`). */
  storage: () => StorageContext;
  /** Seals a new live spec's secrets (the recording destination's credentials) before it is stored. */
  sealSpec?: (spec: LiveJobSpec) => LiveJobSpec;
  /** Opens them again when the recording is published. */
  openSpec?: (spec: unknown) => unknown;
}

const feedSchema = z.object({
  state: z.enum(['waiting', 'publishing', 'reconnecting', 'ended']),
  bytesIn: z.number(),
  bitrate: z.number(),
  publishedAt: z.string().nullable(),
  lastPacketAt: z.string().nullable(),
  publishes: z.number(),
  subscribers: z.number(),
  width: z.number().nullable(),
  height: z.number().nullable(),
  frameRate: z.number().nullable(),
});
const liveViewSchema = z.object({
  job: jobViewSchema,
  playlist: z.enum(['event', 'sliding']),
  record: z.boolean(),
  endedAt: z.string().nullable(),
  /** Master playlist URL viewers play. */
  playbackUrl: z.string(),
  /** Ingest health (this coordinator's feed); null when the feed is not on this coordinator. */
  ingest: feedSchema.nullable(),
});

const feedView = (s: FeedStats | undefined) =>
  s
    ? {
        ...s,
        publishedAt: s.publishedAt?.toISOString() ?? null,
        lastPacketAt: s.lastPacketAt?.toISOString() ?? null,
      }
    : null;

/**
 * Live streams (issue 23, docs/live.md, docs/api.md): `POST /live` creates a live job and shows its
 * stream key once; `GET /live`, `GET /live/:id` list them with ingest health. The encoder side, fenced
 * by the lease like the other agent routes: `GET /agent/live/:jobId/source.flv` relays the ingest as
 * FLV, `POST /agent/live/:jobId/segments/:rendition` hands in one finished MPEG-TS segment (the
 * coordinator numbers it and rewrites the playlist), `POST /agent/live/:jobId/finish` closes the
 * playlists once the publisher is gone.
 */
export const liveRoutes: FastifyPluginAsyncZod<LiveRouteOptions> = async (app, opts) => {
  const { store, live } = opts;
  const leased = (req: {
    principal?: Principal;
    params: { jobId: string };
    headers: { 'x-lease-token': string };
  }) => assertHoldsLease(store, req.principal, req.params.jobId, req.headers['x-lease-token']);
  const playbackUrl = (jobId: string) => `${opts.publicUrl()}/live/${jobId}/master.m3u8`;
  const view = async (jobId: string, tenant: string | undefined) => {
    const job = await visibleJob(store, jobId, tenant);
    const row = await live.stream(job.id);
    return {
      job: jobView(job, opts.publicUrl(), opts.mediaBase?.()),
      playlist: row.playlist,
      record: row.record,
      endedAt: row.endedAt?.toISOString() ?? null,
      playbackUrl: playbackUrl(job.id),
      ingest: feedView(live.ingest?.existing(job.id)?.stats()),
    };
  };

  app.post(
    '/live',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'createLive',
        summary: 'Create a live stream: a live job and its RTMP stream key (shown once)',
        tags: ['live'],
        body: createLiveSchema,
        response: {
          201: liveViewSchema.extend({
            /** The stream key: shown here once, stored as its SHA-256 only. */
            streamKey: z.string(),
            /** `rtmp://host:port/live/<streamKey>` for the publisher (OBS: server + key). */
            ingestUrl: z.string(),
          }),
        },
      },
    },
    async (req, reply) => {
      if (!live.ingest) throw new LiveDisabledError('live ingest is off (set VIDMESH_LIVE_RTMP_PORT)');
      if (req.body.record && req.body.playlist === 'sliding') {
        throw new ValidationError('record needs the event playlist (a sliding window forgets segments)');
      }
      if (req.body.destination && !req.body.record) {
        throw new ValidationError('destination is where the recording goes: it needs record: true');
      }
      const { job, streamKey } = await live.create(
        req.body,
        {
          ...(req.principal?.tenant ? { tenant: req.principal.tenant } : {}),
          ...(req.principal?.id ? { owner: req.principal.id } : {}),
        },
        opts.sealSpec,
      );
      const v = await view(job.id, undefined);
      return reply.status(201).send({ ...v, streamKey, ingestUrl: `${opts.rtmpBase()}/${streamKey}` });
    },
  );

  app.get(
    '/live',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listLive',
        summary: 'Live streams, newest first, with ingest health',
        tags: ['live'],
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
        response: { 200: z.object({ streams: z.array(liveViewSchema) }) },
      },
    },
    async (req) => {
      const rows = await listLiveStreams(opts.db, req.principal?.tenant, req.query.limit);
      const streams = await Promise.all(rows.map((r) => view(r.jobId, req.principal?.tenant)));
      return { streams };
    },
  );

  app.get(
    '/live/:id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getLive',
        summary: 'One live stream with ingest health',
        tags: ['live'],
        params: z.object({ id: z.string().min(1).max(64) }),
        response: { 200: liveViewSchema },
      },
    },
    async (req) => view(req.params.id, req.principal?.tenant),
  );

  app.get(
    '/agent/live/:jobId/source.flv',
    {
      config: { scope: 'encoder', acceptsGrant: true },
      schema: {
        operationId: 'getLiveSource',
        summary: "A live job's ingest as FLV (lease holder only), from the last keyframe on",
        description:
          'Streams until the publisher is gone past the grace period. 410 `live_ended` when the stream already ended.',
        tags: ['agent', 'live'],
        params: z.object({ jobId: z.string().min(1).max(64) }),
        headers: leaseHeaders,
      },
    },
    async (req, reply) => {
      const { job } = await leased(req);
      const row = await live.stream(job.id);
      const feed = live.ingest?.feed(job.id);
      if (!feed || row.endedAt !== null || feed.state === 'ended') {
        throw new LiveEndedError(`live job ${job.id} has ended`);
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'video/x-flv', 'cache-control': 'no-store' });
      res.flushHeaders();
      const sub = {
        write: (chunk: Buffer) => {
          res.write(chunk);
        },
        backlog: () => res.writableLength,
        end: () => res.end(),
      };
      // The relay renews nothing (only progress and segments do): a holder that died must lose its
      // lease. Once the lease is gone, its relay ends, so an orphaned ffmpeg stops reading too.
      const holder = job.lease?.encoderId ?? '';
      const watch = setInterval(() => {
        store.verifyOwnership(job.id, holder).then(
          (o) => {
            if (!o.isSafeToProcess) res.end();
          },
          () => undefined,
        );
      }, 2000);
      watch.unref();
      res.once('close', () => {
        clearInterval(watch);
        feed.unsubscribe(sub);
      });
      if (!feed.subscribe(sub)) res.end();
    },
  );

  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  app.post(
    '/agent/live/:jobId/segments/:rendition',
    {
      config: { scope: 'encoder', acceptsGrant: true },
      schema: {
        operationId: 'putLiveSegment',
        summary: 'Hand in one finished MPEG-TS segment of a live rendition (lease holder only)',
        tags: ['agent', 'live'],
        params: z.object({ jobId: z.string().min(1).max(64), rendition: z.enum(LIVE_RENDITION_NAMES) }),
        headers: leaseHeaders.extend({
          /** Start of the segment on the ingest timeline, seconds. */
          'x-segment-start': z.coerce.number().min(0).max(1e9),
          /** Duration, seconds. */
          'x-segment-duration': z.coerce.number().gt(0).max(60),
        }),
        response: { 201: z.object({ seq: z.number(), discontinuity: z.boolean() }) },
      },
    },
    async (req, reply) => {
      const { job } = await leased(req);
      const dir = join(safeJoin(live.root, job.id), req.params.rendition);
      await mkdir(dir, { recursive: true });
      const part = join(dir, `.incoming.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}`);
      let bytes = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          // MPEG-TS packets start with the sync byte 0x47 (ISO/IEC 13818-1 §2.4.3.2): anything else is refused.
          if (bytes === 0 && chunk.length > 0 && chunk[0] !== 0x47) {
            return cb(new ValidationError('not an MPEG-TS segment'));
          }
          bytes += chunk.length;
          if (bytes > opts.maxSegmentBytes) cb(new PayloadTooLargeError('segment exceeds the size limit'));
          else cb(null, chunk);
        },
      });
      try {
        await pipeline(req.body as NodeJS.ReadableStream, meter, createWriteStream(part));
        if (bytes === 0) throw new ValidationError('empty segment');
        const lease = { attempt: job.attempts, token: req.headers['x-lease-token'] };
        const added = await live.addSegment(job, lease, req.params.rendition, {
          file: part,
          bytes,
          startS: req.headers['x-segment-start'],
          durationS: req.headers['x-segment-duration'],
        });
        return reply.status(201).send(added);
      } finally {
        await rm(part, { force: true });
      }
    },
  );

  app.post(
    '/agent/live/:jobId/finish',
    {
      config: { scope: 'encoder', acceptsGrant: true },
      schema: {
        operationId: 'finishLive',
        summary: 'Close the playlists of a live job whose publisher is gone (lease holder only)',
        description: '409 `live_not_ended` while the publisher is still on or within its grace period.',
        tags: ['agent', 'live'],
        params: z.object({ jobId: z.string().min(1).max(64) }),
        headers: leaseHeaders,
        response: { 200: z.object({ masterUrl: z.string(), recordingUrl: z.string().optional() }) },
      },
    },
    async (req) => {
      const { job } = await leased(req);
      const { masterPath, record } = await live.finish(job);
      const masterUrl = `${opts.publicUrl()}/live/${masterPath}`;
      if (!record) return { masterUrl };
      // The recording is published as a VOD job's staged output is: same checks, same destination
      // code, to the job's destination (secrets opened here) or the coordinator's media store, where
      // it is served at /media/<jobId>/ like any VOD.
      const spec = (opts.openSpec ? opts.openSpec(job.spec) : job.spec) as Pick<LiveJobSpec, 'destination'>;
      await live.writeRecording(job, safeJoin(opts.stagingRoot, job.id));
      const published = await publishStaged({
        jobId: job.id,
        spec: { destination: spec.destination ?? { type: 'local' } },
        stagingRoot: opts.stagingRoot,
        storage: opts.storage(),
        reported: { masterUrl: 'master.m3u8' },
      });
      return { masterUrl, recordingUrl: published.masterUrl };
    },
  );
};

/**
 * Live playlists and segments at `/live/<jobId>/…`, public like `/media` (unguessable job ids). Media
 * playlists change every segment: `no-cache` (revalidated on every load, RFC 9111 §5.2.2.4); segments
 * never change once written: `immutable`, one year.
 */
export async function liveMediaRoutes(
  app: FastifyInstance,
  opts: { root: string; corsOrigin: string },
): Promise<void> {
  await mediaRoutes(app, {
    ...opts,
    prefix: '/live/',
    cacheControl: (path) => (path.endsWith('.m3u8') ? 'no-cache' : 'public, max-age=31536000, immutable'),
  });
}

/** Live ingest is not configured on this coordinator. HTTP 503. */
class LiveDisabledError extends ValidationError {
  override readonly code: string = 'live_disabled';
  override readonly status: number = 503;
}

/** The live stream has ended; nothing left to relay. HTTP 410. */
class LiveEndedError extends ValidationError {
  override readonly code: string = 'live_ended';
  override readonly status: number = 410;
}

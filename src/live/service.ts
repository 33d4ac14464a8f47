import { createHash, randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { NotFoundError, VidmeshError } from '../errors.js';
import type { Queryable } from '../jobs/db.js';
import type { Job, JobStore } from '../jobs/index.js';
import type { Logger } from '../log.js';
import {
  DEFAULT_LIVE_LADDER,
  LIVE_RENDITION_NAMES,
  type LiveRendition,
  liveLadder,
} from '../media/live-args.js';
import { type LiveJobSpec, liveJobSpecSchema } from '../protocol/live.js';
import { destinationSchema, safeJoin } from '../storage/index.js';
import type { IngestServer } from './ingest.js';
import { renderMasterPlaylist, renderMediaPlaylist, segmentName } from './playlist.js';
import {
  appendLiveSegment,
  endLiveStream,
  insertLiveStream,
  type LiveStreamRow,
  liveStream,
  liveStreamByKey,
  playlistSegments,
} from './store.js';

/**
 * Live jobs on the coordinator (issue 23, docs/live.md): creating one (a job in the `live` queue plus
 * its stream key, stored as a SHA-256), checking keys for the RTMP ingest, taking segments from the
 * lease holder and writing the playlists under `<dataDir>/live/<jobId>/`.
 */

/** Body of `POST /api/v1/live`. */
export const createLiveSchema = z.strictObject({
  title: z.string().max(200).optional(),
  /** Rendition names of the live ladder, default `720p`, `480p`. */
  renditions: z
    .array(z.enum(LIVE_RENDITION_NAMES))
    .min(1)
    .max(5)
    .refine((a) => new Set(a).size === a.length, 'renditions must be distinct')
    .optional(),
  /**
   * `event` (default): every segment stays listed (`EXT-X-PLAYLIST-TYPE:EVENT`), so the closed playlist
   * is the recording; `sliding`: the last `windowSegments` only.
   */
  playlist: z.enum(['event', 'sliding']).optional(),
  windowSegments: z.number().int().min(3).max(60).optional(),
  /** Keep the stream as a VOD once it ends (the event playlist closed with ENDLIST; `event` only). */
  record: z.boolean().optional(),
  /**
   * Where the recording is published, as a VOD job's `destination` (s3, ftp, http, ipfs, local;
   * default `local`: `/media/<jobId>/`). Needs `record`. Secrets are sealed at rest.
   */
  destination: destinationSchema.optional(),
  priority: z.enum(['high', 'medium', 'low']).optional(),
});
export type CreateLiveInput = z.infer<typeof createLiveSchema>;

/** The stream key's form: `lk_` + 32 random bytes (base64url). */
const KEY_PATTERN = /^lk_[A-Za-z0-9_-]{43}$/;

export const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** A segment arrived for a live job that is not live (no live_streams row). HTTP 404. */
export class NotLiveError extends NotFoundError {
  override readonly code: string = 'not_live';
}

/** `finish` before the publisher is gone: the runner's ffmpeg stopped, the stream goes on. HTTP 409, retryable. */
export class LiveNotEndedError extends VidmeshError {
  override readonly code: string = 'live_not_ended';
  override readonly status: number = 409;
  override readonly retryable: boolean = true;
}

export interface LiveServiceOptions {
  db: Queryable;
  store: JobStore;
  /** `<dataDir>/live`: playlists and segments, one folder per job (served at `/live/`). */
  root: string;
  /** Attempts of a live job (each failover uses one; default 20). */
  maxAttempts?: number;
  log?: Logger;
}

export interface LiveService {
  readonly root: string;
  /** Set once the ingest listens (the service and the ingest need each other). */
  attachIngest(ingest: IngestServer): void;
  readonly ingest: IngestServer | undefined;
  /**
   * Creates a live job and its stream key (returned once; only its SHA-256 is stored). `seal` seals
   * the secrets of the spec (the recording's destination) before it is stored.
   */
  create(
    input: CreateLiveInput,
    who: { tenant?: string; owner?: string },
    seal?: (spec: LiveJobSpec) => LiveJobSpec,
  ): Promise<{ job: Job; streamKey: string }>;
  /** The ingest's key check: the job a key publishes to, or null. */
  authorize(app: string, key: string): Promise<{ jobId: string } | null>;
  stream(jobId: string): Promise<LiveStreamRow>;
  /**
   * Takes one finished segment (`file`, a temporary file the caller wrote; moved into place) of a
   * rendition from the lease holder (`lease`: its attempt and token, checked by the caller): numbers
   * it, stores it, rewrites the media playlist.
   * `startS`/`durationS`: seconds on the ingest timeline.
   */
  addSegment(
    job: Job,
    lease: { attempt: number; token: string },
    rendition: string,
    segment: { file: string; bytes: number; startS: number; durationS: number },
  ): Promise<{ seq: number; discontinuity: boolean }>;
  /**
   * Closes the playlists (`EXT-X-ENDLIST`) once the feed has ended; throws {@link LiveNotEndedError}
   * while the publisher is still on (or within its grace period).
   */
  finish(job: Job): Promise<{ masterPath: string; record: boolean }>;
  /**
   * Writes the recording of an ended stream into `dir` as a VOD ladder: `master.m3u8`, each
   * rendition's `index.m3u8` (`EXT-X-PLAYLIST-TYPE:VOD`, every segment, the failover discontinuities,
   * `EXT-X-ENDLIST`) and its segments (hard links, copies across file systems). The caller publishes
   * `dir` like a VOD job's staged output. @throws NotLiveError, LiveNotEndedError.
   */
  writeRecording(job: Job, dir: string): Promise<void>;
  /** The ingest feed ended: the key is spent (a new publish is refused). */
  feedEnded(jobId: string): Promise<void>;
}

export function createLiveService(options: LiveServiceOptions): LiveService {
  const { db, store, root } = options;
  let ingest: IngestServer | undefined;
  // One playlist writer per job and rendition: renders read the rows, the last write must be the newest.
  const chains = new Map<string, Promise<unknown>>();
  const serial = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const next = (chains.get(key) ?? Promise.resolve()).then(fn, fn);
    chains.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  };

  const writeAtomic = async (path: string, text: string) => {
    const part = `${path}.${process.pid}.part`;
    await writeFile(part, text);
    await rename(part, path);
  };

  const renditionsOf = (job: Job): LiveRendition[] => {
    const spec = liveJobSpecSchema.safeParse(job.spec);
    if (!spec.success) throw new NotLiveError(`job ${job.id} is not a live job`);
    return liveLadder(spec.data.renditions);
  };

  async function renderMedia(job: Job, row: LiveStreamRow, rendition: string, ended: boolean) {
    const spec = liveJobSpecSchema.parse(job.spec);
    const window = row.playlist === 'sliding' ? row.windowSegments : undefined;
    const { segments, discontinuitySequence } = await playlistSegments(db, job.id, rendition, window);
    const text = renderMediaPlaylist({
      segments,
      kind: row.playlist,
      discontinuitySequence,
      segmentS: spec.segmentS,
      ended,
    });
    await writeAtomic(join(safeJoin(root, job.id), rendition, 'index.m3u8'), text);
  }

  return {
    root,
    attachIngest(i) {
      ingest = i;
    },
    get ingest() {
      return ingest;
    },
    async create(input, who, seal = (spec) => spec) {
      const names = input.renditions ?? [...DEFAULT_LIVE_LADDER];
      const renditions = liveLadder(names);
      const playlist = input.playlist ?? 'event';
      const spec: LiveJobSpec = {
        kind: 'live',
        source: { type: 'live' },
        renditions: renditions.map((r) => r.name) as LiveJobSpec['renditions'],
        segmentS: 2,
        playlist,
        record: input.record ?? false,
        ...(input.title ? { title: input.title } : {}),
        ...(input.destination ? { destination: input.destination } : {}),
      };
      const job = await store.submit(
        {
          spec: seal(spec),
          renditions: spec.renditions,
          ...(who.tenant ? { tenant: who.tenant } : {}),
          ...(who.owner ? { owner: who.owner } : {}),
          queue: 'live',
          priority: input.priority ?? 'high',
          maxAttempts: options.maxAttempts ?? 20,
          // Only encoders that declare live capacity (the `live` tag) take live jobs.
          requirements: { codecs: ['h264', 'aac'], tags: ['live'], preferredKinds: ['infrastructure'] },
          metadata: { live: true, ...(input.title ? { title: input.title } : {}) },
        },
        { actor: who.owner ?? 'api' },
      );
      const streamKey = `lk_${randomBytes(32).toString('base64url')}`;
      await insertLiveStream(db, {
        jobId: job.id,
        tenant: job.tenant,
        keySha256: sha256Hex(streamKey),
        playlist,
        windowSegments: input.windowSegments ?? 6,
        record: spec.record,
      });
      const dir = safeJoin(root, job.id);
      for (const r of renditions) await mkdir(join(dir, r.name), { recursive: true });
      await writeAtomic(join(dir, 'master.m3u8'), renderMasterPlaylist(renditions));
      for (const r of renditions) {
        await renderMedia(
          job,
          { playlist, windowSegments: input.windowSegments ?? 6 } as LiveStreamRow,
          r.name,
          false,
        );
      }
      return { job, streamKey };
    },
    async authorize(app, key) {
      if (app !== 'live' || !KEY_PATTERN.test(key)) return null;
      const hash = sha256Hex(key);
      const row = await liveStreamByKey(db, hash);
      // Looked up by its hash: the key itself is never stored, and a guess compares no key bytes.
      if (!row) return null;
      const job = await store.get(row.jobId).catch(() => null);
      if (!job || ['completed', 'dead', 'cancelled'].includes(job.status)) return null;
      return { jobId: row.jobId };
    },
    async stream(jobId) {
      const row = await liveStream(db, jobId);
      if (!row) throw new NotLiveError(`job ${jobId} is not a live job`);
      return row;
    },
    async addSegment(job, lease, rendition, segment) {
      const row = await this.stream(job.id);
      if (!renditionsOf(job).some((r) => r.name === rendition)) {
        throw new NotFoundError(`live job ${job.id} has no rendition ${rendition}`);
      }
      const wall = ingest?.existing(job.id)?.wallClockOf(segment.startS) ?? null;
      return serial(`${job.id}/${rendition}`, async () => {
        const added = await appendLiveSegment(db, {
          jobId: job.id,
          rendition,
          durationS: segment.durationS,
          startS: segment.startS,
          programDateTime: wall === null ? null : new Date(wall),
          attempt: lease.attempt,
          leaseSha256: sha256Hex(lease.token),
          bytes: segment.bytes,
        });
        const dir = join(safeJoin(root, job.id), rendition);
        await rename(segment.file, join(dir, segmentName(added.seq)));
        await renderMedia(job, row, rendition, false);
        if (row.playlist === 'sliding') {
          // A segment leaves the window with each new one; its file stays one more window for players
          // still working through an older copy of the playlist, then goes.
          const old = added.seq - 2 * row.windowSegments;
          if (old >= 0) await rm(join(dir, segmentName(old)), { force: true });
        }
        return added;
      });
    },
    async finish(job) {
      const row = await this.stream(job.id);
      const feed = ingest?.existing(job.id);
      const ended = row.endedAt !== null || feed?.state === 'ended';
      if (!ended) throw new LiveNotEndedError(`live job ${job.id}: the publisher is still on`);
      await endLiveStream(db, job.id);
      for (const r of renditionsOf(job)) {
        await serial(`${job.id}/${r.name}`, () => renderMedia(job, row, r.name, true));
      }
      return { masterPath: `${job.id}/master.m3u8`, record: row.record };
    },
    async writeRecording(job, dir) {
      const row = await this.stream(job.id);
      if (row.endedAt === null) throw new LiveNotEndedError(`live job ${job.id}: the stream has not ended`);
      const spec = liveJobSpecSchema.parse(job.spec);
      const renditions = renditionsOf(job);
      const from = safeJoin(root, job.id);
      for (const r of renditions) {
        await mkdir(join(dir, r.name), { recursive: true });
        const { segments } = await playlistSegments(db, job.id, r.name, undefined);
        for (const s of segments) {
          const [src, dst] = [join(from, r.name, segmentName(s.seq)), join(dir, r.name, segmentName(s.seq))];
          await rm(dst, { force: true });
          await link(src, dst).catch(() => copyFile(src, dst));
        }
        const text = renderMediaPlaylist({
          segments,
          kind: 'vod',
          discontinuitySequence: 0,
          segmentS: spec.segmentS,
          ended: true,
        });
        await writeFile(join(dir, r.name, 'index.m3u8'), text);
      }
      await writeFile(join(dir, 'master.m3u8'), renderMasterPlaylist(renditions));
    },
    async feedEnded(jobId) {
      await endLiveStream(db, jobId);
      options.log?.info({ jobId }, 'live stream ended: publisher gone past the grace period');
    },
  };
}

import { createRequire } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log.js';

/**
 * RTMP ingest (issue 23, docs/live.md): a TCP server speaking RTMP (Adobe RTMP specification 1.0:
 * handshake, chunk stream, AMF0 `connect`/`createStream`/`publish`) through node-media-server's protocol
 * parser, and one in-memory {@link LiveFeed} per live job that fans the publisher's audio/video out as
 * an FLV byte stream (Adobe FLV specification v10.1, Annex E) to the encoders relaying it.
 *
 * - `rtmp://host:port/live/<streamKey>`: the key is checked (`authorize`) before the publish is
 *   answered; a wrong, unknown or ended key gets `NetStream.Publish.BadName` and the connection is
 *   closed, before any media is accepted. Playing over RTMP is refused (the stream key is a credential;
 *   viewers watch the HLS ladder).
 * - A publisher that disconnects leaves the feed `reconnecting` for `graceMs`; the same key may publish
 *   again meanwhile and the timeline continues (timestamps shifted past the last one). After the grace
 *   the feed ends: every relay ends its FLV stream and `onEnded` is called once.
 * - A relay subscriber starts at a keyframe: the FLV header, metadata and the AVC/AAC sequence headers,
 *   then the current GOP (from the last keyframe), then live tags.
 */

// node-media-server ships CommonJS without types: its RTMP parser and FLV muxer are used directly (the
// server classes keep process-global state and exit the process when a port is taken).
const require = createRequire(import.meta.url);

interface NmsPacket {
  codec_type: number;
  flags: number;
  dts: number;
  pts: number;
  size: number;
  data: Buffer;
}
interface NmsRtmp {
  streamApp: string;
  parserPacket: { header: { stream_id: number } };
  onOutputCallback: (buffer: Buffer) => void;
  onPacketCallback: (packet: NmsPacket) => void;
  parserData(buffer: Buffer): string | null;
  sendStatusMessage(sid: number, level: string, code: string, description: string): void;
  respondPublish(): void;
  streamName: string;
  streamId: number;
}
const RtmpParser = require('node-media-server/src/protocol/rtmp.js') as new () => NmsRtmp;
const Flv = require('node-media-server/src/protocol/flv.js') as {
  createHeader(hasAudio: boolean, hasVideo: boolean): Buffer;
  createMessage(packet: NmsPacket): Buffer;
};

/** FLV packet kinds as node-media-server's parser flags them. */
const AUDIO_HEADER = 0;
const AUDIO_FRAME = 1;
const VIDEO_HEADER = 2;
const KEYFRAME = 3;
const VIDEO_FRAME = 4;
const METADATA = 5;
/** FLV tag type (codec_type) of video. */
const VIDEO_TAG = 9;

/** A GOP longer than this many tags is dropped from the cache (a publisher without keyframes). */
const MAX_GOP_TAGS = 4096;
/** A relay whose socket buffers more than this (bytes) cannot keep up and is cut. */
const MAX_SUBSCRIBER_BACKLOG = 32 * 1024 * 1024;

/** What a relay receives: FLV bytes, then the end of the feed. */
export interface FeedSubscriber {
  write(chunk: Buffer): void;
  /** Bytes queued but not yet sent (backpressure); optional. */
  backlog?(): number;
  end(): void;
}

export type FeedState = 'waiting' | 'publishing' | 'reconnecting' | 'ended';

/** Ingest health of one feed. Bitrates in bits/s, times as Dates, bytes as bytes. */
export interface FeedStats {
  state: FeedState;
  bytesIn: number;
  /** Average ingest bitrate over the last ~5 s. */
  bitrate: number;
  publishedAt: Date | null;
  lastPacketAt: Date | null;
  /** Publisher connections accepted so far (reconnects included). */
  publishes: number;
  subscribers: number;
  width: number | null;
  height: number | null;
  frameRate: number | null;
}

/** One live job's feed: caches what a new relay needs to start, fans tags out. */
export class LiveFeed {
  state: FeedState = 'waiting';
  private readonly header = Flv.createHeader(true, true);
  private meta: Buffer | null = null;
  private audioHeader: Buffer | null = null;
  private videoHeader: Buffer | null = null;
  private gop: Buffer[] = [];
  private readonly active = new Set<FeedSubscriber>();
  private readonly pending = new Set<FeedSubscriber>();
  private lastDts = 0;
  private dtsOffset = 0;
  /** Wall-clock ms minus timeline ms of the latest video tag: maps ingest time to wall time. */
  private originMs: number | null = null;
  private bytesIn = 0;
  private publishes = 0;
  private publishedAt: Date | null = null;
  private lastPacketAt: Date | null = null;
  private readonly samples: Array<{ at: number; bytes: number }> = [];
  private graceTimer: NodeJS.Timeout | undefined;
  publisher: Socket | null = null;
  width: number | null = null;
  height: number | null = null;
  frameRate: number | null = null;

  constructor(readonly jobId: string) {}

  /** Wall-clock time (ms since the epoch) of a point of the ingest timeline (seconds); null before the first video tag. */
  wallClockOf(timelineS: number): number | null {
    return this.originMs === null ? null : this.originMs + timelineS * 1000;
  }

  /** Adds a relay; false when the feed has ended. It gets data from the next keyframe (or the cached GOP). */
  subscribe(sub: FeedSubscriber): boolean {
    if (this.state === 'ended') return false;
    if (this.gop.length > 0 && this.videoHeader) {
      this.start(sub);
      for (const tag of this.gop) sub.write(tag);
      this.active.add(sub);
    } else {
      this.pending.add(sub);
    }
    return true;
  }

  unsubscribe(sub: FeedSubscriber): void {
    this.active.delete(sub);
    this.pending.delete(sub);
  }

  /** @internal the ingest server's publish accepted. */
  publishStarted(socket: Socket): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    if (this.state === 'reconnecting') {
      // The publisher's timestamps restart at 0: continue the timeline one frame after the last tag.
      this.dtsOffset = this.lastDts + 33;
    }
    this.state = 'publishing';
    this.publisher = socket;
    this.publishes += 1;
    this.publishedAt ??= new Date();
  }

  /** @internal the publisher's connection closed: wait `graceMs` for it to come back, then end. */
  publishStopped(socket: Socket, graceMs: number, onEnded: () => void): void {
    if (this.publisher !== socket || this.state === 'ended') return;
    this.publisher = null;
    this.state = 'reconnecting';
    this.graceTimer = setTimeout(() => {
      this.end();
      onEnded();
    }, graceMs);
    this.graceTimer.unref();
  }

  /** Ends the feed: every relay's FLV stream ends; later subscribers are refused. */
  end(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.state = 'ended';
    this.publisher?.destroy();
    this.publisher = null;
    for (const s of [...this.active, ...this.pending]) s.end();
    this.active.clear();
    this.pending.clear();
    this.gop = [];
  }

  /** @internal one parsed RTMP media message of the accepted publisher. */
  packet(p: NmsPacket): void {
    const now = Date.now();
    this.bytesIn += p.size;
    this.lastPacketAt = new Date(now);
    this.samples.push({ at: now, bytes: p.size });
    while (this.samples.length > 0 && this.samples[0]!.at < now - 5000) this.samples.shift();
    const isMedia = p.flags === AUDIO_FRAME || p.flags === KEYFRAME || p.flags === VIDEO_FRAME;
    if (isMedia && this.dtsOffset > 0) {
      p.dts += this.dtsOffset;
      p.pts += this.dtsOffset;
    }
    if (isMedia) this.lastDts = Math.max(this.lastDts, p.dts);
    if (p.codec_type === VIDEO_TAG && isMedia) this.originMs = now - p.dts;
    if (p.flags === METADATA) this.readMetadata(p.data);
    const tag = Flv.createMessage(p);
    switch (p.flags) {
      case AUDIO_HEADER:
        this.audioHeader = tag;
        break;
      case VIDEO_HEADER:
        this.videoHeader = tag;
        break;
      case METADATA:
        this.meta = tag;
        break;
      case KEYFRAME:
        this.gop = [tag];
        break;
      case AUDIO_FRAME:
      case VIDEO_FRAME:
        if (this.gop.length > 0) this.gop.push(tag);
        if (this.gop.length > MAX_GOP_TAGS) this.gop = [];
        break;
    }
    if (p.flags === KEYFRAME && this.videoHeader) {
      for (const sub of this.pending) {
        this.start(sub);
        this.active.add(sub);
      }
      this.pending.clear();
    }
    if (!isMedia) {
      // A new sequence header or metadata mid-stream goes to running relays too.
      for (const sub of this.active) sub.write(tag);
      return;
    }
    for (const sub of this.active) {
      if ((sub.backlog?.() ?? 0) > MAX_SUBSCRIBER_BACKLOG) {
        this.active.delete(sub);
        sub.end();
        continue;
      }
      sub.write(tag);
    }
  }

  stats(): FeedStats {
    const now = Date.now();
    const recent = this.samples.filter((s) => s.at >= now - 5000);
    const span = recent.length > 1 ? Math.max(1, now - recent[0]!.at) : 5000;
    const bytes = recent.reduce((a, s) => a + s.bytes, 0);
    return {
      state: this.state,
      bytesIn: this.bytesIn,
      bitrate: this.state === 'publishing' ? Math.round((bytes * 8 * 1000) / span) : 0,
      publishedAt: this.publishedAt,
      lastPacketAt: this.lastPacketAt,
      publishes: this.publishes,
      subscribers: this.active.size + this.pending.size,
      width: this.width,
      height: this.height,
      frameRate: this.frameRate,
    };
  }

  private start(sub: FeedSubscriber): void {
    sub.write(this.header);
    if (this.meta) sub.write(this.meta);
    if (this.audioHeader) sub.write(this.audioHeader);
    if (this.videoHeader) sub.write(this.videoHeader);
  }

  private readMetadata(data: Buffer): void {
    // onMetaData is AMF0; the few numbers shown on the dashboard are read without a full decoder.
    const num = (key: string): number | null => {
      const i = data.indexOf(Buffer.from(key, 'latin1'));
      if (i < 0 || data[i + key.length] !== 0x00) return null;
      const v = data.readDoubleBE(i + key.length + 1);
      return Number.isFinite(v) ? v : null;
    };
    this.width = num('width') ?? this.width;
    this.height = num('height') ?? this.height;
    this.frameRate = num('framerate') ?? this.frameRate;
  }
}

/** Checks a stream key: the job it publishes to, or null (wrong, unknown or ended key). */
export type AuthorizePublish = (app: string, streamKey: string) => Promise<{ jobId: string } | null>;

export interface IngestOptions {
  /** TCP port; 0 = any free port (tests). */
  port: number;
  host: string;
  authorize: AuthorizePublish;
  /** ms a disconnected publisher may take to come back before the feed ends (default 30 000). */
  graceMs?: number;
  /** Called once per feed when it ends (publisher gone past the grace, or `endFeed`). */
  onEnded?: (jobId: string) => void;
  log?: Logger;
}

/** A listening RTMP ingest server and its feeds. */
export interface IngestServer {
  /** The port it listens on (the real one when started with 0). */
  readonly port: number;
  /** The feed of a job, created (waiting for its publisher) when absent. */
  feed(jobId: string): LiveFeed;
  /** The feed of a job when it exists in this process. */
  existing(jobId: string): LiveFeed | undefined;
  /** Ends a job's feed now (cancelled job): the publisher is disconnected, relays end. */
  endFeed(jobId: string): void;
  close(): Promise<void>;
}

/**
 * Starts the RTMP ingest server. Resolves once it listens; rejects when the port cannot be bound
 * (EADDRINUSE etc.).
 */
export async function startIngest(options: IngestOptions): Promise<IngestServer> {
  const graceMs = options.graceMs ?? 30_000;
  const feeds = new Map<string, LiveFeed>();
  const sockets = new Set<Socket>();
  const log = options.log;
  const feed = (jobId: string) => {
    let f = feeds.get(jobId);
    if (!f) {
      f = new LiveFeed(jobId);
      feeds.set(jobId, f);
    }
    return f;
  };
  const ended = (jobId: string) => {
    log?.info({ jobId }, 'live feed ended');
    options.onEnded?.(jobId);
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    // A connection that never publishes (port scanners, stalled handshakes) is closed after 30 s.
    socket.setTimeout(30_000, () => socket.destroy());
    let accepted: LiveFeed | undefined;
    const refuse = (rtmp: NmsRtmp, streamId: number, code: string, why: string) => {
      rtmp.sendStatusMessage(streamId, 'error', code, why);
      log?.warn({ remote: socket.remoteAddress, why }, 'rtmp publish refused');
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    class GuardedRtmp extends RtmpParser {
      // Answered only once the key is known to be good: no NetStream.Publish.Start, no media accepted.
      onPublish(invokeMessage: { streamName?: unknown }): void {
        const streamId = this.parserPacket.header.stream_id;
        const name = String(invokeMessage.streamName ?? '').split('?')[0] ?? '';
        const app = this.streamApp;
        options.authorize(app, name).then(
          (ok) => {
            if (socket.destroyed) return;
            if (!ok) return refuse(this, streamId, 'NetStream.Publish.BadName', 'invalid stream key');
            const f = feed(ok.jobId);
            if (f.state === 'ended')
              return refuse(this, streamId, 'NetStream.Publish.BadName', 'stream ended');
            if (f.publisher && !f.publisher.destroyed) {
              return refuse(this, streamId, 'NetStream.Publish.BadName', 'already publishing');
            }
            this.streamName = name;
            this.streamId = streamId;
            accepted = f;
            f.publishStarted(socket);
            socket.setTimeout(0);
            this.respondPublish();
            log?.info({ jobId: ok.jobId, remote: socket.remoteAddress }, 'rtmp publish started');
          },
          (err: unknown) => {
            log?.error({ err }, 'rtmp key check failed');
            refuse(this, streamId, 'NetStream.Publish.Failed', 'ingest unavailable');
          },
        );
      }
      onPlay(): void {
        refuse(this, this.parserPacket.header.stream_id, 'NetStream.Play.Failed', 'playback is HLS only');
      }
    }
    const rtmp = new GuardedRtmp();
    rtmp.onOutputCallback = (buf) => {
      if (!socket.destroyed) socket.write(buf);
    };
    rtmp.onPacketCallback = (p) => accepted?.packet(p);
    socket.on('data', (data: Buffer) => {
      const err = rtmp.parserData(data);
      if (err != null) {
        log?.warn({ err }, 'rtmp protocol error');
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      const f = accepted;
      if (f) f.publishStopped(socket, graceMs, () => ended(f.jobId));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  log?.info({ port }, 'rtmp ingest listening');
  return {
    port,
    feed,
    existing: (jobId) => feeds.get(jobId),
    endFeed(jobId) {
      const f = feeds.get(jobId);
      if (f && f.state !== 'ended') {
        f.end();
        ended(jobId);
      }
    },
    async close() {
      for (const f of feeds.values()) if (f.state !== 'ended') f.end();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

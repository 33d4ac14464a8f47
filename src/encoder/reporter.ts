import type { Logger } from '../log.js';
import { LeaseLostError } from './errors.js';
import type { EncoderTransport, LeaseRef, ProgressUpdate } from './transport.js';

/** Longest log line sent to the coordinator (characters); longer lines are cut. */
const MAX_LINE_CHARS = 2000;
/** Most log lines queued between two progress calls; older ones are dropped with a marker. */
const MAX_PENDING_LINES = 200;
/** Lines kept for the failure report. */
const TAIL_LINES = 60;

export interface JobReporterOptions {
  transport: EncoderTransport;
  encoderId: string;
  lease: LeaseRef;
  /** ISO 8601 lease end from the claim. */
  leaseExpiresAt: string;
  /** Minimum ms between two progress calls of this job (default 3000). */
  intervalMs: number;
  /** Called once when the coordinator says the lease is gone. */
  onLeaseLost(err: LeaseLostError): void;
  /** Called once when a progress answer says the job was cancelled. */
  onCancelled(): void;
  log?: Logger;
}

/**
 * Reports one job's stage, progress and log lines to the coordinator, at most one call per
 * `intervalMs`: the pipeline updates state as often as it likes, a ticker sends the latest state (which
 * also renews the lease, so it keeps ticking while nothing changes, e.g. during a probe or a slow
 * download). A 409 or a `cancelled` answer stops the ticker and fires the callback once.
 */
export class JobReporter {
  private state: ProgressUpdate = { stage: 'downloading', progress: 0 };
  private pending: string[] = [];
  private dropped = 0;
  private readonly tailLines: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  private lastSentAt = 0;
  /** When the coordinator last answered a progress call (ms since the epoch; 0: never). */
  private lastAckAt = 0;
  /** ISO 8601 end of the lease as last granted (claim, then each progress answer). */
  leaseExpiresAt: string;

  constructor(private readonly opts: JobReporterOptions) {
    this.leaseExpiresAt = opts.leaseExpiresAt;
  }

  /** Starts the ticker with an immediate first call (the coordinator sees the job running at once). */
  start(): void {
    void this.send();
    this.timer = setInterval(() => void this.send(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Replaces the current stage/progress fields (renditions, speed, ETA kept unless given). */
  update(update: Omit<ProgressUpdate, 'logs'>): void {
    const stageChanged = update.stage !== this.state.stage;
    this.state = { ...this.state, ...update };
    if (stageChanged) {
      // A stage change is worth telling early, but never faster than the interval allows.
      if (Date.now() - this.lastSentAt >= this.opts.intervalMs) void this.send();
    }
  }

  /** Queues log lines for the next call (bounded; the newest lines win). */
  log(...lines: string[]): void {
    for (const raw of lines) {
      const line = raw.length > MAX_LINE_CHARS ? raw.slice(0, MAX_LINE_CHARS) + '…' : raw;
      this.pending.push(line);
      this.tailLines.push(line);
    }
    if (this.pending.length > MAX_PENDING_LINES) {
      this.dropped += this.pending.length - MAX_PENDING_LINES;
      this.pending.splice(0, this.pending.length - MAX_PENDING_LINES);
    }
    if (this.tailLines.length > TAIL_LINES) this.tailLines.splice(0, this.tailLines.length - TAIL_LINES);
  }

  /** The last log lines of the job (for the failure report). */
  tail(): string[] {
    return [...this.tailLines];
  }

  /** Current stage. */
  get stage(): ProgressUpdate['stage'] {
    return this.state.stage;
  }

  /**
   * Success path: stops the ticker and sends one last report carrying the remaining log lines (the
   * completion call has no room for them). A failure of that last call is only logged.
   */
  async flush(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.inFlight;
    if (!this.stopped) await this.send();
    this.stopped = true;
  }

  /**
   * The fence before an irreversible step (publishing outputs): renews the lease now and resolves only
   * once the coordinator confirmed it. While the coordinator cannot be reached (a partition, a restart)
   * it keeps asking every `retryMs` (default 1000): a restarted coordinator still honours the lease
   * (its rescue grace), a partitioned node's lease may have gone to another encoder, and only the
   * coordinator knows which. A refused lease fires `onLeaseLost` and throws {@link LeaseLostError} (so
   * does a cancel); an aborted `signal` (the node stopping) throws its reason.
   */
  async confirmLease(options: { retryMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const { retryMs = 1000, signal } = options;
    for (;;) {
      await this.inFlight;
      if (signal?.aborted) throw signal.reason;
      const asked = Date.now();
      if (!this.stopped) await this.send();
      if (this.stopped) throw new LeaseLostError(`lease of job ${this.opts.lease.jobId} is no longer held`);
      if (this.lastAckAt >= asked) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, retryMs);
        function done() {
          clearTimeout(t);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Stops the ticker and waits for a call in flight; pending lines are returned (for fail/complete). */
  async stop(): Promise<string[]> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.inFlight;
    const lines = this.takeLines();
    return lines;
  }

  private takeLines(): string[] {
    const lines = this.pending;
    this.pending = [];
    if (this.dropped > 0) {
      lines.unshift(`[vidmesh] ${this.dropped} log lines dropped (rate limit)`);
      this.dropped = 0;
    }
    return lines;
  }

  private send(): Promise<void> {
    if (this.stopped || this.inFlight) return this.inFlight ?? Promise.resolve();
    this.lastSentAt = Date.now();
    const lines = this.takeLines();
    const body: ProgressUpdate = { ...this.state, progress: clampPercent(this.state.progress) };
    // JSON has no NaN/Infinity: an early ffmpeg progress block would make the whole call invalid.
    if (!(Number.isFinite(body.etaS) && (body.etaS ?? -1) >= 0)) delete body.etaS;
    if (!(Number.isFinite(body.speed) && (body.speed ?? -1) >= 0)) delete body.speed;
    if (!(Number.isFinite(body.fps) && (body.fps ?? -1) >= 0)) delete body.fps;
    if (lines.length > 0) body.logs = lines;
    const { transport, encoderId, lease, log } = this.opts;
    this.inFlight = transport
      .progress(encoderId, lease, body)
      .then((ack) => {
        this.lastAckAt = Date.now();
        this.leaseExpiresAt = ack.leaseExpiresAt;
        if (ack.cancelled && !this.stopped) {
          this.stopped = true;
          if (this.timer) clearInterval(this.timer);
          this.opts.onCancelled();
        }
      })
      .catch((err: unknown) => {
        if (err instanceof LeaseLostError) {
          if (!this.stopped) {
            this.stopped = true;
            if (this.timer) clearInterval(this.timer);
            // A cancel that lands between a renewal and its log lines comes back as a lease the job
            // store refuses with reason `cancelled`: it is the user's cancel, not a lost lease.
            if ((err.details as { reason?: unknown } | undefined)?.reason === 'cancelled')
              this.opts.onCancelled();
            else this.opts.onLeaseLost(err);
          }
          return;
        }
        // Transient: keep the lines for the next call; the lease outlives a few missed renewals.
        this.pending.unshift(...lines);
        log?.warn({ jobId: lease.jobId, err: (err as Error).message }, 'progress report failed');
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}

function clampPercent(p: number): number {
  if (!Number.isFinite(p)) return 0;
  return Math.min(100, Math.max(0, Math.round(p * 10) / 10));
}

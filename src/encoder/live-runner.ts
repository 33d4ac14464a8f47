import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { VidmeshError } from '../errors.js';
import { LeaseLostError } from '../jobs/index.js';
import type { Logger } from '../log.js';
import { EncodeError } from '../media/errors.js';
import { buildLiveArgs, type LiveRendition, liveLadder, parseSegmentCsv } from '../media/live-args.js';
import { runProcess, summarizeStderr } from '../media/process.js';
import { createProgressParser } from '../media/progress.js';
import { liveJobSpecSchema } from '../protocol/live.js';
import type { CompletionResult } from '../protocol/result.js';
import { InvalidJobSpecError } from './errors.js';
import type { JobReporter } from './reporter.js';
import type { ClaimedJob, EncoderTransport, LeaseRef } from './transport.js';

/** This transport cannot reach the coordinator's live routes (db transport). Retryable: another encoder can. */
export class LiveUnsupportedError extends VidmeshError {
  override readonly code: string = 'live_unsupported';
  override readonly status: number = 500;
  override readonly retryable: boolean = true;
}

/** The coordinator refused a segment or the finish call. */
export class LiveUploadError extends VidmeshError {
  override readonly code: string = 'live_upload_failed';
  override readonly status: number = 502;
  override readonly retryable: boolean = true;
}

export interface LiveRunOptions {
  job: ClaimedJob;
  workDir: string;
  signal: AbortSignal;
  reporter: JobReporter;
  transport: EncoderTransport;
  lease: LeaseRef;
  log?: Logger;
  /** ms between two looks at ffmpeg's segment lists (default 200). */
  pollMs?: number;
  /** x264 preset (default `veryfast`). */
  preset?: string;
}

/**
 * Runs one live job attempt (issue 23, docs/live.md): ffmpeg reads the coordinator's FLV relay of the
 * ingest and encodes the live ladder ({@link buildLiveArgs}); every segment the segment muxer lists as
 * complete is POSTed to the coordinator at once (which numbers it and rewrites the playlist) and
 * deleted here. The reporter keeps renewing the lease for as long as the stream lasts. When ffmpeg
 * ends (the feed ended, or it failed), the remaining segments are handed in and the playlists closed
 * with `finish`; if the publisher is in fact still on (409 `live_not_ended`), the attempt fails
 * retryably and the next claim continues the same playlists after an `EXT-X-DISCONTINUITY`.
 *
 * Returns the completion result (masterUrl = the live master playlist). Throws
 * {@link InvalidJobSpecError}, {@link LiveUnsupportedError}, {@link LiveUploadError}, `LeaseLostError`
 * (a segment refused with 409: someone else holds the job now), `EncodeError`.
 */
export async function runLiveJob(o: LiveRunOptions): Promise<CompletionResult> {
  const parsed = liveJobSpecSchema.safeParse(o.job.spec);
  if (!parsed.success) throw new InvalidJobSpecError(`invalid live job spec: ${parsed.error.message}`);
  const spec = parsed.data;
  const endpoints = o.transport.liveEndpoints?.(o.lease);
  if (!endpoints) throw new LiveUnsupportedError('this encoder reaches no coordinator live routes');
  const renditions = liveLadder(spec.renditions);
  const outDir = join(o.workDir, 'live');
  for (const r of renditions) await mkdir(join(outDir, r.name), { recursive: true });
  const started = Date.now();
  let segmentsSent = 0;
  let uploadError: unknown;
  const stopUploads = new AbortController();
  // A refused segment stops ffmpeg too: the attempt is over.
  const failed = new AbortController();
  const signal = AbortSignal.any([o.signal, failed.signal]);

  const post = async (path: string, body?: Buffer, extra: Record<string, string> = {}) => {
    const res = await fetch(`${endpoints.base}${path}`, {
      method: 'POST',
      headers: { ...endpoints.headers, ...extra },
      ...(body ? { body } : {}),
      signal: o.signal,
    });
    const text = await res.text();
    if (res.status === 409) {
      const code = safeCode(text);
      if (code === 'live_not_ended') return { status: 409, code, text };
      throw new LeaseLostError(`live ${path}: ${text.slice(0, 200)}`);
    }
    if (!res.ok) throw new LiveUploadError(`live ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
    return { status: res.status, code: undefined, text };
  };

  // Per rendition: how much of its CSV list was read; segments go out in order, one at a time.
  const consumed = new Map<string, number>(renditions.map((r) => [r.name, 0]));
  const drain = async () => {
    for (const r of renditions) {
      const dir = join(outDir, r.name);
      const csv = await readFile(join(dir, 'segments.csv'), 'utf8').catch(() => '');
      const { entries, consumed: used } = parseSegmentCsv(csv.slice(consumed.get(r.name) ?? 0));
      consumed.set(r.name, (consumed.get(r.name) ?? 0) + used);
      for (const e of entries) {
        const file = join(dir, e.file);
        const body = await readFile(file);
        const res = await post(`/segments/${r.name}`, body, {
          'content-type': 'video/mp2t',
          'x-segment-start': e.startS.toFixed(6),
          'x-segment-duration': Math.max(0.001, e.endS - e.startS).toFixed(6),
        });
        await rm(file, { force: true });
        segmentsSent += 1;
        if (segmentsSent <= renditions.length || segmentsSent % 30 === 0) {
          o.reporter.log(
            `[vidmesh] live ${r.name} segment at ${e.startS.toFixed(2)} s handed in: ${res.text}`,
          );
        }
      }
    }
  };
  const uploader = (async () => {
    while (!stopUploads.signal.aborted && !o.signal.aborted) {
      try {
        await drain();
      } catch (err) {
        uploadError = err;
        failed.abort(err);
        return;
      }
      await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
    }
  })();

  o.reporter.update({ stage: 'encoding', progress: 0 });
  o.reporter.log(`[vidmesh] live ladder ${spec.renditions.join(', ')}: reading the ingest relay`);
  const parse = createProgressParser(0);
  const args = buildLiveArgs({
    input: 'pipe:0',
    inputFormat: 'flv',
    renditions,
    outDir,
    segmentS: spec.segmentS,
    ...(o.preset ? { preset: o.preset } : {}),
  });
  // The relay is read here and piped into ffmpeg: the lease token and key stay out of its argv.
  const relay = await fetch(`${endpoints.base}/source.flv`, { headers: endpoints.headers, signal });
  if (relay.status === 409) throw new LeaseLostError(`live relay: ${(await relay.text()).slice(0, 200)}`);
  if (relay.status !== 200 && relay.status !== 410) {
    throw new LiveUploadError(`live relay: HTTP ${relay.status} ${(await relay.text()).slice(0, 200)}`);
  }
  if (relay.status === 410 || !relay.body) {
    // The stream ended before this attempt could join: only the playlists are left to close.
    await relay.body?.cancel();
    stopUploads.abort();
    await uploader;
    return closeStream(o, post, renditions, started, 'the stream ended before this attempt');
  }
  const feed = Readable.fromWeb(relay.body as import('node:stream/web').ReadableStream<Uint8Array>);
  let outcome: Awaited<ReturnType<typeof runProcess>>;
  try {
    outcome = await runProcess('ffmpeg', args, {
      stdin: feed,
      signal,
      onStdoutLine: (line) => {
        const p = parse(line);
        if (p && Number.isFinite(p.speed) && p.speed > 0) {
          o.reporter.update({ stage: 'encoding', progress: 0, speed: p.speed });
        }
      },
    });
  } catch (err) {
    if (uploadError) throw uploadError;
    throw err;
  } finally {
    stopUploads.abort();
    await uploader;
  }
  if (uploadError) throw uploadError;
  // The last segments were listed when ffmpeg closed them: hand them in before closing the playlists.
  await drain();
  feed.destroy();
  for (const line of outcome.stderr.split('\n').filter(Boolean).slice(-20)) o.reporter.log(line);
  return closeStream(
    o,
    post,
    renditions,
    started,
    `ffmpeg ended while the stream is on (exit ${outcome.code ?? outcome.signal}): ${summarizeStderr(outcome.stderr)}`,
  );
}

/** `finish`: the playlists closed with ENDLIST and the completion result; 409 → a retryable failure. */
async function closeStream(
  o: LiveRunOptions,
  post: (path: string) => Promise<{ status: number; text: string }>,
  renditions: LiveRendition[],
  started: number,
  whyNotEnded: string,
): Promise<CompletionResult> {
  const fin = await post('/finish');
  if (fin.status === 409) throw new EncodeError(`live: ${whyNotEnded}`);
  o.reporter.log('[vidmesh] live stream ended: playlists closed');
  const closed = JSON.parse(fin.text) as { masterUrl: string; recordingUrl?: string };
  // A recorded stream's result is its VOD (published like a VOD job's output); else the live playlists.
  const masterUrl = closed.recordingUrl ?? closed.masterUrl;
  const wallS = (Date.now() - started) / 1000;
  return {
    renditions: renditions.map((r) => ({
      name: r.name,
      kind: 'video' as const,
      height: r.height,
      bandwidth: r.videoBitrate + r.audioBitrate,
      playlist: `${r.name}/index.m3u8`,
    })),
    masterUrl,
    publish: { type: closed.recordingUrl ? 'local' : 'live', masterUrl },
    encode: { backend: 'software', fallbacks: [], wallS, speed: 1 },
  };
}

function safeCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

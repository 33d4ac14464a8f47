import { signRequest, signUploadGrant } from '../../../src/identity/signing.js';
import { ENCODER_KIND_LIMITS } from '../../../src/jobs/vocabulary.js';
import type { CompletionResult } from '../../../src/protocol/result.js';
import type { ClaimHandout, Registration } from '../../../src/protocol/wire.js';
import type { BrowserIdentity } from './identity.js';
import type { TranscodeResult } from './transcode.js';
import { transcodeInWorker } from './transcode-client.js';

/**
 * The browser tab as a vidmesh encoder of kind `browser` (docs/encoders.md, "Browser encoder"): it
 * speaks the agent work API of src/protocol like any node, signed with its did:key (DIDJWS requests,
 * a DIDGRANT upload grant for the streamed source and outputs). It is a community-trust encoder: it
 * never holds a credential, reads the source through the lease-bound relay, stages its outputs on the
 * coordinator, and its result is verified (src/trust) before it is published.
 *
 * Loop: register → heartbeat → claim (long-poll) → download → transcode (WebCodecs + mediabunny) →
 * upload → complete, reporting progress (which renews the lease) every {@link PROGRESS_MS}. Closing the
 * tab releases the lease with a request signed in advance (pagehide → keepalive fetch); a tab that just
 * dies leaves a lease that expires and is rescued like any encoder's.
 */

const API = '/api/v1';
const PROGRESS_MS = 3_000;
const HEARTBEAT_MS = 20_000;
const CLAIM_WAIT_MS = 25_000;
/** A release is signed ahead of time (pagehide cannot wait for WebCrypto); renewed well inside its TTL. */
const RELEASE_TTL_S = 120;
const RELEASE_RENEW_MS = 30_000;
const LIMITS = ENCODER_KIND_LIMITS.browser ?? { maxDurationS: 120, maxHeight: 480 };

export interface ActiveJob {
  id: string;
  stage: 'downloading' | 'encoding' | 'uploading' | 'completing';
  /** Percent of the current stage. */
  progress: number;
  /** × real time of the encode, once known. */
  speed?: number;
}

export interface FinishedJob {
  id: string;
  ok: boolean;
  /** Seconds of video encoded, wall seconds, × real time. */
  durationS?: number;
  wallS?: number;
  speed?: number;
  audio?: TranscodeResult['audio'];
  codecs?: string;
  error?: string;
}

export interface EncoderState {
  phase: 'starting' | 'idle' | 'working' | 'stopped' | 'unsupported' | 'error';
  did?: string;
  encoderId?: string;
  job?: ActiveJob;
  finished: FinishedJob[];
  message?: string;
}

/** A problem answer of the coordinator (RFC 9457), with its status. */
export class CoordinatorError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Whether this browser can encode the browser kind's output: 480p H.264 by WebCodecs
 * (`VideoEncoder.isConfigSupported`, WebCodecs §6.5), software or hardware.
 */
export async function canEncode480p(): Promise<boolean> {
  if (typeof VideoEncoder === 'undefined') return false;
  const support = await VideoEncoder.isConfigSupported({
    codec: 'avc1.64001e',
    width: 854,
    height: LIMITS.maxHeight,
    bitrate: 1_500_000,
    framerate: 30,
    avc: { format: 'avc' },
  }).catch(() => ({ supported: false }));
  return support.supported === true;
}

/** Signed JSON call to the agent API; `null` for 204. Credentials are never sent: the DID alone acts. */
async function call<T>(
  identity: BrowserIdentity,
  path: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<T | null> {
  const text = JSON.stringify(body);
  const target = `${API}${path}`;
  const { authorization } = await signRequest(identity, { method: 'POST', path: target, body: text });
  const res = await fetch(target, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: text,
    credentials: 'omit',
    ...(signal ? { signal } : {}),
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const p = data as { code?: string; detail?: string; title?: string };
    throw new CoordinatorError(
      res.status,
      p.code ?? 'http_error',
      p.detail ?? p.title ?? `HTTP ${res.status}`,
    );
  }
  return data as T;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const CONTENT_TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  mp4: 'video/mp4',
  m4s: 'video/iso.segment',
};

/**
 * Starts the loop; `onState` gets every change. `tags`: extra encoder tags ("Encode here" jobs are
 * pinned to the tab's did:key, not to a tag). `stop()` ends it: the running job is released (no attempt
 * counted).
 */
export function startBrowserEncoder(options: {
  identity: BrowserIdentity;
  tags?: string[];
  name?: string;
  version?: string;
  onState: (state: EncoderState) => void;
}): { stop(): Promise<void> } {
  const { identity } = options;
  const stopping = new AbortController();
  let state: EncoderState = { phase: 'starting', did: identity.did, finished: [] };
  const set = (patch: Partial<EncoderState>) => {
    state = { ...state, ...patch };
    options.onState(state);
  };
  let current: { jobId: string; leaseToken: string; abort: AbortController } | undefined;
  let preparedRelease: { body: string; authorization: string } | undefined;
  let encoderId = '';

  const prepareRelease = async () => {
    const c = current;
    if (!c) return;
    const body = JSON.stringify({
      encoderId,
      jobId: c.jobId,
      leaseToken: c.leaseToken,
      reason: 'browser tab closed',
    });
    const { authorization } = await signRequest(identity, {
      method: 'POST',
      path: `${API}/agent/release`,
      body,
      ttlS: RELEASE_TTL_S,
    });
    if (current === c) preparedRelease = { body, authorization };
  };
  // pagehide (not unload, not beforeunload): fired on close, navigation and bfcache entry alike
  // (HTML §7.4.4). A keepalive fetch outlives the page and, unlike sendBeacon, carries the signature.
  const onPageHide = () => {
    if (!current || !preparedRelease) return;
    void fetch(`${API}/agent/release`, {
      method: 'POST',
      keepalive: true,
      credentials: 'omit',
      headers: { 'content-type': 'application/json', authorization: preparedRelease.authorization },
      body: preparedRelease.body,
    }).catch(() => undefined);
  };
  addEventListener('pagehide', onPageHide);

  const runJob = async (handout: ClaimHandout): Promise<void> => {
    const jobId = handout.job.id;
    const lease = { jobId, leaseToken: handout.leaseToken };
    const abort = new AbortController();
    current = { ...lease, abort };
    await prepareRelease();
    const releaseTimer = setInterval(() => void prepareRelease(), RELEASE_RENEW_MS);
    let active: ActiveJob = { id: jobId, stage: 'downloading', progress: 0 };
    const show = (patch: Partial<ActiveJob>) => {
      active = { ...active, ...patch };
      set({ phase: 'working', job: active });
    };
    show({});
    const logs: string[] = [];
    const log = (line: string) => logs.push(`[browser] ${line}`);
    // Progress renews the lease; 409 (lease lost) or `cancelled` stop the work at once.
    let lastReport = 0;
    const report = async () => {
      if (active.stage === 'completing') return;
      lastReport = performance.now();
      try {
        const answer = await call<{ cancelled: boolean }>(identity, '/agent/progress', {
          encoderId,
          ...lease,
          stage: active.stage,
          progress: Math.min(100, Math.max(0, active.progress)),
          ...(active.speed ? { speed: active.speed } : {}),
          logs: logs.splice(0),
        });
        if (answer?.cancelled) abort.abort(new Error('the job was cancelled'));
      } catch (err) {
        if (err instanceof CoordinatorError && err.status === 409) abort.abort(err);
      }
    };
    const progressTimer = setInterval(() => void report(), PROGRESS_MS);
    const started = performance.now();
    try {
      const plan = handout.plan;
      if (!plan) throw new CoordinatorError(422, 'no_plan', 'the claim carries no plan for a browser');
      const grant = await signUploadGrant(identity, lease);
      const transferHeaders = { authorization: grant, 'x-lease-token': handout.leaseToken };
      if (handout.transfer.source !== 'coordinator') {
        throw new CoordinatorError(
          422,
          'source_not_relayed',
          'a browser reads sources through the coordinator only',
        );
      }
      log('downloading the source through the lease-bound relay');
      const res = await fetch(`${API}/agent/jobs/${encodeURIComponent(jobId)}/source`, {
        headers: transferHeaders,
        credentials: 'omit',
        signal: abort.signal,
      });
      if (!res.ok) throw new CoordinatorError(res.status, 'source_failed', `source: HTTP ${res.status}`);
      const source = await res.blob();
      show({ stage: 'encoding', progress: 0 });
      await report();
      log(
        `encoding ${plan.renditions.map((r) => `${r.name} ${r.width}x${r.height}`).join(', ')} with WebCodecs`,
      );
      // The encode loop runs in a dedicated Worker (transcode-worker.ts); this page keeps the lease.
      const encoded = await transcodeInWorker(source, plan, {
        signal: abort.signal,
        onProgress: (fraction, sourceS) => {
          const wall = (performance.now() - started) / 1000;
          show({ progress: fraction * 100, ...(sourceS > 0 && wall > 0 ? { speed: sourceS / wall } : {}) });
          // Also driven by the encode itself: a hidden tab's timers may be throttled to one a minute
          // (Chromium's intensive wake-up throttling), which could let a 60 s lease lapse.
          if (performance.now() - lastReport > PROGRESS_MS) void report();
        },
      });
      log(
        `encoded ${encoded.rendition.durationS.toFixed(1)} s in ${encoded.wallS.toFixed(1)} s ` +
          `(${encoded.speed.toFixed(2)}× real time), audio ${encoded.audio}, CODECS ${encoded.rendition.codecs}`,
      );
      show({ stage: 'uploading', progress: 0, speed: encoded.speed });
      await report();
      const declared: NonNullable<CompletionResult['files']> = [];
      let sent = 0;
      for (const f of encoded.files) {
        if (abort.signal.aborted) throw abort.signal.reason;
        const ext = f.path.slice(f.path.lastIndexOf('.') + 1);
        const put = await fetch(`${API}/agent/outputs/${encodeURIComponent(jobId)}/${f.path}`, {
          method: 'PUT',
          headers: { ...transferHeaders, 'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream' },
          body: f.bytes as Uint8Array<ArrayBuffer>,
          credentials: 'omit',
          signal: abort.signal,
        });
        if (!put.ok) throw new CoordinatorError(put.status, 'upload_failed', `${f.path}: HTTP ${put.status}`);
        declared.push({ path: f.path, sha256: await sha256Hex(f.bytes), bytes: f.bytes.length });
        show({ progress: (++sent / encoded.files.length) * 100 });
      }
      await report();
      show({ stage: 'completing', progress: 100 });
      const r = encoded.rendition;
      const result: CompletionResult = {
        renditions: [
          {
            name: r.name,
            kind: 'video',
            width: r.width,
            height: r.height,
            bandwidth: r.bandwidth,
            averageBandwidth: r.averageBandwidth,
            codecs: r.codecs,
            frameRate: r.frameRate,
            durationS: r.durationS,
            bytes: r.bytes,
            segments: r.segments,
            playlist: r.playlist,
          },
        ],
        masterUrl: encoded.master,
        publish: { type: 'staged', bytes: declared.reduce((n, f) => n + f.bytes, 0) },
        files: declared,
        encode: {
          backend: 'webcodecs',
          fallbacks: [],
          wallS: encoded.wallS,
          speed: encoded.speed,
          renditions: [r.name],
        },
      };
      // The coordinator verifies the staged result before it answers (docs/verification.md).
      clearInterval(progressTimer);
      await call(identity, '/agent/complete', { encoderId, ...lease, result, logs: logs.splice(0) });
      set({
        finished: [
          ...state.finished,
          {
            id: jobId,
            ok: true,
            durationS: r.durationS,
            wallS: encoded.wallS,
            speed: encoded.speed,
            audio: encoded.audio,
            codecs: r.codecs,
          },
        ],
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const lost = abort.signal.aborted || (err instanceof CoordinatorError && err.status === 409);
      if (stopping.signal.aborted) {
        await call(identity, '/agent/release', {
          encoderId,
          ...lease,
          reason: 'browser encoder stopped',
        }).catch(() => undefined);
      } else if (!lost) {
        // Bad input fails for good; a fault of this tab (memory, network) may succeed elsewhere.
        const retryable = !(err instanceof Error && 'code' in err && err.code === 'unsupported_source');
        await call(identity, '/agent/fail', {
          encoderId,
          ...lease,
          error: {
            code: retryable ? 'browser_encode_failed' : 'unsupported_source',
            message: message.slice(0, 4000),
          },
          retryable,
          logs: [...logs.splice(0), `[browser] ${message}`],
        }).catch(() => undefined);
      }
      set({ finished: [...state.finished, { id: jobId, ok: false, error: message }] });
    } finally {
      clearInterval(progressTimer);
      clearInterval(releaseTimer);
      current = undefined;
      preparedRelease = undefined;
      set({ phase: 'idle', job: undefined });
    }
  };

  const loop = async () => {
    if (!(await canEncode480p())) {
      set({ phase: 'unsupported', message: 'this browser cannot encode 480p H.264 with WebCodecs' });
      return;
    }
    const registration: Registration = {
      name: options.name ?? `browser ${identity.did.slice(-8)}`,
      kind: 'browser',
      version: options.version ?? 'web',
      did: identity.did,
      capabilities: {
        codecs: ['h264'],
        hwaccel: [],
        maxHeight: LIMITS.maxHeight,
        maxDurationS: LIMITS.maxDurationS,
        concurrency: 1,
        tags: options.tags ?? [],
      },
    };
    const registered = await call<{ encoder: { id: string } }>(identity, '/encoders/register', registration);
    encoderId = registered?.encoder.id ?? '';
    set({ phase: 'idle', encoderId });
    const beat = () =>
      call(identity, '/encoders/heartbeat', { encoderId, activeJobs: current ? [current.jobId] : [] }).catch(
        () => undefined,
      );
    await beat();
    const heartbeat = setInterval(() => void beat(), HEARTBEAT_MS);
    try {
      while (!stopping.signal.aborted) {
        let handout: ClaimHandout | null = null;
        try {
          handout = await call<ClaimHandout>(
            identity,
            '/agent/claim',
            { encoderId, waitMs: CLAIM_WAIT_MS },
            stopping.signal,
          );
        } catch (err) {
          if (stopping.signal.aborted) break;
          set({ message: err instanceof Error ? err.message : String(err) });
          await new Promise((r) => setTimeout(r, 3_000));
          continue;
        }
        if (handout) await runJob(handout);
      }
    } finally {
      clearInterval(heartbeat);
    }
  };

  const running = loop().catch((err) =>
    set({ phase: 'error', message: err instanceof Error ? err.message : String(err) }),
  );
  return {
    async stop() {
      stopping.abort();
      current?.abort.abort(new Error('stopped'));
      await running;
      removeEventListener('pagehide', onPageHide);
      set({ phase: 'stopped' });
    },
  };
}

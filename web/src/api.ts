/**
 * The dashboard's view of the coordinator REST API (docs/api.md). Credentials: the httpOnly session
 * cookie set by `POST /api/v1/session`; every request carries the CSRF header the session requires for
 * mutations. Errors are RFC 9457 problem details, thrown as {@link ApiError}.
 */

export const CSRF_HEADER = 'x-vidmesh-csrf';

// The job vocabulary is the coordinator's own (pure data, bundled from src/jobs/vocabulary.ts).
import {
  FINAL_STATUSES,
  JOB_STATUSES,
  type JobStage,
  type JobStatus,
  type RenditionStatus,
  TRANSITIONS,
} from '../../src/jobs/vocabulary.js';

export { JOB_STATUSES, type JobStatus, type RenditionStatus };
export const FINAL: readonly JobStatus[] = FINAL_STATUSES;
/** Statuses a job can be retried from (all renditions not yet completed). */
export const RETRYABLE: readonly JobStatus[] = TRANSITIONS.retry.from;

export interface RenditionResult {
  name: string;
  width?: number;
  height?: number;
  bandwidth?: number;
  averageBandwidth?: number;
  codecs?: string;
  frameRate?: number;
  durationS?: number;
  bytes?: number;
  url?: string;
}

/** `jobViewSchema` of src/coordinator/schemas.ts (progress percent, durations seconds, bitrates bit/s). */
export interface Job {
  id: string;
  status: JobStatus;
  stage: JobStage | null;
  progress: number;
  etaS: number | null;
  queue: string;
  priority: string;
  attempts: number;
  maxAttempts: number;
  encoderId: string | null;
  /** Chunk tasks (docs/chunking.md): the split job this task is part of, and its place (-1: audio). */
  parentId?: string;
  chunkIndex?: number;
  metadata: Record<string, string>;
  source: { type: string };
  destination: { type: string };
  /** `skipped`: above the source's size, never produced (never upscaled). */
  renditions: Array<{ name: string; status: RenditionStatus; progress: number }>;
  /** Jobs with `outputs` (docs/outputs.md): one row per output, in spec order. */
  outputs?: Array<{
    name: string;
    kind: string;
    status: RenditionStatus;
    progress: number;
    destinationType: string;
    url?: string;
    bytes?: number;
    durationS?: number;
    width?: number;
    height?: number;
    error?: { code: string; message: string };
  }>;
  result: {
    masterUrl: string;
    posterUrl?: string;
    renditions: RenditionResult[];
    ipfsCid?: string;
    encode?: { backend?: string; wallS?: number; speed?: number };
  } | null;
  error: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface JobEvent {
  id: number;
  from: string | null;
  to: string;
  actor: string;
  reason: string | null;
  at: string;
  /** Routing (docs/encoders.md): the plan on `routed` events, the step taken on `claimed` ones. */
  routing?: {
    steps?: Array<{ step: string; skipped?: string; encoderId?: string; from?: string; until?: string }>;
    route?: string;
    /** A step that ended early: its agent fell silent, or the owner's encoder failed the job. */
    rerouted?: {
      step: string;
      encoderId: string;
      why: 'silent' | 'failed' | 'expired';
      openFrom: string | null;
    };
  };
}

/** One line for a routing plan: `agent until 10:00:30 → browser (offline) → open`. */
export function routingText(r: NonNullable<JobEvent['routing']>): string {
  if (r.route) return `routed step: ${r.route}`;
  if (r.rerouted) {
    const { step, why, openFrom } = r.rerouted;
    const open = openFrom ? ` (open from ${new Date(openFrom).toLocaleTimeString()})` : '';
    const because = why === 'silent' ? 'agent silent' : why === 'expired' ? 'window over' : 'failed there';
    return `${step} step ended: ${because}${open}`;
  }
  return (r.steps ?? [])
    .map((s) =>
      s.skipped
        ? `${s.step} (${s.skipped})`
        : s.until
          ? `${s.step} until ${new Date(s.until).toLocaleTimeString()}`
          : s.step,
    )
    .join(' → ');
}

export interface LogLine {
  seq: number;
  stream: string;
  line: string;
  at: string;
}

export interface Encoder {
  id: string;
  name: string;
  kind: string;
  did: string | null;
  version: string | null;
  status: string;
  approval: string;
  /** Verified results, for encoders whose results are verified (docs/verification.md). */
  reputation?: {
    score: number;
    verifiedPasses: number;
    verifiedFailures: number;
    consecutiveFailures: number;
    lastFailure: string | null;
  };
  capabilities: {
    codecs: string[];
    hwaccel: string[];
    maxHeight: number;
    concurrency: number;
    /** Free disk space the encoder last reported, bytes. */
    freeDiskBytes?: number;
    tags: string[];
  };
  lastSeenAt: string;
  jobsCompleted: number;
  jobsFailed: number;
  encodeSeconds: number;
  activeJobs?: number;
  /** Host name from the last heartbeat (self-reported); null until one arrives. */
  host: string | null;
  /** Load from the last heartbeat, fractions 0..1; `gpu` only where the encoder reads one. */
  load: { cpu: number; memory: number; gpu?: number; at: string } | null;
}

/** History windows of `GET /dashboard/overview?window=`. */
export const HISTORY_WINDOWS = ['1h', '24h', '7d'] as const;
export type HistoryWindow = (typeof HISTORY_WINDOWS)[number];

/** One history bucket: counts, mean × realtime, mean queue wait and ffmpeg wall time (seconds). */
export interface ThroughputBucket {
  at: string;
  completed: number;
  failed: number;
  speed: number | null;
  waitS: number | null;
  encodeS: number | null;
}

export interface Overview {
  byStatus: Record<string, number>;
  queues: Array<{ queue: string; priority: string; count: number; oldestAgeS: number }>;
  running: number;
  encoders: { online: Record<string, number>; offline: Record<string, number> };
  throughput: ThroughputBucket[];
  window: HistoryWindow;
  /** Bucket width, seconds. */
  bucketS: number;
  recentProblems: Array<{
    id: string;
    status: string;
    kind: 'failure' | 'rescue';
    code: string;
    message: string;
    at: string;
  }>;
  generatedAt: string;
}

/** Source facts the encoder logged when it probed the source (duration seconds, size pixels). */
export interface SourceFacts {
  container: string;
  durationS: number;
  video?: { codec: string; width: number; height: number; fps: number };
}

/** `GET /dashboard/encoders`: encoders with live jobs (speed × realtime, fps frames/s) and a summary. */
export interface Fleet {
  encoders: Array<
    Encoder & {
      tags: string[];
      jobs: Array<{
        id: string;
        status: JobStatus;
        stage: string | null;
        progress: number;
        speed: number | null;
        fps: number | null;
        source: SourceFacts | null;
      }>;
      lastError: { jobId: string; code: string; message: string; at: string } | null;
    }
  >;
  summary: {
    online: Record<string, number>;
    offline: Record<string, number>;
    running: number;
    slots: number;
    speed: number | null;
  };
  generatedAt: string;
}

/** `GET /dashboard/jobs/:id`: source facts, timing (seconds) and download links of one job. */
export interface JobFacts {
  source: SourceFacts | null;
  timing: { waitS: number | null; encodeS: number | null; totalS: number | null };
  downloads: Array<{ name: string; playlistUrl?: string; mp4Url?: string }>;
}

/** A webhook delivery (`GET /api/v1/webhooks/deliveries`, from the webhooks routes). */
export interface WebhookDelivery {
  id: number;
  jobId: string | null;
  url: string;
  event: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** `url` without credentials, query or fragment (webhook URLs often carry tokens there). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search || u.hash ? ' [query redacted]' : ''}`;
  } catch {
    return '[invalid URL]';
  }
}

export interface Principal {
  id: string;
  scopes: string[];
  tenant: string | null;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

async function problemOf(res: Response): Promise<ApiError> {
  try {
    const p = (await res.json()) as { detail?: string; title?: string; code?: string };
    return new ApiError(p.detail ?? p.title ?? `HTTP ${res.status}`, res.status, p.code ?? 'request_failed');
  } catch {
    return new ApiError(`HTTP ${res.status}`, res.status, 'request_failed');
  }
}

/** `fetch` of `/api/v1<path>` with the session cookie and CSRF header; JSON in and out. */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const headers: Record<string, string> = { ...init.headers, [CSRF_HEADER]: '1', accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (!res.ok) throw await problemOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** True when `p` may use `scope` (admin implies all), mirroring the server's `hasScope`. */
export function can(p: Principal | null, scope: 'read' | 'submit' | 'admin'): boolean {
  return !!p && (p.scopes.includes('admin') || p.scopes.includes(scope));
}

/**
 * Uploads `file` as a raw streamed body (`POST /api/v1/uploads`, application/octet-stream) with XHR so
 * upload progress is observable; `onProgress` gets bytes sent and total. Resolves the upload source.
 */
export function uploadFile(
  file: File,
  onProgress: (sent: number, total: number) => void,
  signal?: AbortSignal,
): Promise<{ type: 'upload'; id: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/uploads?filename=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader(CSRF_HEADER, '1');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status === 201) {
        resolve((JSON.parse(xhr.responseText) as { source: { type: 'upload'; id: string } }).source);
        return;
      }
      let detail = `upload failed: HTTP ${xhr.status}`;
      try {
        detail = (JSON.parse(xhr.responseText) as { detail?: string }).detail ?? detail;
      } catch {}
      reject(new ApiError(detail, xhr.status, 'upload_failed'));
    };
    xhr.onerror = () => reject(new ApiError('upload failed: network error', 0, 'network_error'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(file);
  });
}

export const fmtAge = (iso: string, now = Date.now()): string => {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
};

export const fmtSeconds = (s: number): string =>
  s < 60 ? `${Math.round(s)} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;

export const fmtBits = (b?: number): string =>
  b === undefined ? '—' : b >= 1e6 ? `${(b / 1e6).toFixed(2)} Mbit/s` : `${Math.round(b / 1e3)} kbit/s`;

export const fmtBytes = (b?: number): string =>
  b === undefined ? '—' : b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${Math.round(b / 1024)} KiB`;

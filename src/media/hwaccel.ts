import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { HwaccelUnavailableError } from './errors.js';
import { runProcess, summarizeStderr } from './process.js';
import { BACKENDS, type Backend } from './types.js';

/** `auto`: try NVENC → VAAPI → QSV → libx264; `none`: libx264 only; a backend: that one (or fail). */
export const HWACCEL_MODES = ['auto', 'none', 'nvenc', 'vaapi', 'qsv'] as const;
export type HwaccelMode = (typeof HWACCEL_MODES)[number];

export interface HwaccelCandidate {
  backend: Backend;
  ok: boolean;
  /** Why it cannot be used (ffmpeg's stderr summary, or why it was not tried). */
  reason?: string;
  /** Time the test encode took, ms (0 when not tried). */
  ms: number;
}

/** Result of {@link detectHwaccel}: which backend to use and why the others were not chosen. */
export interface HwaccelReport {
  mode: HwaccelMode;
  chosen: Backend;
  /** Usable backends in fallback order (always ends with libx264): pass to `encodeLadder`. */
  order: Backend[];
  candidates: HwaccelCandidate[];
  /** First line of `ffmpeg -version`. */
  ffmpegVersion: string;
  /** Hash of ffmpeg version + host + GPU device nodes: the cache key. */
  deviceKey: string;
  cached: boolean;
  /** ISO 8601 time of the detection. */
  detectedAt: string;
}

export interface DetectHwaccelOptions {
  mode?: HwaccelMode;
  /** Folder for `hwaccel.json` (e.g. `<dataDir>`); no caching when unset. */
  cacheDir?: string;
  /** Ignore the cache and test again. */
  refresh?: boolean;
  vaapiDevice?: string;
  signal?: AbortSignal;
}

const candidateSchema = z.object({
  backend: z.enum(BACKENDS),
  ok: z.boolean(),
  reason: z.string().optional(),
  ms: z.number(),
});
const cacheSchema = z.object({
  deviceKey: z.string(),
  ffmpegVersion: z.string(),
  detectedAt: z.string(),
  candidates: z.array(candidateSchema),
});

/**
 * Finds which H.264 backends really work here by encoding one small frame through each backend's
 * full pipeline (upload, device scaler, encoder), in the SPK blueprint's order NVENC → VAAPI → QSV →
 * libx264. Listing encoders proves nothing: Debian's ffmpeg lists h264_nvenc on machines without a GPU.
 *
 * Results are cached in `<cacheDir>/hwaccel.json`, keyed by ffmpeg version and device nodes, so a
 * new driver, GPU or ffmpeg triggers a new test.
 *
 * @throws HwaccelUnavailableError when `mode` names a backend that fails its test
 */
export async function detectHwaccel(options: DetectHwaccelOptions = {}): Promise<HwaccelReport> {
  const mode = options.mode ?? 'auto';
  const vaapiDevice = options.vaapiDevice ?? '/dev/dri/renderD128';
  const version = await ffmpegVersion(options.signal);
  const deviceKey = createHash('sha256')
    .update([version, hostname(), vaapiDevice, ...deviceNodes()].join('\n'))
    .digest('hex')
    .slice(0, 16);
  const cacheFile = options.cacheDir ? join(options.cacheDir, 'hwaccel.json') : undefined;

  let tested: HwaccelCandidate[] | undefined;
  let detectedAt = new Date().toISOString();
  let cached = false;
  if (cacheFile && !options.refresh) {
    const hit = await readCache(cacheFile, deviceKey);
    if (hit) {
      tested = hit.candidates;
      detectedAt = hit.detectedAt;
      cached = true;
    }
  }
  if (!tested) {
    tested = [];
    for (const backend of BACKENDS) tested.push(await testBackend(backend, vaapiDevice, options.signal));
    if (cacheFile)
      await writeCache(cacheFile, { deviceKey, ffmpegVersion: version, detectedAt, candidates: tested });
  }
  return reportFor(mode, tested, { ffmpegVersion: version, deviceKey, cached, detectedAt });
}

/** Applies a mode to tested candidates (pure). Exported for tests. */
export function reportFor(
  mode: HwaccelMode,
  tested: HwaccelCandidate[],
  meta: Pick<HwaccelReport, 'ffmpegVersion' | 'deviceKey' | 'cached' | 'detectedAt'>,
): HwaccelReport {
  const allowed = (b: Backend): boolean =>
    b === 'libx264' || mode === 'auto' || (mode !== 'none' && mode === b);
  const candidates = tested.map((c) =>
    allowed(c.backend) ? c : { ...c, ok: false, reason: `not tried: --hwaccel ${mode}`, ms: 0 },
  );
  if (mode !== 'auto' && mode !== 'none') {
    const c = candidates.find((x) => x.backend === mode);
    if (!c?.ok) {
      throw new HwaccelUnavailableError(
        `--hwaccel ${mode} cannot encode here: ${c?.reason ?? 'not tested'}`,
        {
          details: { backend: mode, reason: c?.reason },
        },
      );
    }
  }
  const order = candidates.filter((c) => c.ok).map((c) => c.backend);
  if (!order.includes('libx264')) order.push('libx264');
  return { mode, chosen: order[0]!, order, candidates, ...meta };
}

/**
 * The one-frame test pipeline of each backend: upload, the device scaler, the encoder (`encoder`:
 * another of the backend's encoders, e.g. `hevc_nvenc`, for per-codec detection; default H.264's).
 */
export function testArgs(backend: Backend, vaapiDevice: string, encoder?: string): string[] {
  const src = ['-f', 'lavfi', '-i', 'color=c=gray:s=256x144:r=25:d=0.2'];
  const out = ['-frames:v', '1', '-f', 'null', '-'];
  switch (backend) {
    case 'nvenc':
      return [
        ...['-init_hw_device', 'cuda=cu:0', '-filter_hw_device', 'cu', ...src],
        ...['-vf', 'format=nv12,hwupload,scale_cuda=128:72', '-c:v', encoder ?? 'h264_nvenc', ...out],
      ];
    case 'vaapi':
      return [
        ...['-vaapi_device', vaapiDevice, ...src],
        ...['-vf', 'format=nv12,hwupload,scale_vaapi=w=128:h=72', '-c:v', encoder ?? 'h264_vaapi', ...out],
      ];
    case 'qsv':
      return [
        ...['-init_hw_device', 'qsv=qs:hw_any', '-filter_hw_device', 'qs', ...src],
        ...[
          '-vf',
          'format=nv12,hwupload=extra_hw_frames=64,scale_qsv=w=128:h=72',
          '-c:v',
          encoder ?? 'h264_qsv',
          ...out,
        ],
      ];
    case 'libx264':
      return [...src, '-vf', 'scale=128:72', '-c:v', encoder ?? 'libx264', ...softwareFast(encoder), ...out];
  }
}

/** The fastest setting of each software encoder, for a one-frame test. */
function softwareFast(encoder: string | undefined): string[] {
  switch (encoder) {
    case undefined:
    case 'libx264':
      return ['-preset', 'ultrafast'];
    case 'libx265':
      return ['-preset', 'ultrafast', '-x265-params', 'log-level=error'];
    case 'libsvtav1':
      return ['-preset', '12'];
    case 'libvpx-vp9':
      return ['-deadline', 'realtime', '-cpu-used', '8'];
    default:
      return [];
  }
}

/**
 * Runs one test encode ({@link testArgs}) of `backend` with `encoder` (default its H.264 encoder);
 * never throws for a failing encode: the candidate says why.
 */
export async function testBackend(
  backend: Backend,
  vaapiDevice: string,
  signal?: AbortSignal,
  encoder?: string,
): Promise<HwaccelCandidate> {
  const started = performance.now();
  const outcome = await runProcess(
    'ffmpeg',
    ['-hide_banner', '-nostdin', '-v', 'verbose', ...testArgs(backend, vaapiDevice, encoder)],
    {
      signal,
      stallTimeoutMs: 20_000,
    },
  ).catch((err: unknown) => {
    if (signal?.aborted) throw err;
    return {
      code: -1,
      signal: null,
      stdout: Buffer.alloc(0),
      stderr: err instanceof Error ? err.message : String(err),
    };
  });
  const ms = Math.round(performance.now() - started);
  if (outcome.code === 0) return { backend, ok: true, ms };
  return {
    backend,
    ok: false,
    reason: failureReason(outcome.stderr) || `ffmpeg exited with ${outcome.code}`,
    ms,
  };
}

/**
 * The root cause of a failed test encode: at verbose level the device layer says why first
 * ("Cannot load libcuda.so.1", "No VA display found") before ffmpeg's generic "Device creation failed".
 */
export function failureReason(stderr: string): string {
  const seen = new Set<string>();
  const causes: string[] = [];
  for (const raw of stderr.split('\n')) {
    const line = raw.replace(/^\[[^\]]+ @ 0x[0-9a-f]+\]\s*/i, '').trim();
    if (!/cannot|could not|failed|no va|not found|unsupported|error|invalid|no device|denied/i.test(line))
      continue;
    if (seen.has(line)) continue;
    seen.add(line);
    causes.push(line);
  }
  return (causes.length > 0 ? causes.slice(0, 3).join('; ') : summarizeStderr(stderr, 3)).slice(0, 500);
}

async function ffmpegVersion(signal?: AbortSignal): Promise<string> {
  const out = await runProcess('ffmpeg', ['-hide_banner', '-version'], { signal, captureStdout: true });
  return out.stdout.toString('utf8').split('\n')[0]?.trim() ?? 'unknown';
}

function deviceNodes(): string[] {
  const list = (dir: string, re: RegExp): string[] => {
    try {
      return readdirSync(dir)
        .filter((n) => re.test(n))
        .map((n) => join(dir, n))
        .sort();
    } catch {
      return [];
    }
  };
  return [...list('/dev/dri', /^renderD\d+$/), ...list('/dev', /^nvidia\d+$/)];
}

async function readCache(file: string, deviceKey: string): Promise<z.infer<typeof cacheSchema> | undefined> {
  try {
    const parsed = cacheSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return parsed.success && parsed.data.deviceKey === deviceKey ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a detection cache file atomically (temp file + rename). */
export async function writeCache(file: string, value: unknown): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 2));
  await rename(tmp, file);
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ENCODERS, VIDEO_CODECS, type VideoCodec } from './codecs.js';
import { HARDWARE_ENCODERS } from './ffmpeg-args.js';
import { type HwaccelCandidate, type HwaccelReport, testBackend, writeCache } from './hwaccel.js';
import { BACKENDS, type Backend } from './types.js';

/** One (codec, backend) test encode. */
export interface CodecCandidate extends HwaccelCandidate {
  codec: VideoCodec;
  /** ffmpeg encoder tried, e.g. `libsvtav1`, `hevc_nvenc`. */
  encoder: string;
}

/** Result of {@link detectCodecSupport}: the output codecs this node can really encode, and with what. */
export interface CodecSupport {
  /** Codecs with at least one working encoder (advertised in the node's capabilities). */
  codecs: VideoCodec[];
  /** Per codec, the backends whose test encode passed, in the hwaccel fallback order. */
  backends: Partial<Record<VideoCodec, Backend[]>>;
  candidates: CodecCandidate[];
  /** The hwaccel report's device key (ffmpeg version, host, GPU nodes): the cache key. */
  deviceKey: string;
  cached: boolean;
  detectedAt: string;
}

const cacheSchema = z.object({
  deviceKey: z.string(),
  detectedAt: z.string(),
  candidates: z.array(
    z.object({
      codec: z.enum(VIDEO_CODECS),
      encoder: z.string(),
      backend: z.enum(BACKENDS),
      ok: z.boolean(),
      reason: z.string().optional(),
      ms: z.number(),
    }),
  ),
});

/**
 * Which output codecs this machine can really encode: one small test encode per codec through the
 * software encoder (libx264, libx265, libsvtav1, libvpx-vp9) and through each hardware backend that
 * passed {@link detectHwaccel} (its full upload/scale/encode pipeline with that codec's encoder:
 * `hevc_nvenc`, `av1_qsv`, …). A compiled-in encoder proves nothing (Debian lists NVENC without a
 * GPU; an NVENC GPU before Ada has no AV1). Cached in `<cacheDir>/codecs.json` under the hwaccel
 * report's device key, so a new ffmpeg, driver or GPU tests again.
 */
export async function detectCodecSupport(options: {
  hwaccel: HwaccelReport;
  cacheDir?: string;
  refresh?: boolean;
  vaapiDevice?: string;
  signal?: AbortSignal;
}): Promise<CodecSupport> {
  const { hwaccel } = options;
  const cacheFile = options.cacheDir ? join(options.cacheDir, 'codecs.json') : undefined;
  if (cacheFile && !options.refresh) {
    const hit = await readFile(cacheFile, 'utf8')
      .then((t) => cacheSchema.safeParse(JSON.parse(t)))
      .catch(() => undefined);
    if (hit?.success && hit.data.deviceKey === hwaccel.deviceKey)
      return supportFrom(hit.data.candidates, hwaccel, { cached: true, detectedAt: hit.data.detectedAt });
  }
  const vaapiDevice = options.vaapiDevice ?? '/dev/dri/renderD128';
  const candidates: CodecCandidate[] = [];
  for (const codec of VIDEO_CODECS) {
    for (const backend of hwaccel.order) {
      const encoder = backend === 'libx264' ? ENCODERS[codec].software : HARDWARE_ENCODERS[backend][codec];
      if (!encoder) continue;
      const c = await testBackend(backend, vaapiDevice, options.signal, encoder);
      candidates.push({ ...c, codec, encoder });
    }
  }
  const detectedAt = new Date().toISOString();
  if (cacheFile) await writeCache(cacheFile, { deviceKey: hwaccel.deviceKey, detectedAt, candidates });
  return supportFrom(candidates, hwaccel, { cached: false, detectedAt });
}

/** Folds test encodes into a {@link CodecSupport} (pure; exported for tests). */
export function supportFrom(
  candidates: CodecCandidate[],
  hwaccel: Pick<HwaccelReport, 'deviceKey' | 'order'>,
  meta: { cached: boolean; detectedAt: string },
): CodecSupport {
  const backends: CodecSupport['backends'] = {};
  for (const codec of VIDEO_CODECS) {
    const ok = hwaccel.order.filter((b) =>
      candidates.some((c) => c.codec === codec && c.backend === b && c.ok),
    );
    if (ok.length > 0) backends[codec] = ok;
  }
  return {
    codecs: VIDEO_CODECS.filter((c) => backends[c] !== undefined),
    backends,
    candidates,
    deviceKey: hwaccel.deviceKey,
    ...meta,
  };
}

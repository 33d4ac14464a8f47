import { statfs } from 'node:fs/promises';
import {
  type CodecSupport,
  detectCodecSupport,
  detectHwaccel,
  type HwaccelMode,
  type HwaccelReport,
} from '../media/index.js';
import type { EncoderCapabilities } from './transport.js';

/** `--hwaccel`: `auto` tests NVENC → VAAPI → QSV → libx264; `none` is libx264 only. */
export type HwaccelChoice = HwaccelMode;

/**
 * Capabilities an encoder node registers with: the hardware backends that passed media's real test
 * encode (`detectHwaccel`, cached in `<dataDir>/hwaccel.json`), the output codecs (h264, hevc, av1,
 * vp9) that passed a real test encode (`detectCodecSupport`, cached in `<dataDir>/codecs.json`; a
 * job's `required_codecs` are matched against them at claim) and AAC, the configured
 * maximum height, concurrency and tags, and the free bytes of the disk holding `dataDir`
 * (`fs.statfs`: available blocks × block size). Also returns the hwaccel report, which the encode
 * uses as its backend order, and the codec support (which backends passed per codec).
 *
 * @throws HwaccelUnavailableError (media) when an explicit backend (`nvenc`…) cannot encode here.
 */
export async function detectCapabilities(opts: {
  dataDir: string;
  hwaccel: HwaccelChoice;
  concurrency: number;
  tags: string[];
  maxHeight: number;
}): Promise<{ capabilities: EncoderCapabilities; hwaccel: HwaccelReport; codecs: CodecSupport }> {
  const report = await detectHwaccel({ mode: opts.hwaccel, cacheDir: opts.dataDir });
  const codecs = await detectCodecSupport({ hwaccel: report, cacheDir: opts.dataDir });
  // Software is always there; the job store matches `hwaccel` against a job's required accelerator.
  const hardware = report.order.filter((b) => b !== 'libx264');
  let freeDiskBytes: number | undefined;
  try {
    const fsStats = await statfs(opts.dataDir);
    freeDiskBytes = Number(fsStats.bavail) * Number(fsStats.bsize);
  } catch {
    freeDiskBytes = undefined;
  }
  return {
    capabilities: {
      codecs: [...codecs.codecs, 'aac'],
      hwaccel: hardware,
      maxHeight: opts.maxHeight,
      concurrency: opts.concurrency,
      ...(freeDiskBytes === undefined ? {} : { freeDiskBytes }),
      tags: opts.tags,
    },
    hwaccel: report,
    codecs,
  };
}

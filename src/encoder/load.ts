import { execFile } from 'node:child_process';
import { availableParallelism, freemem, hostname, loadavg, totalmem } from 'node:os';
import type { EncoderLoad } from '../jobs/index.js';

/** What an encoder says about its machine with each heartbeat (shown to operators, never trusted). */
export interface HostReport {
  host: string;
  load: EncoderLoad;
}

const clamp01 = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);

/**
 * Utilisation of the busiest NVIDIA GPU, 0..1, from `nvidia-smi --query-gpu=utilization.gpu`
 * (NVIDIA's documented CSV query interface); undefined without one. After the tool is found missing
 * or failing it is not run again by this process.
 */
export function createGpuSampler(command = 'nvidia-smi'): () => Promise<number | undefined> {
  let available = true;
  return () =>
    new Promise((resolve) => {
      if (!available) return resolve(undefined);
      execFile(
        command,
        ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits'],
        { timeout: 5000 },
        (err, stdout) => {
          const values = err ? [] : parseGpuUtilisation(stdout);
          if (values.length === 0) {
            available = false;
            return resolve(undefined);
          }
          resolve(clamp01(Math.max(...values) / 100));
        },
      );
    });
}

/** `nvidia-smi` CSV lines (`37` or `37 %` per GPU) → percentages; unreadable lines are skipped. */
export function parseGpuUtilisation(csv: string): number[] {
  return csv
    .split('\n')
    .map((l) => Number.parseFloat(l.trim()))
    .filter((n) => Number.isFinite(n) && n >= 0);
}

/**
 * Samples this machine: host name, CPU as the 1-minute load average over the cores this process may
 * use (0..1, capped), memory in use (0..1), and GPU utilisation when `gpu` can read one.
 */
export async function sampleHostReport(gpu?: () => Promise<number | undefined>): Promise<HostReport> {
  const g = gpu ? await gpu() : undefined;
  const total = totalmem();
  return {
    // Containers may give names that are not host names; keep what the wire schema accepts.
    host:
      hostname()
        .replace(/[^A-Za-z0-9.-]/g, '-')
        .slice(0, 253) || 'unknown',
    load: {
      cpu: clamp01((loadavg()[0] ?? 0) / availableParallelism()),
      memory: clamp01(total > 0 ? 1 - freemem() / total : 0),
      ...(g === undefined ? {} : { gpu: g }),
      at: new Date().toISOString(),
    },
  };
}

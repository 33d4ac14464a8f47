/** One progress report of an encode. */
export interface EncodeProgress {
  /** 0–100, share of the output duration written. */
  percent: number;
  /** Seconds of output written so far. */
  outTimeS: number;
  /** Frames encoded per second (per rendition: the split frames count once). */
  fps: number;
  /** Encoding speed as a multiple of realtime (2 = twice as fast as playback). */
  speed: number;
  /** Estimated seconds left; undefined until the speed is known. */
  etaS: number | undefined;
  frame: number;
  done: boolean;
}

/**
 * Parses ffmpeg's `-progress` output (`key=value` lines, each block ending with
 * `progress=continue|end`; see https://ffmpeg.org/ffmpeg.html#Advanced-options) into
 * {@link EncodeProgress} events for an output of `durationS` seconds. Feed it lines; it returns an
 * event when a block is complete, else undefined. Pure apart from its own state.
 */
export function createProgressParser(durationS: number): (line: string) => EncodeProgress | undefined {
  let block: Record<string, string> = {};
  return (line) => {
    const eq = line.indexOf('=');
    if (eq <= 0) return undefined;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    block[key] = value;
    if (key !== 'progress') return undefined;
    const b = block;
    block = {};
    // out_time_us is the documented field; out_time_ms is microseconds too (an old ffmpeg naming bug).
    const us = Number(b.out_time_us ?? b.out_time_ms);
    const outTimeS = Number.isFinite(us) && us > 0 ? us / 1e6 : 0;
    const speed = Number.parseFloat(b.speed ?? '');
    const done = value === 'end';
    const percent = done ? 100 : durationS > 0 ? Math.min(100, (outTimeS / durationS) * 100) : 0;
    const knownSpeed = Number.isFinite(speed) && speed > 0;
    return {
      percent: Math.round(percent * 10) / 10,
      outTimeS,
      fps: Number.parseFloat(b.fps ?? '') || 0,
      speed: knownSpeed ? speed : 0,
      etaS: done ? 0 : knownSpeed ? Math.max(0, (durationS - outTimeS) / speed) : undefined,
      frame: Number.parseInt(b.frame ?? '', 10) || 0,
      done,
    };
  };
}

/**
 * Wraps a progress callback so it fires at most once per `intervalMs`, always passing the final
 * (`done`) event. `now` is injectable for tests.
 */
export function throttleProgress(
  onProgress: (p: EncodeProgress) => void,
  intervalMs: number,
  now: () => number = Date.now,
): (p: EncodeProgress) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (p) => {
    const t = now();
    if (p.done || t - last >= intervalMs) {
      last = t;
      onProgress(p);
    }
  };
}

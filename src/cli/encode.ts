import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ValidationError } from '../errors.js';
import { createLogger } from '../log.js';
import {
  detectHwaccel,
  type EncodeProgress,
  type EncodeResult,
  encodeLadder,
  HWACCEL_MODES,
  type HwaccelMode,
  type LadderOptionsInput,
  planLadder,
  probe,
  type RenditionSpec,
} from '../media/index.js';
import { progressBar, renditionTable } from './table.js';

/**
 * Parses `--ladder`: a preset name (`default`) or custom renditions `name:height:bitrate[,…]`,
 * bitrate in bits/s with an optional k/M suffix, e.g. `720p:720:2500k,360p:360:800k`.
 * @throws ValidationError on a malformed entry (ranges are checked by the ladder schema)
 */
export function parseLadderFlag(value: string): LadderOptionsInput['ladder'] {
  if (/^[a-z]+$/i.test(value)) return value as 'default';
  return value.split(',').map((entry): RenditionSpec => {
    const m = /^([a-z0-9][a-z0-9_-]*):(\d+):(\d+(?:\.\d+)?)([kKmM]?)$/.exec(entry.trim());
    if (!m)
      throw new ValidationError(`--ladder entry "${entry}" is not name:height:bitrate (e.g. 720p:720:2500k)`);
    const mult = m[4]?.toLowerCase() === 'm' ? 1e6 : m[4]?.toLowerCase() === 'k' ? 1e3 : 1;
    return {
      name: m[1]!,
      height: Number(m[2]),
      videoBitrate: Math.round(Number(m[3]) * mult),
      codec: 'h264',
    };
  });
}

interface EncodeFlags {
  output: string;
  ladder?: string;
  segment: number;
  format?: 'ts' | 'fmp4';
  codecs?: string;
  dash?: boolean;
  storyboard?: string;
  hwaccel: HwaccelMode;
  short?: boolean;
  json?: boolean;
  speed?: string;
  only?: string;
  layout: 'vidmesh' | '3speak';
  mp4?: boolean;
  poster: boolean;
  dataDir: string;
  stallTimeout: number;
}

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
};

/**
 * `--codecs`, `--dash` and `--storyboard interval[:width]` as ladder options (values are validated by
 * the ladder schema; a malformed storyboard flag is refused here).
 * @throws ValidationError for a `--storyboard` that is not `seconds[:pixels]`
 */
export function ladderCodecFlags(flags: {
  codecs?: string;
  dash?: boolean;
  storyboard?: string;
}): Pick<LadderOptionsInput, 'codecs' | 'dash' | 'storyboard'> {
  const out: Pick<LadderOptionsInput, 'codecs' | 'dash' | 'storyboard'> = {};
  if (flags.codecs)
    out.codecs = flags.codecs.split(',').map((c) => c.trim()) as NonNullable<LadderOptionsInput['codecs']>;
  if (flags.dash) out.dash = true;
  if (flags.storyboard) {
    const m = /^(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(flags.storyboard.trim());
    if (!m)
      throw new ValidationError(`--storyboard ${flags.storyboard}: expected seconds[:width], e.g. 5:160`);
    out.storyboard = { interval: Number(m[1]), ...(m[2] ? { width: Number(m[2]) } : {}) };
  }
  return out;
}

/** Registers `vidmesh encode <input> -o <dir>`: a one-shot local HLS ladder encode (no coordinator). */
export function register(program: Command): void {
  program
    .command('encode')
    .description('encode a video file into an adaptive HLS ladder in a folder')
    .argument('<input>', 'video or audio file')
    .requiredOption('-o, --output <dir>', 'output folder (created if missing)')
    .option(
      '--ladder <spec>',
      'preset name (default) or name:height:bitrate,… e.g. 720p:720:2500k,480p:480:1M',
    )
    .option('--segment <seconds>', 'segment duration and GOP length, seconds', positive, 4)
    .addOption(
      new Option('--format <format>', 'segment format (default ts; fmp4 for HEVC/AV1/VP9 or --dash)').choices(
        ['ts', 'fmp4'],
      ),
    )
    .option('--codecs <list>', 'encode the ladder in each codec, e.g. av1,h264 (h264 hevc av1 vp9)')
    .option('--dash', 'also write a DASH MPD over the same CMAF segments')
    .option(
      '--storyboard <interval[:width]>',
      'sprite sheets + WebVTT thumbnails every interval s, e.g. 5:160',
    )
    .addOption(new Option('--hwaccel <mode>', 'encoder backend').choices([...HWACCEL_MODES]).default('auto'))
    .option('--short', 'shorts mode: first 60 s, 480p only')
    .option('--speed <preset>', 'x264 speed preset name (ultrafast … veryslow)')
    .option('--only <names>', 'encode only these renditions (comma separated); master lists all on disk')
    .addOption(
      new Option('--layout <layout>', 'output layout').choices(['vidmesh', '3speak']).default('vidmesh'),
    )
    .option('--mp4', 'also write a progressive MP4 per rendition')
    .option('--no-poster', 'skip poster and thumbnail')
    .option('--data-dir <dir>', 'where the hardware detection cache lives', '.vidmesh')
    .option('--stall-timeout <seconds>', 'fail when ffmpeg makes no progress this long', positive, 120)
    .option('--json', 'print the result as JSON on stdout')
    .action(async (input: string, flags: EncodeFlags) => {
      await runEncode(input, flags);
    });
}

async function runEncode(input: string, flags: EncodeFlags): Promise<void> {
  const log = createLogger({ name: 'encode', level: process.env.LOG_LEVEL ?? 'warn' });
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  try {
    const source = await probe(resolve(input), { signal: controller.signal });
    const plan = planLadder(source, {
      ladder: flags.ladder ? parseLadderFlag(flags.ladder) : undefined,
      segmentDuration: flags.segment,
      format: flags.format,
      ...ladderCodecFlags(flags),
      short: flags.short ?? false,
      speed: flags.speed as LadderOptionsInput['speed'],
      only: flags.only ? flags.only.split(',').map((s) => s.trim()) : undefined,
      layout: flags.layout,
      mp4: flags.mp4 ?? false,
      poster: flags.poster,
      thumbnail: flags.poster,
    });
    const hw = await detectHwaccel({
      mode: flags.hwaccel,
      cacheDir: resolve(flags.dataDir),
      signal: controller.signal,
    });
    const tty = !flags.json && process.stderr.isTTY;
    const result = await encodeLadder(plan, resolve(flags.output), {
      signal: controller.signal,
      hwaccel: hw,
      stallTimeoutMs: flags.stallTimeout * 1000,
      log,
      progressIntervalMs: 250,
      onProgress: tty ? (p) => process.stderr.write(progressLine(p)) : undefined,
    });
    if (tty) process.stderr.write('\n');
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({ source: summarizeSource(source), hwaccel: hw, result }, null, 2)}\n`,
      );
    } else {
      process.stdout.write(summaryTable(result));
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigint);
  }
}

function summarizeSource(p: Awaited<ReturnType<typeof probe>>): Record<string, unknown> {
  const v = p.video;
  return {
    path: p.path,
    kind: p.kind,
    durationS: p.durationS,
    video: v && {
      codec: v.codec,
      width: v.displayWidth,
      height: v.displayHeight,
      fps: v.fps,
      rotation: v.rotation,
    },
    audio: p.audio.map((a) => ({ codec: a.codec, channels: a.channels, sampleRate: a.sampleRate })),
  };
}

/** One carriage-returned progress bar line for a TTY. */
export function progressLine(p: EncodeProgress & { backend: string }): string {
  return `${progressBar({ percent: p.percent, fps: p.fps, speed: p.speed, etaS: p.etaS })} ${p.backend} `;
}

/** The end-of-run table: rendition, resolution, size, bitrates, duration. */
export function summaryTable(r: EncodeResult): string {
  const lines = renditionTable(r.renditions);
  const fallback = r.fallbacks.length
    ? ` (fell back from ${r.fallbacks.map((f) => f.backend).join(', ')})`
    : '';
  lines.push(
    '',
    `master: ${resolve(r.outDir, r.master)}`,
    ...(r.dash ? [`dash: ${resolve(r.outDir, r.dash)}`] : []),
    ...(r.storyboard ? [`storyboard: ${resolve(r.outDir, r.storyboard.vtt)}`] : []),
    `backend: ${r.backend}${fallback}; encoded ${r.durationS.toFixed(1)} s in ${r.encodeWallS.toFixed(1)} s (${r.speed.toFixed(2)}x realtime)`,
  );
  return `${lines.join('\n')}\n`;
}

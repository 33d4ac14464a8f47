import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { LOCAL_ONLY, localUrl } from './input.js';
import type { LadderPlan } from './ladder.js';

/**
 * Storyboard: sprite sheets of thumbnails every `interval` seconds plus a WebVTT thumbnail track
 * whose cues point into them with media fragments (`storyboard_000.jpg#xywh=x,y,w,h`, W3C Media
 * Fragments URI 1.0 §4.2.1), the scrubbing-preview format JW Player, Video.js
 * (videojs-vtt-thumbnails) and Mux read.
 */

/** Job option `storyboard`: seconds between thumbnails and thumbnail width in pixels. */
export const storyboardOptionsSchema = z.strictObject({
  /** Seconds between two thumbnails (one cue each). */
  interval: z.number().min(1).max(60).default(5),
  /** Thumbnail width, px (height from the video's display aspect, even). */
  width: z.number().int().min(64).max(640).default(160),
});
export type StoryboardOptionsInput = z.input<typeof storyboardOptionsSchema>;

/** Tiles per sprite sheet row and column (a sheet holds at most 10 × 10 thumbnails). */
export const STORYBOARD_GRID = 10;
export const STORYBOARD_VTT = 'storyboard.vtt';

/** The storyboard of a plan (pure data). */
export interface StoryboardPlan {
  intervalS: number;
  /** Thumbnail size, px. */
  width: number;
  height: number;
  /** Thumbnails in all (one per interval started before the end). */
  count: number;
  /** Grid of one sheet: columns × rows (the last sheet may be partly empty). */
  columns: number;
  rows: number;
  /** Sprite sheet file names, in order. */
  sheets: string[];
}

/**
 * Plans the storyboard (pure): `ceil(duration / interval)` thumbnails (a last remainder shorter than
 * a tenth of the interval joins the previous cue) at `width` × the display
 * aspect (even), in sheets of at most 10 × 10 (fewer columns and rows when there are fewer).
 */
export function planStoryboard(
  options: z.output<typeof storyboardOptionsSchema>,
  durationS: number,
  display: { width: number; height: number },
): StoryboardPlan {
  // A remainder under a tenth of an interval (a clip of 3.02 s at 1 s) joins the last cue.
  const count = Math.max(1, Math.ceil(durationS / options.interval - 0.1));
  const width = Math.max(2, Math.round(options.width / 2) * 2);
  const height = Math.max(2, Math.round((width * display.height) / display.width / 2) * 2);
  const columns = Math.min(STORYBOARD_GRID, count);
  const rows = Math.min(STORYBOARD_GRID, Math.ceil(count / columns));
  const perSheet = columns * rows;
  const sheets = Array.from({ length: Math.ceil(count / perSheet) }, (_, i) => sheetName(i));
  return { intervalS: options.interval, width, height, count, columns, rows, sheets };
}

const sheetName = (i: number): string => `storyboard_${String(i).padStart(3, '0')}.jpg`;

/** `HH:MM:SS.mmm` (WebVTT timestamp, W3C WebVTT §4.2). */
export function vttTime(s: number): string {
  const ms = Math.round(s * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(sec)}.${pad(ms % 1000, 3)}`;
}

/**
 * The WebVTT thumbnail track (pure): cue i spans [i × interval, (i + 1) × interval), the last one to
 * the duration,
 * and names its tile as `<sheet>#xywh=x,y,w,h` (pixels, Media Fragments §4.2.1), tiles filled row by
 * row. Sheet names are relative to the VTT file (same folder).
 */
export function storyboardVtt(sb: StoryboardPlan, durationS: number): string {
  const perSheet = sb.columns * sb.rows;
  const cues: string[] = [];
  for (let i = 0; i < sb.count; i++) {
    const start = i * sb.intervalS;
    const end = i === sb.count - 1 ? durationS : Math.min((i + 1) * sb.intervalS, durationS);
    const k = i % perSheet;
    const x = (k % sb.columns) * sb.width;
    const y = Math.floor(k / sb.columns) * sb.height;
    cues.push(
      `${vttTime(start)} --> ${vttTime(Math.max(end, start + 0.001))}\n${sb.sheets[Math.floor(i / perSheet)]}#xywh=${x},${y},${sb.width},${sb.height}`,
    );
  }
  return `WEBVTT\n\n${cues.join('\n\n')}\n`;
}

/**
 * ffmpeg argv writing the sprite sheets (pure): decode, the ladder's frame-rate/tone-map filters,
 * one frame per interval (`fps=1/interval`: the frame nearest each cue's start), scaled, tiled
 * columns × rows (the `tile` filter emits a sheet per full grid and the partial last one at the end),
 * JPEG per sheet as `storyboard_%03d.jpg` in `outDir`.
 */
export function buildStoryboardArgs(
  plan: LadderPlan,
  sb: StoryboardPlan,
  outDir: string,
  pre: string[],
): string[] {
  const v = plan.video;
  if (!v) throw new TypeError('buildStoryboardArgs: audio-only plan has no storyboard');
  const graph = [
    ...pre,
    `fps=1/${sb.intervalS}`,
    `scale=${sb.width}:${sb.height}:flags=bicubic,setsar=1`,
    `tile=${sb.columns}x${sb.rows}`,
    'format=yuvj420p',
  ].join(',');
  return [
    ...['-hide_banner', '-nostdin', '-y', '-loglevel', 'error'],
    ...(plan.trimS !== undefined ? ['-t', String(plan.trimS)] : []),
    ...[...LOCAL_ONLY, '-i', localUrl(plan.input)],
    ...['-filter_complex', `[0:${v.streamIndex}]${graph}[sb]`, '-map', '[sb]'],
    ...['-q:v', '4', '-start_number', '0', join(outDir, 'storyboard_%03d.jpg')],
  ];
}

/**
 * Checks a storyboard WebVTT written by someone else (an untrusted encoder's staged output) (pure):
 * every cue payload must be one of `sheets` (a file beside it) with a pixel `#xywh=` fragment, so a
 * published track never points players elsewhere.
 * @returns the problem, or undefined when the track is well-formed
 */
export function checkStoryboardVtt(text: string, sheets: ReadonlySet<string>): string | undefined {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (!lines[0]?.startsWith('WEBVTT')) return 'not a WebVTT file';
  let cues = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.includes('-->')) continue;
    if (!/^\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}$/.test(line))
      return `bad cue timing: ${line.slice(0, 80)}`;
    const payload = lines[i + 1] ?? '';
    const m = /^(storyboard_\d{3}\.jpg)#xywh=\d+,\d+,\d+,\d+$/.exec(payload);
    if (!m || !sheets.has(m[1]!)) return `cue payload is not a staged sprite tile: ${payload.slice(0, 80)}`;
    if (lines[i + 2]) return 'a cue has more than one payload line';
    cues++;
  }
  return cues > 0 ? undefined : 'no cues';
}

/** Writes the VTT of a storyboard whose sheets are in `outDir`, atomically. */
export async function writeStoryboardVtt(
  outDir: string,
  sb: StoryboardPlan,
  durationS: number,
): Promise<string> {
  const path = join(outDir, STORYBOARD_VTT);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, storyboardVtt(sb, durationS));
  await rename(tmp, path);
  return STORYBOARD_VTT;
}

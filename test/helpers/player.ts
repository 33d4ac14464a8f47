import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Browser } from 'playwright-core';
import { contentTypeFor } from '../../src/storage/index.js';

/** Player libraries served to the page from node_modules (devDependencies). */
const LIBS: Record<string, string> = {
  '/lib/hls.min.js': 'node_modules/hls.js/dist/hls.min.js',
};

/**
 * A local HTTP server for player tests: `/files/…` serves `root` (content types as the coordinator's
 * media route), `/lib/…` the player libraries, `/` an empty page with a muted `<video id="v">`.
 * Close it with `close()`.
 */
export async function servePlayerFiles(
  root: string,
  packageRoot: string,
  extraLibs: Record<string, string> = {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const libs = { ...LIBS, ...extraLibs };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    void (async () => {
      try {
        if (path === '/') {
          const scripts = Object.keys(libs)
            .map((l) => `<script src="${l}"></script>`)
            .join('');
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end(
            `<!doctype html><html><body><video id="v" muted playsinline></video>${scripts}</body></html>`,
          );
          return;
        }
        if (libs[path]) {
          res.writeHead(200, { 'content-type': 'text/javascript' });
          res.end(await readFile(join(packageRoot, libs[path])));
          return;
        }
        if (path.startsWith('/files/')) {
          const rel = normalize(path.slice('/files/'.length));
          if (rel.startsWith('..') || rel.includes(`${sep}..`)) throw new Error('traversal');
          const body = await readFile(join(root, rel));
          res.writeHead(200, { 'content-type': contentTypeFor(extname(rel) ? rel : `${rel}.bin`) });
          res.end(body);
          return;
        }
        res.writeHead(404).end();
      } catch {
        res.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

// One Chromium launcher for every browser test.
export { launchChromium } from './browser.js';

/** What a playback attempt in the page reached. */
export interface PlayOutcome {
  error?: string;
  currentTime: number;
  errors: string[];
  /** Levels (hls.js) or representations (dash.js) the player listed, with their codecs. */
  levels: string[];
  /** The level/representation playing at the end, and its video size. */
  playing: string;
  videoWidth: number;
  videoHeight: number;
}

/**
 * Runs in the page (plain JS: this project compiles without DOM types). Plays `src` with hls.js,
 * pinned to the level whose CODECS contains `codec` (all levels when empty), until currentTime
 * passes `untilS`; reports fatal errors, the levels hls.js kept (it drops variants the browser's
 * MediaSource cannot decode), the pinned level and the decoded picture size.
 */
export const HLS_PLAYER_SCRIPT = `
async function playHls(src, codec, untilS) {
  if (!Hls.isSupported()) return { error: 'MSE not supported' };
  const video = document.getElementById('v');
  const hls = new Hls({ capLevelToPlayerSize: false });
  const errors = [];
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) errors.push(String(d.details)); });
  hls.loadSource(src);
  hls.attachMedia(video);
  await new Promise((resolve) => hls.on(Hls.Events.MANIFEST_PARSED, () => resolve()));
  const levels = hls.levels.map((l) => l.attrs.CODECS);
  const pick = levels.findIndex((c) => codec === '' || c.includes(codec));
  if (pick < 0) { hls.destroy(); return { error: 'no playable level with ' + codec, levels, currentTime: 0, errors, playing: '', videoWidth: 0, videoHeight: 0 }; }
  hls.currentLevel = pick;
  await video.play();
  const started = Date.now();
  const wait = () => new Promise((r) => setTimeout(r, 100));
  while (video.currentTime < untilS && Date.now() - started < 30000 && errors.length === 0) await wait();
  const result = { currentTime: video.currentTime, errors, levels, playing: levels[hls.currentLevel] ?? '', videoWidth: video.videoWidth, videoHeight: video.videoHeight };
  hls.destroy();
  return result;
}`;

/**
 * Runs in the page (`playThrough(src)`): plays `src` with hls.js from the start to the end at 2×
 * speed (at most 60 s) and reports stalls (`waiting` after playback started, hls.js
 * BUFFER_STALLED_ERROR) with where they happened and how much media was buffered ahead then, fatal
 * errors, and the buffered ranges (a gap at a seam leaves two).
 *
 * A stall with media buffered ahead is the player falling behind (a busy machine's decoder), not a
 * hole in the stream; {@link starvedStalls} keeps the ones where the buffer had run dry.
 */
export const HLS_PLAY_THROUGH_SCRIPT = `
async function playThrough(src) {
  if (!Hls.isSupported()) return { error: 'MSE not supported' };
  const video = document.getElementById('v');
  const hls = new Hls({ startLevel: 0, maxBufferLength: 30 });
  const errors = [];
  const stallsAt = [];
  let playing = false;
  const aheadS = () => {
    const t = video.currentTime;
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= t + 0.05 && t < video.buffered.end(i)) return video.buffered.end(i) - t;
    }
    return 0;
  };
  const stall = (source) => stallsAt.push({ source, atS: video.currentTime, aheadS: aheadS() });
  hls.on(Hls.Events.ERROR, (_e, d) => {
    if (d.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) stall('hls');
    else if (d.fatal) errors.push(String(d.details));
  });
  video.addEventListener('playing', () => { playing = true; });
  video.addEventListener('waiting', () => { if (playing && !video.ended) stall('waiting'); });
  hls.loadSource(src);
  hls.attachMedia(video);
  await new Promise((resolve) => hls.on(Hls.Events.MANIFEST_PARSED, () => resolve()));
  video.playbackRate = 2;
  await video.play();
  const started = Date.now();
  while (!video.ended && Date.now() - started < 60000 && errors.length === 0) await new Promise((r) => setTimeout(r, 100));
  const ranges = [];
  for (let i = 0; i < video.buffered.length; i++) ranges.push([video.buffered.start(i), video.buffered.end(i)]);
  const result = { ended: video.ended, currentTime: video.currentTime, duration: video.duration, stalls: stallsAt.length, stallsAt, errors, ranges };
  hls.destroy();
  return result;
}`;

/** What {@link HLS_PLAY_THROUGH_SCRIPT} reports. */
export interface PlayThroughOutcome {
  error?: string;
  ended: boolean;
  currentTime: number;
  duration: number;
  /** `waiting` events after playback started plus hls.js BUFFER_STALLED_ERRORs. */
  stalls: number;
  /** Each stall: its source, the playhead then and the media buffered ahead of it, in seconds. */
  stallsAt: { source: 'hls' | 'waiting'; atS: number; aheadS: number }[];
  /** Fatal hls.js errors. */
  errors: string[];
  /** The video element's buffered ranges at the end, [start, end] in seconds. */
  ranges: number[][];
}

/**
 * The stalls of a play-through where the buffer had run dry (less than `minAheadS` seconds, default
 * 0.25, buffered ahead of the playhead): a hole or a late segment in the stream, not a slow decoder.
 */
export function starvedStalls(outcome: PlayThroughOutcome, minAheadS = 0.25): PlayThroughOutcome['stallsAt'] {
  return outcome.stallsAt.filter((s) => s.aheadS < minAheadS);
}

/** `MediaSource.isTypeSupported` of each MIME type in the page (what this Chromium can decode via MSE). */
export async function mseSupport(browser: Browser, types: string[]): Promise<Record<string, boolean>> {
  const page = await browser.newPage();
  try {
    return (await page.evaluate(
      `Object.fromEntries(${JSON.stringify(types)}.map((t) => [t, MediaSource.isTypeSupported(t)]))`,
    )) as Record<string, boolean>;
  } finally {
    await page.close();
  }
}

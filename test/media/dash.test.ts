import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  type EncodeResult,
  encodeLadder,
  planLadder,
  probe,
  rewriteMpdFromMaster,
} from '../../src/media/index.js';
import { packageRoot } from '../../src/paths.js';
import { makeClip } from '../helpers/media.js';
import { HLS_PLAYER_SCRIPT, launchChromium, type PlayOutcome, servePlayerFiles } from '../helpers/player.js';
import { masterVariants } from './verify.js';

interface MpdSegment {
  uri: string;
  resolvedUri: string;
  duration: number;
  map?: { uri: string; resolvedUri: string };
}
interface MpdPlaylist {
  attributes: {
    NAME: string;
    CODECS: string;
    BANDWIDTH: number;
    RESOLUTION?: { width: number; height: number };
  };
  segments: MpdSegment[];
}
interface MpdManifest {
  playlists: MpdPlaylist[];
  mediaGroups: { AUDIO: Record<string, Record<string, { playlists: MpdPlaylist[] }>> };
  duration?: number;
}
// mpd-parser (Video.js's DASH parser) ships no types: its parse() as used here.
const { parse: parseMpd } = createRequire(import.meta.url)('mpd-parser') as {
  parse(text: string, o: { manifestUri: string }): MpdManifest;
};

/** Runs in the page: plays `src` with dash.js to `untilS`, switching once to the other video track. */
const DASH_PLAYER_SCRIPT = `
async function playDash(src, untilS) {
  const video = document.getElementById('v');
  const player = dashjs.MediaPlayer().create();
  const errors = [];
  player.on(dashjs.MediaPlayer.events.ERROR, (e) => errors.push(JSON.stringify(e.error && (e.error.message || e.error.code))));
  player.initialize(video, src, true);
  const started = Date.now();
  const wait = () => new Promise((r) => setTimeout(r, 100));
  while (video.currentTime < untilS / 2 && Date.now() - started < 30000 && errors.length === 0) await wait();
  const tracks = player.getTracksFor('video').map((t) => t.codec);
  const first = (player.getCurrentTrackFor('video') || {}).codec || '';
  const other = player.getTracksFor('video').find((t) => t.codec !== first);
  if (other) player.setCurrentTrack(other);
  while (video.currentTime < untilS && Date.now() - started < 40000 && errors.length === 0) await wait();
  await wait();
  const second = (player.getCurrentTrackFor('video') || {}).codec || '';
  const audio = player.getTracksFor('audio').map((t) => t.codec);
  const result = { currentTime: video.currentTime, errors, tracks, first, second, audio, videoHeight: video.videoHeight };
  player.destroy();
  return result;
}`;

/**
 * Issue #17: DASH + HLS from one set of CMAF segments. One encode of a 3 s real clip (AV1 with an
 * H.264 fallback, two sizes, shared AAC audio) writes fMP4 segments that both the HLS master and the
 * DASH MPD reference; the MPD is parsed with mpd-parser (Video.js) and played with dash.js, the
 * master with hls.js, both in Chromium.
 */
let dir: string;
let result: EncodeResult;
const out = () => join(dir, 'out');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-dash-'));
  const input = await makeClip(join(dir, 'bbb3.mp4'), { seconds: 3 });
  const plan = planLadder(await probe(input), {
    ladder: [
      { name: '360p', height: 360, videoBitrate: 600_000 },
      { name: '240p', height: 240, videoBitrate: 300_000 },
    ],
    codecs: ['av1', 'h264'],
    dash: true,
    segmentDuration: 1,
    speed: 'ultrafast',
    poster: false,
    thumbnail: false,
  });
  assert.equal(plan.format, 'fmp4', 'dash implies CMAF segments');
  result = await encodeLadder(plan, out());
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DASH MPD and HLS master over one set of CMAF segments', () => {
  test('mpd-parser reads every representation; its segments are exactly the HLS playlists’ files', () => {
    assert.equal(result.dash, 'manifest.mpd');
    const base = 'http://media.test/job/manifest.mpd';
    const mpd = parseMpd(readFileSync(join(out(), 'manifest.mpd'), 'utf8'), { manifestUri: base });
    const names = mpd.playlists.map((p) => p.attributes.NAME).sort();
    assert.deepEqual(names, ['240p', '240p-av1', '360p', '360p-av1']);
    const audio = Object.values(mpd.mediaGroups.AUDIO).flatMap((g) =>
      Object.values(g).flatMap((x) => x.playlists),
    );
    assert.equal(audio.length, 1);
    for (const p of [...mpd.playlists, ...audio]) {
      const name = p.attributes.NAME;
      const rendition = result.renditions.find((r) => r.name === name)!;
      assert.ok(rendition, `${name} is an encoded rendition`);
      // The HLS media playlist of the same rendition lists the same init segment and segment files.
      const hls = readFileSync(join(out(), rendition.playlist), 'utf8');
      const hlsSegments = hls.split('\n').filter((l) => l.endsWith('.m4s'));
      assert.deepEqual(
        p.segments.map((s) => s.resolvedUri),
        hlsSegments.map((s) => `http://media.test/job/${name}/${s}`),
      );
      assert.equal(p.segments[0]!.map!.resolvedUri, `http://media.test/job/${name}/init.mp4`);
      for (const s of p.segments)
        assert.ok(existsSync(join(out(), s.resolvedUri.slice(base.length - 'manifest.mpd'.length))));
      const extinf = [...hls.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(
        p.segments.map((s) => Math.round(s.duration * 1000)),
        extinf.map((d) => Math.round(d * 1000)),
      );
      assert.equal(p.attributes.CODECS, rendition.codecs, 'CODECS of the video track only, audio apart');
    }
    assert.match(
      mpd.playlists.find((p) => p.attributes.NAME === '360p-av1')!.attributes.CODECS,
      /^av01\.0\.\d\dM\.08$/,
    );
    assert.equal(audio[0]!.attributes.CODECS, 'mp4a.40.2');
  });

  test('rewriteMpdFromMaster rebuilds the same MPD from the files alone, replacing a tampered one', async () => {
    const mpdPath = join(out(), 'manifest.mpd');
    const original = readFileSync(mpdPath, 'utf8');
    await writeFile(mpdPath, original.replace('<Period', '<BaseURL>https://evil.example/</BaseURL><Period'));
    await rewriteMpdFromMaster(out(), result.master);
    assert.equal(readFileSync(mpdPath, 'utf8'), original);
  });

  test('the HLS master names the shared audio group; video renditions carry no audio', () => {
    const text = readFileSync(join(out(), result.master), 'utf8');
    assert.match(text, /#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",.*URI="audio\/index\.m3u8"/);
    const variants = masterVariants(join(out(), result.master));
    assert.equal(variants.length, 4);
    const audio = result.renditions.find((r) => r.kind === 'audio')!;
    for (const v of variants) {
      assert.equal(v.AUDIO, 'audio');
      assert.match(v.CODECS!, /^(av01|avc1)\.[^,]+,mp4a\.40\.2$/);
      const video = result.renditions.find((r) => r.playlist === v.URI)!;
      assert.equal(Number(v.BANDWIDTH), video.bandwidth + audio.bandwidth, 'video + audio peak');
    }
  });
});

describe('playback in Chromium', () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof servePlayerFiles>>;
  before(async () => {
    browser = await launchChromium();
    server = await servePlayerFiles(out(), packageRoot(), {
      '/lib/dash.all.min.js': 'node_modules/dashjs/dist/modern/umd/dash.all.min.js',
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('dash.js plays the MPD with audio and switches between the AV1 and H.264 video tracks', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.addScriptTag({ content: DASH_PLAYER_SCRIPT });
      const outcome = (await page.evaluate(
        `playDash(${JSON.stringify(`${server.url}/files/manifest.mpd`)}, 2.5)`,
      )) as {
        currentTime: number;
        errors: string[];
        tracks: string[];
        first: string;
        second: string;
        audio: string[];
        videoHeight: number;
      };
      assert.deepEqual(outcome.errors, [], JSON.stringify(outcome));
      assert.ok(outcome.currentTime >= 2.5, JSON.stringify(outcome));
      assert.equal(outcome.tracks.length, 2, JSON.stringify(outcome.tracks));
      assert.deepEqual(
        [outcome.first, outcome.second].map((c) => c.replace(/^video\/mp4;codecs="(\w+)\..*$/, '$1')).sort(),
        ['av01', 'avc1'],
        JSON.stringify(outcome),
      );
      assert.equal(outcome.audio.length, 1);
      assert.ok(outcome.videoHeight === 360 || outcome.videoHeight === 240);
    } finally {
      await page.close();
    }
  });

  test('hls.js plays the master (video variants + the shared audio group)', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.addScriptTag({ content: HLS_PLAYER_SCRIPT });
      const outcome = (await page.evaluate(
        `playHls(${JSON.stringify(`${server.url}/files/${result.master}`)}, 'av01', 2.5)`,
      )) as PlayOutcome;
      assert.equal(outcome.error, undefined, JSON.stringify(outcome));
      assert.deepEqual(outcome.errors, []);
      assert.equal(outcome.levels.length, 4);
      assert.ok(outcome.playing.startsWith('av01'), outcome.playing);
      assert.ok(outcome.currentTime >= 2.5, `currentTime ${outcome.currentTime}`);
    } finally {
      await page.close();
    }
  });
});

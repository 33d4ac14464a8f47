import { readFile, rename, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import HLS from 'hls-parser';
import { EncodeError } from './errors.js';
import { describeRendition, type RenditionResult } from './hls.js';

/**
 * DASH (ISO/IEC 23009-1) over the CMAF segments the HLS muxer wrote: one static MPD whose
 * Representations point at the very files the HLS media playlists list (init segment + fMP4
 * segments), so one encode serves both protocols.
 */

/** One rendition as the MPD describes it: its result plus the segments of its media playlist. */
export interface DashRendition {
  result: RenditionResult;
  /** Init segment, relative to the output folder. */
  init: string;
  /** Segments in order, relative to the output folder, with their durations in seconds (EXTINF). */
  segments: Array<{ uri: string; durationS: number }>;
}

/** File name of the DASH MPD beside the HLS master. */
export const DASH_MANIFEST = 'manifest.mpd';

/** Timescale of the SegmentTimeline, ticks per second: EXTINF values carry microseconds. */
const TIMESCALE = 1_000_000;

/**
 * The `SegmentTemplate@media` that names every segment of a rendition (pure): the segment folder
 * plus its file name with the number replaced by `$Number$` (`$Number%05d$` when zero-padded), and
 * the first number. Undefined when the names do not follow one numbered pattern.
 */
export function segmentTemplate(uris: string[]): { media: string; startNumber: number } | undefined {
  const first = uris[0];
  const m = first ? /^(.*?)(\d+)(\.m4s)$/.exec(first) : null;
  if (!m) return undefined;
  const [, prefix, digits, ext] = m as unknown as [string, string, string, string];
  const padded = digits.length > 1 && digits.startsWith('0');
  const width = digits.length;
  const start = Number(digits);
  const name = (n: number) => `${prefix}${padded ? String(n).padStart(width, '0') : String(n)}${ext}`;
  if (!uris.every((u, i) => u === name(start + i))) return undefined;
  // `$` is the template's escape character (ISO/IEC 23009-1 §5.3.9.4.4): `$$` in a literal part.
  const literal = prefix.replaceAll('$', '$$$$');
  return { media: `${literal}${padded ? `$Number%0${width}d$` : '$Number$'}${ext}`, startNumber: start };
}

const xmlAttr = (v: string): string =>
  v.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** xs:duration of `s` seconds (`PT12.345S`). */
export function isoDuration(s: number): string {
  return `PT${(Math.round(s * 1000) / 1000).toFixed(3)}S`;
}

/** `<SegmentTimeline>` with runs of equal durations folded into `r` (ISO/IEC 23009-1 §5.3.9.6). */
function timeline(segments: DashRendition['segments']): string {
  const out: string[] = [];
  let t = 0;
  let run: { t: number; d: number; r: number } | undefined;
  const flush = () => {
    if (run) out.push(`<S t="${run.t}" d="${run.d}"${run.r > 0 ? ` r="${run.r}"` : ''}/>`);
  };
  for (const s of segments) {
    const d = Math.round(s.durationS * TIMESCALE);
    if (run && run.d === d) run.r++;
    else {
      flush();
      run = { t, d, r: 0 };
    }
    t += d;
  }
  flush();
  return `<SegmentTimeline>${out.join('')}</SegmentTimeline>`;
}

function representation(r: DashRendition): string {
  const tpl = segmentTemplate(r.segments.map((s) => s.uri));
  if (!tpl) throw new EncodeError(`segments of ${r.result.name} do not follow one numbered pattern`);
  const video = r.result.kind === 'video';
  const [codecs] = r.result.codecs.split(',');
  const attrs = [
    `id="${xmlAttr(r.result.name)}"`,
    `bandwidth="${r.result.bandwidth}"`,
    `codecs="${xmlAttr(codecs ?? '')}"`,
    ...(video
      ? [
          `width="${r.result.width}"`,
          `height="${r.result.height}"`,
          `sar="1:1"`,
          ...(r.result.frameRate ? [`frameRate="${frameRateAttr(r.result.frameRate)}"`] : []),
        ]
      : ['audioSamplingRate="48000"']),
  ];
  return [
    `<Representation ${attrs.join(' ')}>`,
    ...(video
      ? []
      : [
          '<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>',
        ]),
    `<SegmentTemplate timescale="${TIMESCALE}" initialization="${xmlAttr(r.init.replaceAll('$', '$$$$'))}" media="${xmlAttr(tpl.media)}" startNumber="${tpl.startNumber}">`,
    timeline(r.segments),
    '</SegmentTemplate>',
    '</Representation>',
  ].join('\n');
}

/** A frame rate as the MPD's FrameRateType: an integer, or the NTSC fractions 24000/1001 etc. */
function frameRateAttr(fps: number): string {
  if (Math.abs(fps - Math.round(fps)) < 0.001) return String(Math.round(fps));
  const ntsc = Math.round(fps * 1.001);
  if (Math.abs(fps - (ntsc * 1000) / 1001) < 0.001) return `${ntsc * 1000}/1001`;
  return String(Math.round(fps * 1000) / 1000);
}

/**
 * The MPD text (pure): a static presentation (`type="static"`, isoff-live profile, CMAF brand) with
 * one video AdaptationSet per codec family (players switch bitrates within a set, never codecs) and
 * one audio AdaptationSet; each Representation a SegmentTemplate over the HLS rendition's own init
 * segment and fMP4 segments, timed by a SegmentTimeline from the playlist's EXTINF durations.
 * `mediaPresentationDuration` is the longest rendition's.
 * @throws EncodeError when a rendition's segment names follow no numbered pattern
 */
export function mpdText(renditions: DashRendition[]): string {
  const durationS = Math.max(0, ...renditions.map((r) => r.segments.reduce((a, s) => a + s.durationS, 0)));
  const sets = new Map<string, DashRendition[]>();
  for (const r of renditions) {
    const key = r.result.kind === 'audio' ? 'audio' : (r.result.codecs.split('.')[0] ?? 'video');
    sets.set(key, [...(sets.get(key) ?? []), r]);
  }
  const adaptationSets = [...sets.entries()].map(([key, reps], id) => {
    const audio = key === 'audio';
    const head = audio
      ? `<AdaptationSet id="${id}" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">`
      : `<AdaptationSet id="${id}" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="${Math.max(...reps.map((r) => r.result.width ?? 0))}" maxHeight="${Math.max(...reps.map((r) => r.result.height ?? 0))}">`;
    return [head, ...reps.map(representation), '</AdaptationSet>'].join('\n');
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" type="static" mediaPresentationDuration="${isoDuration(durationS)}" minBufferTime="PT2S">`,
    `<Period id="0" start="PT0S">`,
    ...adaptationSets,
    '</Period>',
    '</MPD>',
    '',
  ].join('\n');
}

/**
 * Writes `manifest.mpd` (or `fileName`) into `outDir` for the given finished renditions, reading
 * each one's media playlist for its init segment and segments; atomic (temp file + rename).
 * @returns the MPD path, relative to `outDir`
 * @throws EncodeError when a rendition is not fMP4 (no `#EXT-X-MAP`) or its playlist is unreadable
 */
export async function writeMpd(
  outDir: string,
  renditions: RenditionResult[],
  fileName = DASH_MANIFEST,
): Promise<string> {
  const reps: DashRendition[] = [];
  for (const r of renditions) {
    const text = await readFile(join(outDir, r.playlist), 'utf8');
    const media = HLS.parse(text) as InstanceType<typeof HLS.types.MediaPlaylist>;
    const dir = posix.dirname(r.playlist);
    const map = media.segments[0]?.map?.uri;
    if (!map) throw new EncodeError(`DASH needs fMP4 segments: ${r.playlist} has no init segment`);
    reps.push({
      result: r,
      init: posix.join(dir, map),
      segments: media.segments.map((s) => ({ uri: posix.join(dir, s.uri), durationS: s.duration })),
    });
  }
  const path = join(outDir, fileName);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, mpdText(reps));
  await rename(tmp, path);
  return fileName;
}

/**
 * Rewrites `manifest.mpd` in `dir` from the HLS master `master` (relative to `dir`) and the files
 * themselves: each variant and audio-group rendition is measured and probed again
 * ({@link describeRendition}), so nothing in the MPD comes from a claim (used by the coordinator on
 * an untrusted encoder's staged output: the MPD is derived data, never published as uploaded).
 * @throws EncodeError when a rendition is missing, incomplete or not fMP4
 */
export async function rewriteMpdFromMaster(
  dir: string,
  master: string,
  fileName = DASH_MANIFEST,
): Promise<string> {
  const parsed = HLS.parse(await readFile(join(dir, master), 'utf8'));
  if (!parsed.isMasterPlaylist) throw new EncodeError(`${master} is not a master playlist`);
  const m = parsed as InstanceType<typeof HLS.types.MasterPlaylist>;
  const base = posix.dirname(master);
  const video = [...new Set(m.variants.map((v) => posix.normalize(posix.join(base, v.uri))))];
  const audio = [
    ...new Set(
      m.variants.flatMap((v) =>
        v.audio.flatMap((a) => (a.uri ? [posix.normalize(posix.join(base, a.uri))] : [])),
      ),
    ),
  ];
  const renditions: RenditionResult[] = [];
  for (const [kind, playlists] of [
    ['video', video],
    ['audio', audio],
  ] as const) {
    for (const playlist of playlists) {
      if (playlist.startsWith('../') || posix.isAbsolute(playlist))
        throw new EncodeError(`playlist outside the output folder: ${playlist}`);
      renditions.push(await describeRendition(dir, posix.dirname(playlist), kind, playlist));
    }
  }
  return writeMpd(dir, renditions, fileName);
}

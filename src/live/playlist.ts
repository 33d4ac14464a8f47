import { type LiveRendition, liveBandwidth, liveCodecs, liveWidth } from '../media/live-args.js';

/**
 * Live HLS playlists (RFC 8216), rendered by the coordinator from its segment rows: the coordinator,
 * not an encoder, numbers the segments and writes the playlists, so an encoder that takes over after a
 * failover continues the same media sequence, and an untrusted encoder cannot put arbitrary text in
 * a playlist. Pure: rows in, text out.
 */

/** One segment row (src/live/store.ts). Durations and starts in seconds. */
export interface PlaylistSegment {
  seq: number;
  durationS: number;
  programDateTime: Date | null;
  /** First segment of another encoder attempt: `EXT-X-DISCONTINUITY` before it (RFC 8216 §4.3.2.3). */
  discontinuity: boolean;
}

export interface MediaPlaylistInput {
  /** The segments to list, ascending `seq` (already cut to the window for sliding playlists). */
  segments: readonly PlaylistSegment[];
  /**
   * `event`: `EXT-X-PLAYLIST-TYPE:EVENT`, every segment listed; `sliding`: a window; `vod`: the
   * recording of an ended stream, `EXT-X-PLAYLIST-TYPE:VOD` (§4.3.3.5: the playlist never changes).
   */
  kind: 'event' | 'sliding' | 'vod';
  /** Discontinuities before the first listed segment (`EXT-X-DISCONTINUITY-SEQUENCE`, §4.3.3.3). */
  discontinuitySequence: number;
  /** Nominal segment duration, seconds: the floor of `EXT-X-TARGETDURATION`. */
  segmentS: number;
  /** The stream ended: `EXT-X-ENDLIST` (§4.3.3.4). */
  ended: boolean;
}

/** Segment file name of a sequence number, relative to its media playlist. */
export const segmentName = (seq: number) => `${seq}.ts`;

/**
 * A media playlist (RFC 8216 §4.3.3): `EXT-X-MEDIA-SEQUENCE` is the first listed segment's number,
 * each segment carries its `EXT-X-PROGRAM-DATE-TIME` (the wall-clock time its first frame reached the
 * ingest, so players can tell their latency) and `EXTINF`. The target duration is the longest segment
 * rounded (§4.3.3.1), never below `segmentS`.
 */
export function renderMediaPlaylist(input: MediaPlaylistInput): string {
  const first = input.segments[0]?.seq ?? 0;
  const longest = Math.max(input.segmentS, ...input.segments.map((s) => Math.round(s.durationS)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${Math.ceil(longest)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first}`,
  ];
  if (input.discontinuitySequence > 0)
    lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${input.discontinuitySequence}`);
  if (input.kind === 'event') lines.push('#EXT-X-PLAYLIST-TYPE:EVENT');
  if (input.kind === 'vod') lines.push('#EXT-X-PLAYLIST-TYPE:VOD');
  lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  input.segments.forEach((s, i) => {
    if (s.discontinuity && i > 0) lines.push('#EXT-X-DISCONTINUITY');
    if (s.programDateTime) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${s.programDateTime.toISOString()}`);
    lines.push(`#EXTINF:${s.durationS.toFixed(3)},`, segmentName(s.seq));
  });
  if (input.ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/** The master playlist (RFC 8216 §4.3.4.2): one `EXT-X-STREAM-INF` per rendition, highest first. */
export function renderMasterPlaylist(renditions: readonly LiveRendition[], fps = 30): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const r of renditions) {
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${liveBandwidth(r)},RESOLUTION=${liveWidth(r.height)}x${r.height},` +
        `CODECS="${liveCodecs(r)}",FRAME-RATE=${fps.toFixed(3)}`,
      `${r.name}/index.m3u8`,
    );
  }
  return `${lines.join('\n')}\n`;
}

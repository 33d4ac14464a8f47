import { extname } from 'node:path';

// HLS: RFC 8216 §4 (application/vnd.apple.mpegurl, video/mp2t); CMAF segments: IANA video/iso.segment.
const TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.m4v': 'video/mp4',
  '.mpd': 'application/dash+xml',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.vtt': 'text/vtt',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.webm': 'video/webm',
};

/**
 * Extensions of files a video pipeline publishes and a player or browser may fetch (HLS RFC 8216,
 * DASH ISO/IEC 23009-1, CMAF, WebVTT thumbnails, posters, JSON manifests). Anything else is refused
 * as an encoder output and never served inline: an HTML or SVG file on the coordinator's origin would
 * run script with the dashboard's cookies.
 */
export const MEDIA_EXTENSIONS: ReadonlySet<string> = new Set([
  '.m3u8',
  '.ts',
  '.m4s',
  '.mp4',
  '.m4a',
  '.m4v',
  '.mpd',
  '.vtt',
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.json',
  '.webm',
  '.aac',
  '.mp3',
  '.opus',
]);

/** True when `path` names a media file by its extension ({@link MEDIA_EXTENSIONS}). */
export function isMediaFile(path: string): boolean {
  return MEDIA_EXTENSIONS.has(extname(path).toLowerCase());
}

/** Content type of a rendered output file by its extension (`application/octet-stream` if unknown). */
export function contentTypeFor(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** True for playlists/manifests, which change (live) or must not be cached as long as segments. */
export function isPlaylist(path: string): boolean {
  const ext = extname(path).toLowerCase();
  return ext === '.m3u8' || ext === '.mpd';
}

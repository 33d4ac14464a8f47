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

/** Content type of a rendered output file by its extension (`application/octet-stream` if unknown). */
export function contentTypeFor(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** True for playlists/manifests, which change (live) or must not be cached as long as segments. */
export function isPlaylist(path: string): boolean {
  const ext = extname(path).toLowerCase();
  return ext === '.m3u8' || ext === '.mpd';
}

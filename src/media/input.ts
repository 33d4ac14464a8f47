/**
 * ffmpeg reads user files only through the `file` protocol: a name like `http://…`, `concat:…` or
 * `subfile,…` must not become a network fetch or a read of another file (SSRF, path tricks).
 */
export const LOCAL_ONLY = ['-protocol_whitelist', 'file'];

/** An absolute path as an explicit `file:` URL for ffmpeg (no protocol guessing from the name). */
export function localUrl(absolutePath: string): string {
  return `file:${absolutePath}`;
}

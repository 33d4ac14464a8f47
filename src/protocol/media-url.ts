/**
 * The one place that builds the URL of a file of a `local` destination: the coordinator serves a job's
 * outputs at `<base>/<jobId>/[<prefix>/]<path>`, where `base` is its `/media` URL (`<publicUrl>/media`,
 * or `/media` when the public URL is unknown), `prefix` the destination's optional sub-folder and `path`
 * the file relative to the rendered ladder (`master.m3u8`, `720p/index.m3u8`). Job views, webhook
 * payloads, the dashboard and the encoder pipeline (remote `local` outputs) all call it, so the
 * reported URL and the served file cannot drift apart.
 */
export function mediaUrl(base: string, jobId: string, prefix: string | undefined, path: string): string {
  const segments = [jobId, ...pathSegments(prefix), ...pathSegments(path)].map(encodeURIComponent);
  return `${base.replace(/\/+$/, '')}/${segments.join('/')}`;
}

/**
 * Segments of a relative path with empty, `.` and `..` parts dropped. The coordinator refuses
 * traversal itself (storage `safeJoin`); this only keeps a URL well-formed and inside the job's folder.
 */
export function pathSegments(path: string | undefined): string[] {
  return (path ?? '').split('/').filter((p) => p && p !== '.' && p !== '..');
}

/** The file name a reported output URL ends with (`…/master.m3u8?x=1` → `master.m3u8`), decoded. */
export function fileNameOf(url: string): string | undefined {
  const last = url.split(/[?#]/)[0]?.split('/').pop();
  if (!last) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

import { isAbsolute, relative, resolve, sep } from 'node:path';
import { UnsafePathError } from './errors.js';

/**
 * Splits a relative path given by a user or found in a rendered directory into clean segments, or
 * throws UnsafePathError. Refused: empty, absolute (`/x`, `C:\x`, `\\host`), NUL or control
 * characters, backslashes (a separator on Windows servers and some object stores), `.` and `..`
 * segments, empty segments (`a//b`), and percent-encoded forms of any of those (`%2e%2e`, `%2f`,
 * `%5c`, `%00`), decoded repeatedly so double encoding (`%252e`) cannot slip through.
 */
export function safeSegments(relPath: string): string[] {
  if (typeof relPath !== 'string' || relPath.length === 0) throw new UnsafePathError('empty path');
  if (relPath.length > 1024) throw new UnsafePathError('path longer than 1024 characters');
  let decoded = relPath;
  for (let i = 0; i < 4; i++) {
    // Encoded dots, separators and NUL have no business in a rendered file name: refuse outright.
    if (/%(2e|2f|5c|00)/i.test(decoded)) {
      throw new UnsafePathError('percent-encoded dot, separator or NUL in path', {
        details: { path: relPath },
      });
    }
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      throw new UnsafePathError('malformed percent-encoding in path', { details: { path: relPath } });
    }
    if (next === decoded) break;
    decoded = next;
  }
  if (/[\x00-\x1f\x7f]/.test(decoded)) throw new UnsafePathError('control character in path');
  if (decoded.includes('\\')) throw new UnsafePathError('backslash in path', { details: { path: relPath } });
  if (decoded.startsWith('/') || /^[A-Za-z]:/.test(decoded)) {
    throw new UnsafePathError('absolute path refused', { details: { path: relPath } });
  }
  const segments = relPath.split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') {
      throw new UnsafePathError('empty, "." or ".." segment in path', { details: { path: relPath } });
    }
  }
  return segments;
}

/**
 * Joins `relPath` (POSIX separators) under the directory `root` and returns the absolute result,
 * guaranteed to lie strictly inside `root`. Throws UnsafePathError for anything {@link safeSegments}
 * refuses. Does not touch the file system (symlinks are the caller's concern: see `realpath` checks
 * in the file source).
 */
export function safeJoin(root: string, relPath: string): string {
  const segments = safeSegments(relPath);
  const base = resolve(root);
  const full = resolve(base, ...segments);
  const rel = relative(base, full);
  if (
    rel === '' ||
    rel === '..' ||
    rel.startsWith('..' + sep) ||
    isAbsolute(rel) ||
    !full.startsWith(base + sep)
  ) {
    throw new UnsafePathError('path escapes its root', { details: { path: relPath } });
  }
  return full;
}

/**
 * Builds an object key `prefix/relPath` for S3-style stores (and remote paths for FTP/HTTP), where
 * `relPath` must pass {@link safeSegments}. The prefix is operator- or job-supplied: it is normalised
 * (no leading/trailing slash) and must itself be safe; an empty prefix puts keys at the bucket root.
 */
export function safeKey(prefix: string, relPath: string): string {
  const segments = safeSegments(relPath);
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  const head = trimmed === '' ? [] : safeSegments(trimmed);
  return [...head, ...segments].join('/');
}

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the vidmesh package root (the folder holding package.json), found by walking up
 * from this module, so it is right both from `src/` (tsx) and from `dist/src/` (compiled).
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('vidmesh: package.json not found above ' + import.meta.url);
    dir = parent;
  }
}

/** Folder of the real test videos: `VIDMESH_MEDIA_DIR`, default `../shared/media` beside the package. */
export function mediaDir(): string {
  return process.env.VIDMESH_MEDIA_DIR ?? resolve(packageRoot(), '..', 'shared', 'media');
}

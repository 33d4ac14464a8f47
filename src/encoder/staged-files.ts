import { join } from 'node:path';
import type { StagedFile } from '../protocol/result.js';
import { hashFile, listFiles } from '../storage/index.js';

/** Every file under `dir` with its SHA-256 and size: what a staging encoder declares at completion. */
export async function declareFiles(dir: string): Promise<StagedFile[]> {
  const out: StagedFile[] = [];
  // One file at a time: a long ladder has thousands of segments, and file handles are finite.
  for (const path of await listFiles(dir)) out.push({ path, ...(await hashFile(join(dir, path))) });
  return out;
}

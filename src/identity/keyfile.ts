import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KeyMaterialError } from './errors.js';

/** Permission bits that must be clear on a private key file: any access by group or others. */
const GROUP_OTHER_BITS = 0o077;

/**
 * Reads a private key file, or creates it with `create()`'s text when absent. The file is created
 * with mode 0600 in a directory created with 0700, atomically (written under a temporary name, then
 * hard-linked into place, which fails if another process won the race; the winner's file is read).
 *
 * Policy: an existing file that group or others may access is refused with `key_file_insecure`,
 * like OpenSSH does, instead of silently fixing its mode: the key may already have leaked and the
 * operator should know. (Skipped on Windows, where POSIX mode bits mean nothing.)
 */
export async function readOrCreatePrivateFile(file: string, create: () => string): Promise<string> {
  const existing = await readPrivateFile(file);
  if (existing !== undefined) return existing;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temp = join(dirname(file), `.${randomBytes(8).toString('hex')}.tmp`);
  await writeFile(temp, create(), { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  const text = await readPrivateFile(file);
  if (text === undefined) throw new KeyMaterialError('key_file_invalid', `key file ${file} vanished`);
  return text;
}

/** Contents of an existing private file, `undefined` when it does not exist; refuses loose modes. */
async function readPrivateFile(file: string): Promise<string | undefined> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (process.platform !== 'win32' && (mode & GROUP_OTHER_BITS) !== 0) {
    throw new KeyMaterialError(
      'key_file_insecure',
      `key file ${file} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); ` +
        `run: chmod 600 ${file}`,
    );
  }
  return readFile(file, 'utf8');
}

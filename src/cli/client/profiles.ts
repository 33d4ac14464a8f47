import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';

/**
 * Coordinator profiles saved by `vidmesh login`: `<config dir>/vidmesh/profiles.json`, mode 0600 (it
 * holds API keys). The config dir is `$XDG_CONFIG_HOME`, else `%APPDATA%` on Windows, else `~/.config`.
 * Shape: `{profiles: {<name>: {url, apiKey}}}`; the profile named `default` is used when a command names
 * none and no `--url`, `VIDMESH_URL` or `<data-dir>/client.json` says otherwise.
 */
const profileSchema = z.object({ url: z.string().url(), apiKey: z.string().min(1) });
const fileSchema = z.object({ profiles: z.record(z.string(), profileSchema) });
export type Profile = z.infer<typeof profileSchema>;

/** Absolute path of the profiles file (see the module comment). */
export function profilesPath(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CONFIG_HOME ||
    (process.platform === 'win32' && env.APPDATA ? env.APPDATA : join(homedir(), '.config'));
  return join(base, 'vidmesh', 'profiles.json');
}

/** Every saved profile; none when the file is missing. @throws ValidationError on a malformed file. */
export function readProfiles(path = profilesPath()): Record<string, Profile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const parsed = fileSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new ValidationError(`${path}: not a vidmesh profiles file (remove it and log in again)`);
  return parsed.data.profiles;
}

/** Adds or replaces one profile; the file is written whole (temp + rename) with mode 0600. */
export function saveProfile(name: string, profile: Profile, path = profilesPath()): void {
  const profiles = { ...readProfiles(path), [name]: profile };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ profiles }, null, 2)}\n`, { mode: 0o600 });
  // The mode option only applies to a new file; a leftover temp file keeps its mode.
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

import { execFileSync } from 'node:child_process';
import { settings } from '../../src/config.js';

/** Environment variables vidmesh reads: the settings table plus the two read outside it. */
export const KNOWN_VARIABLES = new Set<string>([
  ...Object.values(settings).map((s) => s.env),
  'VIDMESH_SECRET_KEY',
  'ENCODER_PRIVATE_KEY',
  'NODE_ENV',
]);

/** Commands the vidmesh CLI registers (`vidmesh --help`), to check every `command:`/`args:` names one. */
export function cliCommands(mainJs: string): Set<string> {
  const help = execFileSync(process.execPath, [mainJs, '--help'], { encoding: 'utf8' });
  // `  encoder|agent [options]  …`: a command and its aliases.
  const names = [...help.matchAll(/^ {2}([a-z][a-z|-]*)/gm)].flatMap((m) => (m[1] as string).split('|'));
  return new Set(names);
}

/** Compose-style `${VAR:-default}` / `${VAR}` interpolation with an empty environment (defaults only). */
export function interpolateDefaults(s: string): string {
  return s.replace(
    /\$\{([A-Z_][A-Z0-9_]*)(?::?-([^}]*))?\}/g,
    (_m, _name: string, def?: string) => def ?? '',
  );
}

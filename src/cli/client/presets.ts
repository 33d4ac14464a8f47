import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadConfig, resolveClientTarget } from '../../config.js';
import { ValidationError } from '../../errors.js';
import { adminApiCall } from '../keys.js';
import { type ClientFlags, output, withClientOptions } from './common.js';

interface PresetView {
  name: string;
  version: number;
  builtin: boolean;
  ref: string;
  options: Record<string, unknown>;
  createdAt: string | null;
}

const call = <T>(flags: ClientFlags, method: string, path: string, body?: unknown): Promise<T> => {
  const config = loadConfig({ flags: { url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir } });
  return adminApiCall<T>(resolveClientTarget(config), method, path, body);
};
const line = (p: PresetView): string =>
  `${p.ref.padEnd(28)} ${p.builtin ? 'built-in' : `v${p.version}`.padEnd(8)} ${JSON.stringify(p.options)}`;

/**
 * `vidmesh presets list|get|put|rm`: the caller's tenant's ladder presets (`/api/v1/presets`), used
 * by jobs as `--ladder preset:<name>`. `put <name> <json|@file>` stores the ladder options as a new
 * version.
 */
export function register(program: Command): void {
  const presets = program.command('presets').description('named, versioned ladder presets of your tenant');
  withClientOptions(
    presets.command('list').description('built-in presets and yours (latest versions)'),
  ).action(async (flags: ClientFlags) => {
    const r = await call<{ presets: PresetView[] }>(flags, 'GET', '/api/v1/presets');
    output(flags, r, () => r.presets.map(line).join('\n'));
  });
  withClientOptions(
    presets.command('get <name>').description('one preset').option('--version <n>', 'an older version'),
  ).action(async (name: string, flags: ClientFlags & { version?: string }) => {
    const q = flags.version ? `?version=${encodeURIComponent(flags.version)}` : '';
    const r = await call<{ preset: PresetView }>(
      flags,
      'GET',
      `/api/v1/presets/${encodeURIComponent(name)}${q}`,
    );
    output(flags, r, () => line(r.preset));
  });
  withClientOptions(
    presets
      .command('put <name> <options>')
      .description('store ladder options (JSON, or @file.json) as the next version of a preset'),
  ).action(async (name: string, options: string, flags: ClientFlags) => {
    const text = options.startsWith('@') ? await readFile(options.slice(1), 'utf8') : options;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ValidationError('put: options must be a JSON object of ladder options (or @file.json)');
    }
    const r = await call<{ preset: PresetView }>(
      flags,
      'PUT',
      `/api/v1/presets/${encodeURIComponent(name)}`,
      body,
    );
    output(flags, r, () => `${line(r.preset)}\nuse it with: vidmesh submit <input> --ladder ${r.preset.ref}`);
  });
  withClientOptions(presets.command('rm <name>').description('delete every version of a preset')).action(
    async (name: string, flags: ClientFlags) => {
      await call<unknown>(flags, 'DELETE', `/api/v1/presets/${encodeURIComponent(name)}`);
      output(flags, { deleted: name }, () => `deleted preset ${name}`);
    },
  );
}

import type { Command } from 'commander';
import { createClient } from '../../coordinator/index.js';
import { ValidationError } from '../../errors.js';
import { profilesPath, saveProfile } from './profiles.js';

/**
 * `vidmesh login URL [--api-key K] [--profile P]`: checks the key against the coordinator (one
 * authenticated request), then saves URL and key as profile P (default `default`) for the client commands.
 */
export function register(program: Command): void {
  program
    .command('login')
    .description('save a coordinator URL and API key as a profile the client commands use')
    .argument('<url>', 'coordinator URL, e.g. https://vidmesh.example.org')
    .option('--api-key <key>', 'API key (env VIDMESH_API_KEY)')
    .option('--profile <name>', 'profile name (use it with --profile or VIDMESH_PROFILE)', 'default')
    .option('--json', 'machine-readable JSON on stdout')
    .action(async (url: string, flags: { apiKey?: string; profile: string; json?: boolean }) => {
      const apiKey = flags.apiKey ?? process.env.VIDMESH_API_KEY;
      if (!apiKey) throw new ValidationError('login needs --api-key (or VIDMESH_API_KEY)');
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(flags.profile))
        throw new ValidationError(`--profile ${flags.profile}: letters, digits, . _ - only`);
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new ValidationError(`${url}: not a URL (e.g. http://127.0.0.1:8080)`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        throw new ValidationError(`${url}: the coordinator URL must be http(s)`);
      const target = parsed.toString().replace(/\/+$/, '');
      // A wrong key or URL fails here, naming the URL, rather than at the next command.
      await createClient({ url: target, apiKey, origin: 'the login command' }).listJobs({ limit: 1 });
      const path = profilesPath();
      saveProfile(flags.profile, { url: target, apiKey }, path);
      process.stdout.write(
        flags.json
          ? `${JSON.stringify({ profile: flags.profile, url: target, path })}\n`
          : `logged in to ${target} as profile ${flags.profile} (saved in ${path}, mode 0600)\n`,
      );
    });
}

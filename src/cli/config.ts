import type { Command } from 'commander';
import { redactedConfig, resolveConfig } from '../config.js';

/**
 * `vidmesh config print`: the effective configuration of a process started here with the same
 * environment, config file (`--config` / `VIDMESH_CONFIG`) and global flags, with where each value
 * came from. Secrets (API key, database password) are redacted.
 */
export function register(program: Command): void {
  const config = program.command('config').description('inspect the configuration (docs/configuration.md)');
  config
    .command('print')
    .description('print the effective configuration (file < env < flags), secrets redacted')
    .option('--json', 'machine-readable JSON on stdout')
    .action((flags: { json?: boolean }) => {
      const rows = redactedConfig(resolveConfig());
      if (flags.json) {
        const out = Object.fromEntries(
          rows.map((r) => [r.key, { value: r.value ?? null, origin: r.origin }]),
        );
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const width = Math.max(...rows.map((r) => r.key.length));
      for (const r of rows) {
        const value = r.value === undefined ? '-' : JSON.stringify(r.value);
        process.stdout.write(
          `${r.key.padEnd(width)}  ${value}  (${r.origin === 'env' ? r.env : r.origin})\n`,
        );
      }
    });
}

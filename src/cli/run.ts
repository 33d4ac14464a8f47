import type { Command } from 'commander';
import { CommanderError } from 'commander';
import { loadConfig } from '../config.js';
import { isVidmeshError } from '../errors.js';

/**
 * Process exit codes of every vidmesh command, so scripts can tell bad input from a broken machine.
 * - 0 success; 1 internal failure (a bug, ffmpeg crashed, disk full); 2 bad input or usage (the user's
 *   file, flag or request was refused: any VidmeshError with a 4xx status); 130 interrupted (SIGINT).
 */
export const ExitCode = { ok: 0, internal: 1, badInput: 2, interrupted: 130 } as const;

/** Maps an error to its exit code (see {@link ExitCode}). */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
  if (isVidmeshError(err)) {
    if (err.code === 'cancelled') return ExitCode.interrupted;
    return err.status >= 400 && err.status < 500 ? ExitCode.badInput : ExitCode.internal;
  }
  return ExitCode.internal;
}

/** Parses argv and runs the chosen command; prints one clear line for an error and exits with its code. */
export async function runCli(program: Command, argv: string[]): Promise<void> {
  // Subcommands do not inherit exitOverride, and without it commander exits 1 on a usage error, which
  // scripts would read as an internal failure: set it on the whole tree.
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(exitCodeFor(err));
    const code = isVidmeshError(err) ? ` [${err.code}]` : '';
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`vidmesh: ${message}${code}\n`);
    if (!isVidmeshError(err) && process.env.VIDMESH_DEBUG) console.error(err);
    process.exit(exitCodeFor(err));
  }
}

/** Program-level options that every command takes, before or after the command name. */
interface GlobalFlags {
  config?: string;
  logLevel?: string;
  logFormat?: string;
}

/**
 * Adds `--config`, `--log-level` and `--log-format` to the whole program. A flag and its variable mean
 * the same for one process, so the hook validates the flags (errors name the flag) and hands them on
 * as `VIDMESH_CONFIG`, `LOG_LEVEL` and `VIDMESH_LOG_FORMAT`: every command's `loadConfig` and logger
 * then sees them, with flag-over-variable precedence, without each command re-declaring them.
 */
export function addGlobalOptions(program: Command): void {
  program
    .option('--config <file>', 'config file, YAML or JSON (env VIDMESH_CONFIG; docs/configuration.md)')
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace | silent (env LOG_LEVEL)')
    .option(
      '--log-format <format>',
      'auto | json | pretty (env VIDMESH_LOG_FORMAT; auto: pretty on a terminal)',
    )
    .hook('preAction', (_program, action) => {
      const g = action.optsWithGlobals<GlobalFlags>();
      const given = { config: g.config, logLevel: g.logLevel, logFormat: g.logFormat };
      if (Object.values(given).every((v) => v === undefined)) return;
      loadConfig({ flags: given });
      if (g.config !== undefined) process.env.VIDMESH_CONFIG = g.config;
      if (g.logLevel !== undefined) process.env.LOG_LEVEL = g.logLevel;
      if (g.logFormat !== undefined) process.env.VIDMESH_LOG_FORMAT = g.logFormat;
    });
}

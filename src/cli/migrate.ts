import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { createDatabase } from '../jobs/index.js';
import { createLogger } from '../log.js';

/**
 * `vidmesh migrate`: applies the schema migrations and exits. `vidmesh serve` migrates on start too
 * (under an advisory lock, so concurrent coordinators are safe); this command exists so a deployment
 * can migrate once per release before rolling coordinators (the Helm chart's pre-upgrade Job, the
 * Compose `migrate` service, `ExecStartPre` of the systemd unit).
 */
export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply the database schema migrations and exit (deployments: once per release)')
    .option(
      '--database-url <url>',
      'PostgreSQL URL (env DATABASE_URL; default embedded PGlite in <data-dir>/db)',
    )
    .option('--data-dir <dir>', 'data directory (env VIDMESH_DATA_DIR, default ./.vidmesh)')
    .action(async (flags: { databaseUrl?: string; dataDir?: string }) => {
      const config = loadConfig({ flags: { databaseUrl: flags.databaseUrl, dataDir: flags.dataDir } });
      const log = createLogger({ name: 'vidmesh-migrate', level: config.logLevel, format: config.logFormat });
      const db = await createDatabase(
        config.databaseUrl
          ? { url: config.databaseUrl, log, poolSize: 1 }
          : { dataDir: join(config.dataDir, 'db'), log },
      );
      await db.close();
      log.info({ database: config.databaseUrl ? 'postgres' : 'pglite' }, 'migrations applied');
    });
}

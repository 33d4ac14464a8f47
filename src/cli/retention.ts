import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { runRetention } from '../coordinator/retention.js';
import { createDatabase, createJobStore } from '../jobs/index.js';
import { createLogger } from '../log.js';

/**
 * `vidmesh retention [--dry-run]`: one retention sweep now (docs/outputs.md, "Retention"), on the
 * coordinator's database and data directory: finished jobs past VIDMESH_RETENTION_HOURS (or their own
 * `retainHours`) with their local and embedded-IPFS outputs. `--dry-run` lists what would go and the
 * bytes it would free, changing nothing. The coordinator's maintenance leader runs the same sweep.
 */
export function register(program: Command): void {
  program
    .command('retention')
    .description(
      'purge finished jobs past their retention with their local/IPFS outputs (--dry-run: list only)',
    )
    .option('--dry-run', 'list the jobs and bytes a sweep would purge; change nothing')
    .option('--retention-hours <hours>', 'default retention (env VIDMESH_RETENTION_HOURS)')
    .option(
      '--database-url <url>',
      'PostgreSQL URL (env DATABASE_URL; default embedded PGlite in <data-dir>/db)',
    )
    .option('--data-dir <dir>', 'data directory (env VIDMESH_DATA_DIR, default ./.vidmesh)')
    .action(
      async (flags: {
        dryRun?: boolean;
        retentionHours?: string;
        databaseUrl?: string;
        dataDir?: string;
      }) => {
        const config = loadConfig({
          flags: {
            databaseUrl: flags.databaseUrl,
            dataDir: flags.dataDir,
            retentionHours: flags.retentionHours,
          },
        });
        const log = createLogger({
          name: 'vidmesh-retention',
          level: config.logLevel,
          format: config.logFormat,
        });
        const db = await createDatabase(
          config.databaseUrl
            ? { url: config.databaseUrl, log, poolSize: 1 }
            : { dataDir: join(config.dataDir, 'db'), log },
        );
        const store = createJobStore(db, { log });
        try {
          const report = await runRetention({
            store,
            localRoot: join(config.dataDir, 'media'),
            liveRoot: join(config.dataDir, 'live'),
            blockstoreDir: join(config.dataDir, 'ipfs'),
            defaultHours: config.retentionHours,
            dryRun: flags.dryRun === true,
            batch: 10_000,
          });
          const verb = flags.dryRun ? 'would purge' : 'purged';
          const lines = [
            `${verb} ${report.jobs.length} finished job(s)`,
            ...report.jobs.map((id) => `  ${id}`),
            ...(report.kept.length > 0
              ? [
                  `kept ${report.kept.length} job(s) past their retention`,
                  ...report.kept.map((k) => `  ${k.id} (${k.reason}: market order not settled)`),
                ]
              : []),
            `local storage: ${report.localBytes} bytes`,
            `embedded IPFS: ${report.ipfs ? `${report.ipfs.removedBlocks} blocks, ${report.ipfs.removedBytes} bytes` : '0 blocks, 0 bytes'}`,
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
        } finally {
          await store.close();
          await db.close();
        }
      },
    );
}

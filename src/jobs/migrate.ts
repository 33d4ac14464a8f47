import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { packageRoot } from '../paths.js';
import type { Database } from './db.js';
import { MigrationError } from './errors.js';

/** Session-independent advisory lock key serialising migrations across coordinators ("vidmesh" + 1). */
export const MIGRATION_LOCK_KEY = 0x7669_646d_0001;

interface JournalEntry {
  idx: number;
  tag: string;
}

/** Folder of the drizzle-kit migrations (`drizzle/` at the package root, shipped with the package). */
export function migrationsDir(): string {
  return join(packageRoot(), 'drizzle');
}

/**
 * Applies every migration listed in `drizzle/meta/_journal.json` (drizzle-kit's format: SQL files whose
 * statements are separated by `--> statement-breakpoint`) that is not yet recorded in
 * `vidmesh_migrations`, all in one transaction under `pg_advisory_xact_lock`, so several processes can
 * start at once and exactly one applies them. Idempotent. Returns the tags applied now.
 * @throws MigrationError naming the migration that failed (the whole run is rolled back).
 */
export async function runMigrations(
  db: Database,
  options: { dir?: string; log?: Logger } = {},
): Promise<string[]> {
  const dir = options.dir ?? migrationsDir();
  const journal = JSON.parse(await readFile(join(dir, 'meta', '_journal.json'), 'utf8')) as {
    entries: JournalEntry[];
  };
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  const files = await Promise.all(
    entries.map(async (e) => ({ tag: e.tag, sql: await readFile(join(dir, `${e.tag}.sql`), 'utf8') })),
  );
  return db.transaction(async (tx) => {
    if (db.driver === 'postgres') await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS vidmesh_migrations (
         tag text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Map(
      (
        await tx.query<{ tag: string; sha256: string }>('SELECT tag, sha256 FROM vidmesh_migrations')
      ).rows.map((r) => [r.tag, r.sha256]),
    );
    const applied: string[] = [];
    for (const file of files) {
      const sha = createHash('sha256').update(file.sql).digest('hex');
      const previous = done.get(file.tag);
      if (previous !== undefined) {
        if (previous !== sha)
          options.log?.warn({ tag: file.tag }, 'migration file changed after it was applied');
        continue;
      }
      const statements = file.sql
        .split('--> statement-breakpoint')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      for (const statement of statements) {
        try {
          await tx.query(statement);
        } catch (err) {
          throw new MigrationError(`migration ${file.tag} failed: ${(err as Error).message}`, { cause: err });
        }
      }
      await tx.query('INSERT INTO vidmesh_migrations (tag, sha256) VALUES ($1, $2)', [file.tag, sha]);
      applied.push(file.tag);
    }
    if (applied.length > 0) options.log?.info({ applied }, 'database migrations applied');
    return applied;
  });
}

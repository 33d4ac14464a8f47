import { join } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../config.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { type ApiKeyInfo, createSqlApiKeyStore, parseScopes, validTenant } from '../identity/index.js';
import { createDatabase } from '../jobs/index.js';

/** Where the command writes (stdout by default; tests capture it). */
export interface KeysIo {
  out(text: string): void;
}

interface DbFlags {
  databaseUrl?: string;
  dataDir?: string;
  json?: boolean;
}

const UNITS_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * An expiry given as a duration from `now` (`90s`, `15m`, `12h`, `30d`, `4w`, at most 10 years) or an
 * ISO 8601 date-time in the future. Throws `ValidationError`.
 */
export function parseExpiry(text: string, now: Date = new Date()): Date {
  const t = text.trim();
  const m = /^(\d{1,6})([smhdw])$/.exec(t);
  const iso = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(t);
  const at = m
    ? new Date(now.getTime() + Number(m[1]) * UNITS_S[m[2]!]! * 1000)
    : iso
      ? new Date(t)
      : undefined;
  if (at === undefined || Number.isNaN(at.getTime())) {
    throw new ValidationError('--expires must be a duration like 30d, 12h, 4w or an ISO date-time');
  }
  if (at.getTime() <= now.getTime() || at.getTime() - now.getTime() > 10 * 365 * 86_400_000) {
    throw new ValidationError('--expires must be in the future and within 10 years');
  }
  return at;
}

function line(k: ApiKeyInfo): string {
  const state = k.revokedAt ? 'revoked' : k.expiresAt && k.expiresAt <= new Date() ? 'expired' : 'active';
  return [
    k.prefix,
    k.name.padEnd(16),
    k.tenant.padEnd(12),
    k.scopes.join(',').padEnd(22),
    state.padEnd(8),
    `expires ${k.expiresAt?.toISOString() ?? 'never'}`,
    `last used ${k.lastUsedAt?.toISOString() ?? 'never'}`,
  ].join('  ');
}

/**
 * `vidmesh keys create|list|revoke`: API key administration straight on the database (operator tool:
 * run where `DATABASE_URL` or the data directory is reachable). With the embedded PGlite database,
 * stop `vidmesh serve` first (PGlite is one process). The plaintext key is printed once by `create`.
 */
export function createKeysCommand(io: KeysIo = { out: (t) => process.stdout.write(t) }): Command {
  const withDb = async <T>(
    flags: DbFlags,
    fn: (store: ReturnType<typeof createSqlApiKeyStore>) => Promise<T>,
  ) => {
    const config = loadConfig({ flags: { databaseUrl: flags.databaseUrl, dataDir: flags.dataDir } });
    const db = await createDatabase(
      config.databaseUrl ? { url: config.databaseUrl, poolSize: 2 } : { dataDir: join(config.dataDir, 'db') },
    );
    try {
      return await fn(createSqlApiKeyStore(db));
    } finally {
      await db.close();
    }
  };
  const dbOptions = (cmd: Command) =>
    cmd
      .option('--database-url <url>', 'PostgreSQL URL (env DATABASE_URL; unset: PGlite in <data-dir>/db)')
      .option('--data-dir <dir>', 'data directory (env VIDMESH_DATA_DIR, default ./.vidmesh)')
      .option('--json', 'machine-readable JSON on stdout');

  const keys = new Command('keys').description('create, list and revoke API keys (stored hashed)');
  dbOptions(keys.command('create'))
    .description('create an API key and print it once')
    .requiredOption('--scope <scopes>', 'comma-separated: submit, read, encoder, admin')
    .option('--tenant <tenant>', 'tenant the key acts for (default: default)')
    .option('--expires <when>', 'duration (30d, 12h, 4w) or ISO date-time; default: never')
    .option('--name <name>', 'label shown in listings')
    .action(async (flags: DbFlags & { scope: string; tenant?: string; expires?: string; name?: string }) => {
      if (flags.name !== undefined && !/^[\w .@-]{1,64}$/.test(flags.name)) {
        throw new ValidationError('--name must be 1-64 characters of letters, digits, space, . _ @ -');
      }
      const input = {
        // Validated here too, so bad input never opens the database.
        scopes: parseScopes(flags.scope),
        ...(flags.tenant === undefined ? {} : { tenant: validTenant(flags.tenant) }),
        ...(flags.expires === undefined ? {} : { expiresAt: parseExpiry(flags.expires) }),
        ...(flags.name === undefined ? {} : { name: flags.name }),
      };
      const { key, plaintext } = await withDb(flags, (store) => store.create(input));
      io.out(
        flags.json
          ? JSON.stringify({ ...key, key: plaintext }, null, 2) + '\n'
          : `${plaintext}\n(shown once: store it now)\n${line(key)}\n`,
      );
    });
  dbOptions(keys.command('list'))
    .description('list API keys (never their secrets)')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--all', 'include revoked keys')
    .action(async (flags: DbFlags & { tenant?: string; all?: boolean }) => {
      const list = await withDb(flags, (store) =>
        store.list({
          ...(flags.tenant === undefined ? {} : { tenant: flags.tenant }),
          includeRevoked: flags.all === true,
        }),
      );
      io.out(
        flags.json
          ? JSON.stringify(list, null, 2) + '\n'
          : list.map(line).join('\n') + (list.length ? '\n' : ''),
      );
    });
  dbOptions(keys.command('revoke <idOrPrefix>'))
    .description('revoke an API key by id or prefix')
    .option('--tenant <tenant>', 'only if the key belongs to this tenant')
    .action(async (idOrPrefix: string, flags: DbFlags & { tenant?: string }) => {
      const done = await withDb(flags, (store) =>
        store.revoke(idOrPrefix, flags.tenant === undefined ? {} : { tenant: flags.tenant }),
      );
      if (!done) throw new NotFoundError('no active API key with that id or prefix');
      io.out(flags.json ? JSON.stringify({ revoked: idOrPrefix }) + '\n' : `revoked ${idOrPrefix}\n`);
    });
  return keys;
}

export function register(program: Command): void {
  program.addCommand(createKeysCommand());
}

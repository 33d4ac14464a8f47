import { join } from 'node:path';
import { Command } from 'commander';
import { loadConfig, readClientFile } from '../config.js';
import { ApiError, CoordinatorUnreachableError } from '../coordinator/errors.js';
import { NotFoundError, ValidationError } from '../errors.js';
import {
  type ApiKeyInfo,
  type ApiKeyStore,
  createSqlApiKeyStore,
  parseScopes,
  validTenant,
} from '../identity/index.js';
import { createDatabase } from '../jobs/index.js';

/** Where the command writes (stdout by default; tests capture it). */
export interface KeysIo {
  out(text: string): void;
}

interface DbFlags {
  databaseUrl?: string;
  dataDir?: string;
  url?: string;
  apiKey?: string;
  json?: boolean;
}

/**
 * One JSON call to the coordinator's REST API with an admin key (`Authorization: Bearer`). Resolves
 * the parsed answer; throws `ApiError` with the problem's code and status, or
 * `CoordinatorUnreachableError`.
 */
export async function adminApiCall<T>(
  target: { url: string; apiKey?: string | undefined },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(target.url.replace(/\/+$/, '') + path, {
      method,
      headers: {
        ...headers,
        accept: 'application/json',
        ...(target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new CoordinatorUnreachableError(`cannot reach the coordinator at ${target.url}`, { cause: err });
  }
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) throw new ApiError({ status: res.status, ...(json as object) });
  return json as T;
}

interface KeyJson {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyInfo['scopes'];
  tenant: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

const fromJson = (k: KeyJson): ApiKeyInfo => ({
  ...k,
  createdAt: new Date(k.createdAt),
  expiresAt: k.expiresAt ? new Date(k.expiresAt) : null,
  revokedAt: k.revokedAt ? new Date(k.revokedAt) : null,
  lastUsedAt: k.lastUsedAt ? new Date(k.lastUsedAt) : null,
});

/** The key store through `/api/v1/keys` (what `keys` uses while a coordinator runs: PGlite is one process). */
function apiKeyStoreOver(target: {
  url: string;
  apiKey?: string | undefined;
}): Pick<ApiKeyStore, 'create' | 'list' | 'revoke'> {
  return {
    async create(input) {
      const r = await adminApiCall<{ key: KeyJson; plaintext: string }>(target, 'POST', '/api/v1/keys', {
        scopes: input.scopes,
        ...(input.tenant === undefined ? {} : { tenant: input.tenant }),
        ...(input.name === undefined ? {} : { name: input.name }),
        ...(input.expiresAt ? { expiresAt: input.expiresAt.toISOString() } : {}),
      });
      return { key: fromJson(r.key), plaintext: r.plaintext };
    },
    async list(filter = {}) {
      const q = new URLSearchParams();
      if (filter.tenant !== undefined) q.set('tenant', filter.tenant);
      if (filter.includeRevoked) q.set('all', 'true');
      const r = await adminApiCall<{ keys: KeyJson[] }>(target, 'GET', `/api/v1/keys?${q}`);
      return r.keys.map(fromJson);
    },
    async revoke(idOrPrefix, options = {}) {
      if (options.tenant !== undefined) {
        const owned = (await this.list({ tenant: options.tenant })).some(
          (k) => k.id === idOrPrefix || k.prefix === idOrPrefix,
        );
        if (!owned) return false;
      }
      try {
        await adminApiCall(target, 'DELETE', `/api/v1/keys/${encodeURIComponent(idOrPrefix)}`);
        return true;
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return false;
        throw err;
      }
    },
  };
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
 * `vidmesh keys create|list|revoke`: API key administration. When a coordinator is known (`--url`,
 * `VIDMESH_URL`, or `<dataDir>/client.json`) and no `--database-url` is given, through its admin API
 * (`/api/v1/keys`, admin key from `--api-key`/env/client.json): a running `vidmesh serve` holds the
 * embedded PGlite database. Otherwise straight on the database. The plaintext is printed once.
 */
export function createKeysCommand(io: KeysIo = { out: (t) => process.stdout.write(t) }): Command {
  const withDb = async <T>(
    flags: DbFlags,
    fn: (store: Pick<ApiKeyStore, 'create' | 'list' | 'revoke'>) => Promise<T>,
  ) => {
    const config = loadConfig({
      flags: { databaseUrl: flags.databaseUrl, dataDir: flags.dataDir, url: flags.url, apiKey: flags.apiKey },
    });
    // A known coordinator (flag, env or client.json) is asked over the API unless a database is named.
    const file = readClientFile(config.dataDir);
    const url = flags.databaseUrl === undefined ? (config.url ?? file?.url) : undefined;
    if (url !== undefined) {
      const apiKey = config.apiKey ?? (file && file.url === url ? file.apiKey : undefined);
      return fn(apiKeyStoreOver({ url, apiKey }));
    }
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
      .option('--url <url>', 'coordinator URL: manage keys over its API (env VIDMESH_URL, else client.json)')
      .option('--api-key <key>', 'admin API key for --url (env VIDMESH_API_KEY, else client.json)')
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

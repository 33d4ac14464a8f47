import { randomUUID } from 'node:crypto';
import { type ApiKeyInfo, type ApiKeyRecord, generateApiKey, type Scope, verifyApiKey } from './apikeys.js';
import { queryRows, type SqlClient, toDate } from './sql.js';

/** Input of {@link ApiKeyStore.create}. */
export interface NewApiKey {
  name?: string;
  scopes: readonly string[];
  tenant?: string;
  expiresAt?: Date | null;
}

/**
 * Persistence of API keys. Listings never carry hashes; only `findByPrefix` (for verification) does.
 * `tenant` filters keep one tenant's keys out of another's view and reach.
 */
export interface ApiKeyStore {
  /** Creates a key; resolves its info and the plaintext, which exists only in this answer. */
  create(input: NewApiKey, now?: Date): Promise<{ key: ApiKeyInfo; plaintext: string }>;
  /** Keys, newest first; only `tenant`'s when given; revoked keys only with `includeRevoked`. */
  list(filter?: { tenant?: string; includeRevoked?: boolean }): Promise<ApiKeyInfo[]>;
  /** Revokes by id or prefix (within `tenant` when given); `false` when no live key matched. */
  revoke(idOrPrefix: string, options?: { tenant?: string; now?: Date }): Promise<boolean>;
  /** Records use at `now`; writes at most once a minute per key, so hot keys do not cost a write each. */
  touch(id: string, now?: Date): Promise<void>;
  findByPrefix(prefix: string): Promise<ApiKeyRecord | undefined>;
}

/** How stale `last_used_at` may get before {@link ApiKeyStore.touch} writes it again (ms). */
const TOUCH_GRANULARITY_MS = 60_000;

/**
 * Verifies a presented key against `store` ({@link verifyApiKey}) and records its use. Resolves the
 * key's info; throws `ApiKeyError` (401) as verifyApiKey does.
 */
export async function authenticateApiKey(
  store: Pick<ApiKeyStore, 'findByPrefix' | 'touch'>,
  plaintext: string | undefined,
  options: { now?: Date } = {},
): Promise<ApiKeyInfo> {
  const info = await verifyApiKey(plaintext, (prefix) => store.findByPrefix(prefix), options);
  await store.touch(info.id, options.now);
  return info;
}

function newRecord(input: NewApiKey, now: Date): { record: ApiKeyRecord; plaintext: string } {
  const key = generateApiKey({
    scopes: input.scopes,
    ...(input.tenant === undefined ? {} : { tenant: input.tenant }),
    expiresAt: input.expiresAt ?? null,
  });
  return {
    plaintext: key.plaintext,
    record: {
      id: randomUUID(),
      name: input.name ?? `key-${key.prefix}`,
      prefix: key.prefix,
      hash: key.hash,
      scopes: key.scopes,
      tenant: key.tenant,
      createdAt: now,
      expiresAt: key.expiresAt,
      revokedAt: null,
      lastUsedAt: null,
    },
  };
}

function withoutHash(record: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, ...info } = record;
  return { ...info, scopes: [...info.scopes] };
}

/** An in-process {@link ApiKeyStore} (unit tests, single-process tools). */
export function createMemoryApiKeyStore(): ApiKeyStore {
  const rows = new Map<string, ApiKeyRecord>();
  return {
    async create(input, now = new Date()) {
      const { record, plaintext } = newRecord(input, now);
      rows.set(record.id, record);
      return { key: withoutHash(record), plaintext };
    },
    async list(filter = {}) {
      return [...rows.values()]
        .filter((r) => filter.tenant === undefined || r.tenant === filter.tenant)
        .filter((r) => filter.includeRevoked === true || r.revokedAt === null)
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
        .map(withoutHash);
    },
    async revoke(idOrPrefix, options = {}) {
      for (const r of rows.values()) {
        if ((r.id === idOrPrefix || r.prefix === idOrPrefix) && r.revokedAt === null) {
          if (options.tenant !== undefined && r.tenant !== options.tenant) return false;
          r.revokedAt = options.now ?? new Date();
          return true;
        }
      }
      return false;
    },
    async touch(id, now = new Date()) {
      const r = rows.get(id);
      if (
        r !== undefined &&
        (r.lastUsedAt === null || now.getTime() - r.lastUsedAt.getTime() >= TOUCH_GRANULARITY_MS)
      ) {
        r.lastUsedAt = now;
      }
    },
    async findByPrefix(prefix) {
      for (const r of rows.values()) if (r.prefix === prefix) return { ...r, scopes: [...r.scopes] };
      return undefined;
    },
  };
}

interface ApiKeyRow {
  id: unknown;
  name: string;
  prefix: string;
  hash: string;
  scopes: string[];
  tenant: string;
  created_at: unknown;
  expires_at: unknown;
  revoked_at: unknown;
  last_used_at: unknown;
}

const COLUMNS = 'id, name, prefix, hash, scopes, tenant, created_at, expires_at, revoked_at, last_used_at';

function fromRow(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: String(row.id),
    name: row.name,
    prefix: row.prefix,
    hash: row.hash,
    // Rows are written only through create(), which validates scopes.
    scopes: row.scopes as Scope[],
    tenant: row.tenant,
    createdAt: toDate(row.created_at) ?? new Date(0),
    expiresAt: toDate(row.expires_at),
    revokedAt: toDate(row.revoked_at),
    lastUsedAt: toDate(row.last_used_at),
  };
}

/**
 * An {@link ApiKeyStore} on the job store's `api_keys (id, name, prefix unique, hash, scopes text[],
 * tenant, created_at, expires_at, revoked_at, last_used_at)` table. Ids are UUIDs generated here
 * (valid for a `uuid` or a `text` id column). Every statement is a single bound-parameter query.
 */
export function createSqlApiKeyStore(db: SqlClient): ApiKeyStore {
  return {
    async create(input, now = new Date()) {
      const { record: r, plaintext } = newRecord(input, now);
      await db.query(
        `INSERT INTO api_keys (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)`,
        [r.id, r.name, r.prefix, r.hash, r.scopes, r.tenant, r.createdAt, r.expiresAt],
      );
      return { key: withoutHash(r), plaintext };
    },
    async list(filter = {}) {
      const rows = await queryRows<ApiKeyRow>(
        db,
        `SELECT ${COLUMNS} FROM api_keys
         WHERE ($1::text IS NULL OR tenant = $1) AND ($2::boolean OR revoked_at IS NULL)
         ORDER BY created_at DESC, prefix`,
        [filter.tenant ?? null, filter.includeRevoked === true],
      );
      return rows.map((row) => withoutHash(fromRow(row)));
    },
    async revoke(idOrPrefix, options = {}) {
      const rows = await queryRows(
        db,
        `UPDATE api_keys SET revoked_at = $2
         WHERE (id::text = $1 OR prefix = $1) AND revoked_at IS NULL AND ($3::text IS NULL OR tenant = $3)
         RETURNING prefix`,
        [idOrPrefix, options.now ?? new Date(), options.tenant ?? null],
      );
      return rows.length > 0;
    },
    async touch(id, now = new Date()) {
      await db.query(
        `UPDATE api_keys SET last_used_at = $2
         WHERE id::text = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`,
        [id, now, new Date(now.getTime() - TOUCH_GRANULARITY_MS)],
      );
    },
    async findByPrefix(prefix) {
      const [row] = await queryRows<ApiKeyRow>(db, `SELECT ${COLUMNS} FROM api_keys WHERE prefix = $1`, [
        prefix,
      ]);
      return row === undefined ? undefined : fromRow(row);
    },
  };
}

import { queryRows, type SqlClient } from './sql.js';

/**
 * Remembers the nonces of accepted signed requests until they expire, so each (DID, nonce) pair is
 * accepted once. Entries expire with the request they belong to: after that the request's own `exp`
 * refuses a replay, so the entry can go.
 */
export interface NonceStore {
  /**
   * Records `nonce` for `did` until `expiresAt`. Resolves `true` when it was new (or only an expired
   * entry existed), `false` when a live entry exists: a replay. Must be atomic across processes
   * sharing the store. `now` is the verifier's clock, so tests can move it.
   */
  claim(did: string, nonce: string, expiresAt: Date, now: Date): Promise<boolean>;
  /** Deletes entries expired at `now`; resolves how many went. */
  purgeExpired(now: Date): Promise<number>;
}

/** How often (ms) a store purges expired entries on its own while claiming. */
const PURGE_INTERVAL_MS = 60_000;

/** A process-local {@link NonceStore} (one coordinator, tests). Entries live in a Map. */
export function createMemoryNonceStore(): NonceStore & { readonly size: number } {
  const entries = new Map<string, number>();
  let lastPurge = 0;
  const purge = (now: Date): number => {
    let n = 0;
    for (const [key, expires] of entries) {
      if (expires <= now.getTime()) {
        entries.delete(key);
        n++;
      }
    }
    lastPurge = now.getTime();
    return n;
  };
  return {
    get size() {
      return entries.size;
    },
    async claim(did, nonce, expiresAt, now) {
      if (now.getTime() - lastPurge >= PURGE_INTERVAL_MS) purge(now);
      // A space cannot occur in a did:key, so the pair maps to one key unambiguously.
      const key = `${did} ${nonce}`;
      const existing = entries.get(key);
      if (existing !== undefined && existing > now.getTime()) return false;
      entries.set(key, expiresAt.getTime());
      return true;
    },
    async purgeExpired(now) {
      return purge(now);
    },
  };
}

/**
 * A {@link NonceStore} on the `request_nonces (did, nonce, expires_at, primary key (did, nonce))`
 * table of the job store's schema. Claiming is one `INSERT … ON CONFLICT` statement, atomic across
 * coordinators: a live row wins (replay), an expired row not yet purged is overwritten. Expired rows
 * are purged by {@link NonceStore.purgeExpired} (call it from a maintenance loop) and, at most once a
 * minute, by `claim` itself.
 */
export function createSqlNonceStore(db: SqlClient): NonceStore {
  let lastPurge = 0;
  const store: NonceStore = {
    async claim(did, nonce, expiresAt, now) {
      if (now.getTime() - lastPurge >= PURGE_INTERVAL_MS) {
        lastPurge = now.getTime();
        await store.purgeExpired(now);
      }
      const rows = await queryRows(
        db,
        `INSERT INTO request_nonces (did, nonce, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (did, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
         WHERE request_nonces.expires_at <= $4
         RETURNING did`,
        [did, nonce, expiresAt, now],
      );
      return rows.length === 1;
    },
    async purgeExpired(now) {
      const [row] = await queryRows<{ n: number }>(
        db,
        `WITH gone AS (DELETE FROM request_nonces WHERE expires_at <= $1 RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
        [now],
      );
      return row?.n ?? 0;
    },
  };
  return store;
}

import { ValidationError } from '../errors.js';
import type { StoreContext } from './context.js';
import { AgentPairedElsewhereError } from './errors.js';
import { DEFAULT_USER_SETTINGS, type UserSettings } from './routing.js';
import * as Q from './sql.js';
import type { JobStore } from './store.js';

/** Users' routing settings and the pairing of did:key agents to users (drizzle/0022). */
export type UserDirectory = Pick<
  JobStore,
  'getUserSettings' | 'updateUserSettings' | 'bindAgent' | 'getAgentBinding'
>;

/** A did:key identity paired to a user of a tenant: its encoder works for them. */
export interface AgentBinding {
  did: string;
  tenant: string;
  user: string;
  createdAt: Date;
}

/** 1–64 characters of `A-Z a-z 0-9 . _ -` (Hive account names fit: 3–16 of `a-z 0-9 . -`). */
export const USER_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

function assertUser(user: string): void {
  if (!USER_NAME_PATTERN.test(user)) {
    throw new ValidationError('user must be 1..64 characters of A-Z a-z 0-9 . _ -');
  }
}

interface SettingsRow {
  prefer_own_agent: boolean;
  allow_browser: boolean;
  allow_community: boolean;
  max_price: number | null;
}

const toSettings = (r: SettingsRow): UserSettings => ({
  preferOwnAgent: r.prefer_own_agent,
  allowBrowser: r.allow_browser,
  allowCommunity: r.allow_community,
  maxPrice: r.max_price === null ? null : Number(r.max_price),
});

export function createUserDirectory(ctx: StoreContext): UserDirectory {
  const { db, clock } = ctx;
  return {
    async getUserSettings(tenant, user) {
      assertUser(user);
      const { rows } = await db.query<SettingsRow>(Q.GET_USER_SETTINGS, [tenant, user]);
      return rows[0] ? toSettings(rows[0]) : { ...DEFAULT_USER_SETTINGS };
    },

    async updateUserSettings(tenant, user, patch) {
      assertUser(user);
      if (patch.maxPrice !== undefined && patch.maxPrice !== null && !(patch.maxPrice >= 0)) {
        throw new ValidationError('maxPrice must be a number ≥ 0 or null');
      }
      const { rows } = await db.query<SettingsRow>(Q.PATCH_USER_SETTINGS, [
        tenant,
        user,
        patch.preferOwnAgent ?? null,
        patch.allowBrowser ?? null,
        patch.allowCommunity ?? null,
        patch.maxPrice ?? null,
        patch.maxPrice === null,
        clock(),
      ]);
      return toSettings(rows[0] as SettingsRow);
    },

    async bindAgent(did, tenant, user) {
      assertUser(user);
      const { rows } = await db.query<{ did: string; tenant: string; user_name: string; created_at: Date }>(
        Q.BIND_AGENT,
        [did, tenant, user, clock()],
      );
      const r = rows[0];
      // No row: the conflict's WHERE refused a did paired with another tenant.
      if (!r) throw new AgentPairedElsewhereError(`${did} is paired with another tenant's user`);
      return { did: r.did, tenant: r.tenant, user: r.user_name, createdAt: new Date(r.created_at) };
    },

    async getAgentBinding(did) {
      const { rows } = await db.query<{ did: string; tenant: string; user_name: string; created_at: Date }>(
        Q.GET_AGENT_BINDING,
        [did],
      );
      const r = rows[0];
      return r
        ? { did: r.did, tenant: r.tenant, user: r.user_name, createdAt: new Date(r.created_at) }
        : null;
    },
  };
}

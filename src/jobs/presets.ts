import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.js';
import { type LadderOptionsInput, ladderOptionsSchema } from '../media/index.js';
import type { Queryable } from './db.js';

/**
 * Built-in ladder presets: named sets of ladder options a job spec references as
 * `ladder: "preset:<name>"` (resolved at submit, so the stored spec and the encoder see the options
 * themselves). Tenants add their own, versioned, with {@link createPresetStore} (`/api/v1/presets`).
 * - `default`: the SPK blueprint ladder (1080p/720p/480p H.264, MPEG-TS, veryfast, fixed bitrates).
 * - `3speak`: 3Speak's own settings: the same renditions in the 3Speak layout (`manifest.m3u8`,
 *   `<r>/<r>_N.ts`), libx264 `medium`, CRF 19 capped at the rendition bitrates.
 */
export const BUILTIN_PRESETS = {
  default: {},
  '3speak': { layout: '3speak', speed: 'medium', rateControl: 'capped-crf', crf: 19 },
} as const satisfies Record<string, LadderOptionsInput>;
export type BuiltinPresetName = keyof typeof BUILTIN_PRESETS;

const PRESET_REF = /^preset:([a-z0-9][a-z0-9_-]{0,63})$/;

/**
 * The ladder options of a `preset:<name>` reference (a copy); any other value is returned as is.
 * @throws ValidationError for a reference to an unknown preset (lists the known ones)
 */
export function resolvePresetRef(value: unknown): unknown {
  if (typeof value !== 'string' || !value.startsWith('preset:')) return value;
  const name = PRESET_REF.exec(value)?.[1];
  if (!name || !Object.hasOwn(BUILTIN_PRESETS, name)) {
    throw new ValidationError(
      `ladder: unknown preset "${value}": known presets are ${Object.keys(BUILTIN_PRESETS)
        .map((n) => `preset:${n}`)
        .join(', ')}`,
    );
  }
  return structuredClone(BUILTIN_PRESETS[name as BuiltinPresetName]);
}

/** Preset names: lower-case letters, digits, `_` and `-` (they appear in `preset:<name>` references). */
export const presetNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, _ and - only (max 64)')
  .refine((n) => !Object.hasOwn(BUILTIN_PRESETS, n), 'reserved for a built-in preset');

/** One stored version of a tenant's preset. */
export interface LadderPreset {
  tenant: string;
  name: string;
  version: number;
  /** Ladder options as written (validated with `ladderOptionsSchema`). */
  options: LadderOptionsInput;
  createdAt: Date;
}

export interface PresetStore {
  /** The latest version of each of the tenant's presets, by name. */
  list(tenant: string): Promise<LadderPreset[]>;
  /** The latest version (or `version`) of a preset. @throws NotFoundError */
  get(tenant: string, name: string, version?: number): Promise<LadderPreset>;
  /** Stores `options` as the next version of the tenant's preset. @throws ValidationError */
  put(tenant: string, name: string, options: unknown): Promise<LadderPreset>;
  /** Deletes every version. @throws NotFoundError */
  remove(tenant: string, name: string): Promise<void>;
  /**
   * A spec's `ladder` with `preset:<name>[@version]` replaced by the options: built-in names first,
   * then the tenant's presets; any other value unchanged.
   * @throws ValidationError for an unknown preset (so submit answers 400)
   */
  resolve(tenant: string, value: unknown): Promise<unknown>;
}

type Row = { tenant: string; name: string; version: number; options: unknown; created_at: Date | string };
const toPreset = (r: Row): LadderPreset => ({
  tenant: r.tenant,
  name: r.name,
  version: Number(r.version),
  options: r.options as LadderOptionsInput,
  createdAt: new Date(r.created_at),
});

const TENANT_REF = /^preset:([a-z0-9][a-z0-9_-]{0,63})(?:@(\d{1,9}))?$/;

/**
 * Named, versioned ladder presets per tenant (table `ladder_presets`, drizzle/0019): each `put` adds
 * a version (the previous ones stay, so a job resolved from version 3 can be explained later); jobs
 * store the resolved options, never the reference, so deleting a preset changes no job.
 */
export function createPresetStore(db: Queryable): PresetStore {
  const get: PresetStore['get'] = async (tenant, name, version) => {
    const { rows } = await db.query<Row>(
      `SELECT * FROM ladder_presets WHERE tenant = $1 AND name = $2 AND ($3::int IS NULL OR version = $3)
       ORDER BY version DESC LIMIT 1`,
      [tenant, name, version ?? null],
    );
    if (!rows[0]) throw new NotFoundError(`preset ${name}${version ? `@${version}` : ''} not found`);
    return toPreset(rows[0]);
  };
  return {
    async list(tenant) {
      const { rows } = await db.query<Row>(
        `SELECT DISTINCT ON (name) * FROM ladder_presets WHERE tenant = $1 ORDER BY name, version DESC`,
        [tenant],
      );
      return rows.map(toPreset);
    },
    get,
    async put(tenant, name, options) {
      const n = presetNameSchema.safeParse(name);
      if (!n.success) throw new ValidationError(`preset name ${name}: ${n.error.issues[0]?.message}`);
      const o = ladderOptionsSchema.safeParse(options);
      if (!o.success) {
        throw new ValidationError(`invalid ladder options: ${z.prettifyError(o.error)}`, {
          details: { issues: o.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
        });
      }
      // The next version in one statement; a concurrent put of the same name hits the primary key.
      const { rows } = await db.query<Row>(
        `INSERT INTO ladder_presets (tenant, name, version, options)
         SELECT $1, $2, coalesce(max(version), 0) + 1, $3::jsonb FROM ladder_presets WHERE tenant = $1 AND name = $2
         RETURNING *`,
        [tenant, name, JSON.stringify(options)],
      );
      return toPreset(rows[0]!);
    },
    async remove(tenant, name) {
      const { rowCount } = await db.query('DELETE FROM ladder_presets WHERE tenant = $1 AND name = $2', [
        tenant,
        name,
      ]);
      if (!rowCount) throw new NotFoundError(`preset ${name} not found`);
    },
    async resolve(tenant, value) {
      if (typeof value !== 'string' || !value.startsWith('preset:')) return value;
      const m = TENANT_REF.exec(value);
      if (m && !m[2] && Object.hasOwn(BUILTIN_PRESETS, m[1]!)) return resolvePresetRef(value);
      if (m) {
        const found = await get(tenant, m[1]!, m[2] ? Number(m[2]) : undefined).catch(() => undefined);
        if (found) return structuredClone(found.options);
      }
      const own = (await this.list(tenant)).map((p) => `preset:${p.name}`);
      throw new ValidationError(
        `ladder: unknown preset "${value}": known presets are ${[...Object.keys(BUILTIN_PRESETS).map((n) => `preset:${n}`), ...own].join(', ')}`,
      );
    },
  };
}

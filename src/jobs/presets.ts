import { ValidationError } from '../errors.js';
import type { LadderOptionsInput } from '../media/index.js';

/**
 * Built-in ladder presets: named sets of ladder options a job spec references as
 * `ladder: "preset:<name>"` (resolved at submit, so the stored spec and the encoder see the options
 * themselves). Per-tenant, versioned presets (`/api/v1/presets`) are not built yet (docs/media.md).
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

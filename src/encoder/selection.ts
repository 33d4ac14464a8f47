import type { RenditionResult } from '../media/index.js';
import type { ResultRendition } from '../protocol/result.js';

/** Which renditions of a planned ladder one run encodes, keeps and reports as skipped. */
export interface RenditionSelection {
  /** Names to encode now (the plan's `only`), in plan order; undefined: the whole plan. */
  only: string[] | undefined;
  /** Renditions produced earlier and kept: listed in the master beside the ones encoded now. */
  keep: RenditionResult[];
  /** Names the job asks for that this source does not allow (never upscaled): reported `skipped`. */
  skipped: string[];
  /** Why more is encoded than was asked for, for the job log. */
  notes: string[];
}

export interface SelectionInput {
  /** What the source allows, in plan order (`planLadder(...).encode` without `only`). */
  planned: readonly string[];
  /** The claim's rendition names; empty: the whole ladder. */
  requested: readonly string[];
  /** Every rendition name of the job (the spec's ladder). */
  asked: readonly string[];
  /** Results of renditions an earlier run completed (the claim's `keep`). */
  kept: readonly ResultRendition[];
  /**
   * False when the destination cannot take part of a ladder (IPFS: a new root CID holds only what is
   * published now), so a per-rendition retry encodes and publishes everything.
   */
  patchable: boolean;
}

/**
 * Decides a run's renditions (pure). A per-rendition retry encodes the requested names the source
 * allows and keeps the others, provided each kept one has a complete stored result to list in the
 * master playlist; a kept one without it is encoded again, so the published master is never partial.
 */
export function selectRenditions(input: SelectionInput): RenditionSelection {
  const { planned, requested } = input;
  const skipped = [...new Set([...input.asked, ...requested])].filter((n) => !planned.includes(n));
  const whole = (notes: string[]): RenditionSelection => ({ only: undefined, keep: [], skipped, notes });
  if (requested.length === 0) return whole([]);
  const fit = planned.filter((n) => requested.includes(n));
  if (fit.length === 0) {
    return whole([`none of ${requested.join(', ')} fits this source: encoding ${planned.join(', ')}`]);
  }
  if (fit.length === planned.length) return whole([]);
  if (!input.patchable) {
    return whole(['the destination cannot take part of a ladder: encoding and publishing all of it']);
  }
  const keep: RenditionResult[] = [];
  const again: string[] = [];
  for (const name of planned.filter((n) => !fit.includes(n))) {
    const stored = input.kept.find((k) => k.name === name);
    const entry = stored && masterEntry(stored);
    if (entry) keep.push(entry);
    else again.push(name);
  }
  const notes = again.length ? [`no stored result for ${again.join(', ')}: encoding it again`] : [];
  if (keep.length === 0) return whole(notes);
  return { only: planned.filter((n) => fit.includes(n) || again.includes(n)), keep, skipped, notes };
}

/** A stored rendition result with every field a master playlist entry needs, or undefined. */
function masterEntry(r: ResultRendition): RenditionResult | undefined {
  if (
    r.playlist === undefined ||
    r.bandwidth === undefined ||
    r.averageBandwidth === undefined ||
    r.codecs === undefined
  ) {
    return undefined;
  }
  return {
    name: r.name,
    kind: r.kind ?? (r.width ? 'video' : 'audio'),
    width: r.width,
    height: r.height,
    bandwidth: r.bandwidth,
    averageBandwidth: r.averageBandwidth,
    codecs: r.codecs,
    frameRate: r.frameRate,
    durationS: r.durationS ?? 0,
    bytes: r.bytes ?? 0,
    segments: r.segments ?? 0,
    playlist: r.playlist,
    ...(r.mp4 ? { mp4: r.mp4 } : {}),
  };
}

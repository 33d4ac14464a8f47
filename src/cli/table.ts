/**
 * The text shapes `vidmesh encode` and `vidmesh submit --wait` share: the progress bar line and the
 * end-of-run rendition table, so a local encode and a coordinator job read the same.
 */

/** One rendition row; fields a remote result may lack print as `-`. Sizes bytes, bitrates bits/s, seconds. */
export interface RenditionRow {
  name: string;
  width?: number;
  height?: number;
  bytes?: number;
  averageBandwidth?: number;
  bandwidth?: number;
  durationS?: number;
  codecs?: string;
}

/** Aligned columns: rendition, resolution, size (MB), average and peak bitrate (kb/s), duration, codecs. */
export function renditionTable(renditions: readonly RenditionRow[]): string[] {
  const num = (v: number | undefined, f: (n: number) => string): string => (v === undefined ? '-' : f(v));
  const rows = [['rendition', 'resolution', 'size', 'avg bitrate', 'peak bitrate', 'duration', 'codecs']];
  for (const x of renditions) {
    rows.push([
      x.name,
      x.width ? `${x.width}x${x.height}` : 'audio',
      num(x.bytes, (n) => `${(n / 1e6).toFixed(2)} MB`),
      num(x.averageBandwidth, (n) => `${(n / 1e3).toFixed(0)} kb/s`),
      num(x.bandwidth, (n) => `${(n / 1e3).toFixed(0)} kb/s`),
      num(x.durationS, (n) => `${n.toFixed(2)} s`),
      x.codecs ?? '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * One carriage-returned progress line for a TTY: `[bar] percent  label  fps  × realtime  ETA`. Fields
 * not known (a coordinator job reports no fps) are left out rather than shown as zero.
 */
export function progressBar(p: {
  percent: number;
  label?: string;
  fps?: number;
  speed?: number;
  etaS?: number | null;
}): string {
  const width = 30;
  const filled = Math.round((Math.min(100, Math.max(0, p.percent)) / 100) * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const parts = [`\r[${bar}] ${p.percent.toFixed(1).padStart(5)}%`];
  if (p.label) parts.push(p.label.padEnd(11));
  if (p.fps !== undefined) parts.push(`${p.fps.toFixed(0)} fps`);
  if (p.speed !== undefined) parts.push(`${p.speed.toFixed(2)}x`);
  parts.push(`ETA ${p.etaS == null ? '--' : `${Math.ceil(p.etaS)}s`}`);
  return `${parts.join('  ')} `;
}

/**
 * A strict parser of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), for tests. The npm
 * parser (`parse-prometheus-text-format`, unmaintained since 2020) drops the labels, sum and count of
 * labelled histograms, so it cannot check what vidmesh exports. Throws on anything malformed: bad
 * names, label syntax or escapes, values, a sample before its `# TYPE`, a TYPE given twice, a sample
 * repeated, histogram buckets without `le`, decreasing buckets or `+Inf` bucket != `_count`.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, line: number): number {
  if (s === '+Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (s === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value ${s}`);
  return Number(s);
}

function parseLabels(text: string, line: number): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let i = 0;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return [labels, text.slice(i + 1)];
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!m) throw new Error(`line ${line}: bad label name`);
    const name = m[0];
    i += name.length;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new Error(`line ${line}: expected =" after ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i++];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i++];
        if (e === 'n') value += '\n';
        else if (e === '\\' || e === '"') value += e;
        else throw new Error(`line ${line}: bad escape \\${e}`);
      } else value += c;
    }
    if (name in labels) throw new Error(`line ${line}: label ${name} repeated`);
    labels[name] = value;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`line ${line}: expected , or }`);
  }
}

/** Parses exposition text; see the module comment for what is refused. */
export function parseMetrics(text: string) {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const familyOf = (name: string): string | undefined => {
    if (types.has(name)) return name;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
      const t = base ? types.get(base) : undefined;
      if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
    }
    return undefined;
  };
  text.split('\n').forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // a plain comment
      if (!NAME.test(m[2]!)) throw new Error(`line ${line}: bad metric name ${m[2]}`);
      if (m[1] === 'TYPE') {
        if (types.has(m[2]!)) throw new Error(`line ${line}: TYPE of ${m[2]} given twice`);
        if (!TYPES.has(m[3]!)) throw new Error(`line ${line}: unknown type ${m[3]}`);
        if (samples.some((s) => familyOf(s.name) === m[2]))
          throw new Error(`line ${line}: TYPE after samples`);
        types.set(m[2]!, m[3]!);
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(raw);
    if (!m) throw new Error(`line ${line}: bad sample`);
    const name = m[1]!;
    let rest = m[2]!;
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) [labels, rest] = parseLabels(rest.slice(1), line);
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2 || !rest.startsWith(' '))
      throw new Error(`line ${line}: bad sample`);
    const value = parseValue(parts[0]!, line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${line}: bad timestamp`);
    if (!familyOf(name)) throw new Error(`line ${line}: sample ${name} without a TYPE`);
    if (name.endsWith('_bucket') && !('le' in labels)) throw new Error(`line ${line}: bucket without le`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${line}: sample ${key} repeated`);
    seen.add(key);
    samples.push({ name, labels, value });
  });
  // Histogram consistency: cumulative buckets, +Inf bucket == _count.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Array<[number, number]>>();
    for (const s of samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort());
      series.set(k, [...(series.get(k) ?? []), [parseValue(le!, 0), s.value]]);
    }
    for (const [k, buckets] of series) {
      buckets.sort((a, b) => a[0] - b[0]);
      buckets.forEach(([, v], i) => {
        if (i > 0 && v < buckets[i - 1]![1]) throw new Error(`${family}${k}: buckets decrease`);
      });
      const count = samples.find(
        (x) => x.name === `${family}_count` && JSON.stringify(Object.entries(x.labels).sort()) === k,
      );
      const inf = buckets.at(-1);
      if (!inf || inf[0] !== Number.POSITIVE_INFINITY || count?.value !== inf[1]) {
        throw new Error(`${family}${k}: +Inf bucket does not match _count`);
      }
    }
  }
  const matches = (labels: Record<string, string>, want: Record<string, string>) =>
    Object.entries(want).every(([k, v]) => labels[k] === v);
  return {
    samples,
    has: (name: string) => types.has(name),
    type: (name: string) => types.get(name),
    /** Sum over matching samples of a counter/gauge, or of the `_count` of a histogram. */
    value(name: string, labels: Record<string, string> = {}): number {
      const t = types.get(name);
      if (!t) throw new Error(`no metric ${name}`);
      const series = t === 'histogram' || t === 'summary' ? `${name}_count` : name;
      return samples
        .filter((s) => s.name === series && matches(s.labels, labels))
        .reduce((sum, s) => sum + s.value, 0);
    },
  };
}

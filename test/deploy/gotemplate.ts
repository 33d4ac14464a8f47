import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml, stringify as toYamlText } from 'yaml';

/**
 * A small renderer for the Go-template subset that deploy/helm/vidmesh uses, so the chart can be
 * rendered and validated without the helm binary (none runs on the test machines, and npm has no
 * well-kept Helm-compatible renderer). It is NOT Helm: anything outside this subset throws, so a
 * template that strays from it fails the test instead of rendering wrongly.
 *
 * Supported: `{{ pipeline }}`, `{{- … -}}` whitespace trimming, `{{/* comments *\/}}`,
 * `if`/`else`/`end`, `with`/`else`/`end` (rebinds `.`), `define` + `include`, field chains on `.`
 * (`.Values.a.b`, `.Release.Name`, `.Chart.AppVersion`), string and number literals, parentheses,
 * pipes, and the functions quote, default, required, toYaml, nindent, indent, b64enc, printf (%s %v
 * %d), trunc, trimSuffix, and, or, not, eq, add. Truthiness is Go's (false, 0, nil, "", empty list
 * or map are false). Not supported: range, variables (`$x :=`), `$`, `else if`, tpl, lookup.
 */

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; expr: string }
  | { kind: 'if' | 'with'; expr: string; body: Node[]; orElse: Node[] };

interface RawToken {
  kind: 'text' | 'action';
  value: string;
}

function lex(src: string): RawToken[] {
  const tokens: RawToken[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open === -1 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open === -1) {
      tokens.push({ kind: 'text', value: text });
      break;
    }
    const close = src.indexOf('}}', open);
    if (close === -1) throw new Error('unterminated {{');
    let body = src.slice(open + 2, close);
    if (/^-\s/.test(body)) {
      text = text.replace(/\s+$/, '');
      body = body.slice(1);
    }
    trimNext = /\s-$/.test(body);
    if (trimNext) body = body.slice(0, -1);
    tokens.push({ kind: 'text', value: text });
    tokens.push({ kind: 'action', value: body.trim() });
    i = close + 2;
  }
  return tokens.filter((t) => !(t.kind === 'text' && t.value === ''));
}

/** Parses tokens into a tree; `defines` collects `{{ define "name" }}` bodies. */
function parseTree(tokens: RawToken[], defines: Map<string, Node[]>): Node[] {
  let pos = 0;
  function block(stopAt: Array<'end' | 'else'>): { nodes: Node[]; stop: 'end' | 'else' | 'eof' } {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++] as RawToken;
      if (t.kind === 'text') {
        nodes.push({ kind: 'text', text: t.value });
        continue;
      }
      const a = t.value;
      if (a.startsWith('/*')) continue;
      if (a === 'end' || a === 'else') {
        if (!stopAt.includes(a)) throw new Error(`unexpected {{ ${a} }}`);
        return { nodes, stop: a };
      }
      const m = /^(if|with|define|range|else if|template|block)\s+(.*)$/s.exec(a);
      if (m) {
        const [, kw, rest] = m as unknown as [string, string, string];
        if (kw === 'define') {
          const name = JSON.parse(rest.trim()) as string;
          const body = block(['end']);
          defines.set(name, body.nodes);
          continue;
        }
        if (kw !== 'if' && kw !== 'with') throw new Error(`unsupported template action: ${kw}`);
        const thenPart = block(['end', 'else']);
        const elsePart = thenPart.stop === 'else' ? block(['end']).nodes : [];
        nodes.push({ kind: kw, expr: rest, body: thenPart.nodes, orElse: elsePart });
        continue;
      }
      if (/^\$|:=/.test(a)) throw new Error(`unsupported: variables (${a})`);
      nodes.push({ kind: 'action', expr: a });
    }
    if (stopAt.length > 0) throw new Error('missing {{ end }}');
    return { nodes, stop: 'eof' };
  }
  return block([]).nodes;
}

type Tok =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'field'; v: string[] }
  | { t: 'ident'; v: string }
  | { t: '(' | ')' | '|' };

function tokenizeExpr(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')' || c === '|') {
      out.push({ t: c });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      out.push({ t: 'str', v: JSON.parse(s.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === '.') {
      const m = /^\.([A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*)?/.exec(s.slice(i)) as RegExpExecArray;
      out.push({ t: 'field', v: m[1] ? m[1].split('.') : [] });
      i += m[0].length;
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?\d+/.exec(s.slice(i)) as RegExpExecArray;
      out.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z]/.test(c)) {
      const m = /^[A-Za-z]\w*/.exec(s.slice(i)) as RegExpExecArray;
      out.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else throw new Error(`unexpected ${JSON.stringify(c)} in ${JSON.stringify(s)}`);
  }
  return out;
}

/** Go template truthiness. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

const empty = (v: unknown) => !truthy(v);
const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const indentLines = (n: number, s: string) =>
  s
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

export class Renderer {
  readonly defines = new Map<string, Node[]>();

  private readonly funcs: Record<string, (...args: unknown[]) => unknown> = {
    quote: (v) => JSON.stringify(str(v)),
    default: (d, v) => (empty(v) ? d : v),
    required: (msg, v) => {
      if (v === undefined || v === null || v === '') throw new Error(`required: ${str(msg)}`);
      return v;
    },
    toYaml: (v) => toYamlText(v ?? null).replace(/\n$/, ''),
    nindent: (n, s) => `\n${indentLines(Number(n), str(s))}`,
    indent: (n, s) => indentLines(Number(n), str(s)),
    b64enc: (s) => Buffer.from(str(s)).toString('base64'),
    printf: (fmt, ...args) => {
      let k = 0;
      return str(fmt).replace(/%[svd]/g, () => str(args[k++]));
    },
    trunc: (n, s) => str(s).slice(0, Number(n)),
    trimSuffix: (suffix, s) => (str(s).endsWith(str(suffix)) ? str(s).slice(0, -str(suffix).length) : str(s)),
    and: (...xs) => xs.find((x) => !truthy(x)) ?? xs[xs.length - 1],
    or: (...xs) => xs.find((x) => truthy(x)) ?? xs[xs.length - 1],
    not: (x) => !truthy(x),
    eq: (a, b) => a === b,
    add: (...xs) => xs.reduce((s: number, x) => s + Number(x), 0),
    include: (name, data) => this.renderNodes(this.define(str(name)), data),
  };

  /** Loads `define`s from a helpers file (its text output is dropped, as in Helm). */
  load(src: string): void {
    parseTree(lex(src), this.defines);
  }

  render(src: string, data: unknown): string {
    return this.renderNodes(parseTree(lex(src), this.defines), data);
  }

  private define(name: string): Node[] {
    const d = this.defines.get(name);
    if (!d) throw new Error(`include: no template ${JSON.stringify(name)}`);
    return d;
  }

  private renderNodes(nodes: Node[], dot: unknown): string {
    let out = '';
    for (const n of nodes) {
      if (n.kind === 'text') out += n.text;
      else if (n.kind === 'action') out += str(this.evalPipeline(tokenizeExpr(n.expr), dot));
      else {
        const v = this.evalPipeline(tokenizeExpr(n.expr), dot);
        if (truthy(v)) out += this.renderNodes(n.body, n.kind === 'with' ? v : dot);
        else out += this.renderNodes(n.orElse, dot);
      }
    }
    return out;
  }

  /** pipeline := command ('|' command)*; each later command gets the previous value as last argument. */
  private evalPipeline(toks: Tok[], dot: unknown): unknown {
    const commands: Tok[][] = [[]];
    let depth = 0;
    for (const t of toks) {
      if (t.t === '(') depth++;
      if (t.t === ')') depth--;
      if (t.t === '|' && depth === 0) commands.push([]);
      else (commands[commands.length - 1] as Tok[]).push(t);
    }
    let value: unknown;
    commands.forEach((cmd, k) => {
      value = this.evalCommand(cmd, dot, k === 0 ? [] : [value]);
    });
    return value;
  }

  private evalCommand(toks: Tok[], dot: unknown, piped: unknown[]): unknown {
    const args: unknown[] = [];
    let fn: string | undefined;
    let i = 0;
    const first = toks[0];
    if (first?.t === 'ident' && !['true', 'false', 'nil'].includes(first.v)) {
      fn = first.v;
      i = 1;
    }
    while (i < toks.length) {
      const t = toks[i] as Tok;
      if (t.t === '(') {
        let depth = 1;
        let j = i + 1;
        while (depth > 0) {
          const tj = toks[j++];
          if (!tj) throw new Error('unbalanced (');
          if (tj.t === '(') depth++;
          if (tj.t === ')') depth--;
        }
        args.push(this.evalPipeline(toks.slice(i + 1, j - 1), dot));
        i = j;
        continue;
      }
      if (t.t === 'str' || t.t === 'num') args.push(t.v);
      else if (t.t === 'field')
        args.push(t.v.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], dot));
      else if (t.t === 'ident' && t.v === 'true') args.push(true);
      else if (t.t === 'ident' && t.v === 'false') args.push(false);
      else if (t.t === 'ident' && t.v === 'nil') args.push(null);
      else throw new Error(`unexpected token ${JSON.stringify(t)}`);
      i++;
    }
    if (fn === undefined) {
      if (args.length + piped.length !== 1) throw new Error('a value cannot take arguments');
      return args[0] ?? piped[0];
    }
    const f = this.funcs[fn];
    if (!f) throw new Error(`unsupported function ${fn}`);
    return f(...args, ...piped);
  }
}

/** One rendered manifest: the template file it came from and its parsed YAML document. */
export interface Manifest {
  template: string;
  doc: Record<string, unknown>;
}

/**
 * `helm template` for a chart directory with this subset: values.yaml deep-merged with `values`,
 * `.Release` {Name, Namespace, Service}, `.Chart` from Chart.yaml; `_*.tpl` files provide defines;
 * every other template is rendered and split into its YAML documents (empty ones dropped).
 */
export function renderChart(
  chartDir: string,
  options: { values?: Record<string, unknown>; releaseName?: string; namespace?: string } = {},
): Manifest[] {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const defaults = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const data = {
    Values: deepMerge(defaults, options.values ?? {}),
    Release: {
      Name: options.releaseName ?? 'test',
      Namespace: options.namespace ?? 'default',
      Service: 'Helm',
    },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  const r = new Renderer();
  const dir = join(chartDir, 'templates');
  const files = readdirSync(dir).sort();
  for (const f of files.filter((f) => f.startsWith('_'))) r.load(readFileSync(join(dir, f), 'utf8'));
  const out: Manifest[] = [];
  for (const f of files.filter((f) => !f.startsWith('_') && /\.ya?ml$/.test(f))) {
    const text = r.render(readFileSync(join(dir, f), 'utf8'), data);
    for (const part of text.split(/^---\s*$/m)) {
      const doc = parseYaml(part) as Record<string, unknown> | null;
      if (doc) out.push({ template: basename(f), doc });
    }
  }
  return out;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const av = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && av && typeof av === 'object' && !Array.isArray(av)
        ? deepMerge(av as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

import { isSealed, type SecretBox } from '../identity/index.js';

/**
 * Job-spec secrets at rest: storage credentials, request headers and passwords of `source`,
 * `destination` and every `outputs[].destination`, and `webhook.secret` are sealed with the server's secret box (AES-256-GCM,
 * docs/identity.md) before the spec is stored, and opened only when a claim hands the spec to the
 * encoder that holds its lease. Each value is bound to its field path (AAD), so a sealed value moved
 * to another field does not open. Passwords inside URL userinfo are not sealed (use `credentials`).
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One storage ref with its secrets mapped; `at` is its field path (the AAD prefix). */
function mapRef(ref: Obj, at: string, fn: (value: string, path: string) => string): Obj {
  const copy: Obj = { ...ref };
  for (const group of ['credentials', 'headers'] as const) {
    const g = ref[group];
    if (!isObj(g)) continue;
    copy[group] = Object.fromEntries(
      Object.entries(g).map(([k, v]) => [k, typeof v === 'string' ? fn(v, `${at}.${group}.${k}`) : v]),
    );
  }
  if (typeof ref.password === 'string') copy.password = fn(ref.password, `${at}.password`);
  return copy;
}

function mapSecrets(spec: unknown, fn: (value: string, path: string) => string): unknown {
  if (!isObj(spec)) return spec;
  const out: Obj = { ...spec };
  for (const side of ['source', 'destination'] as const) {
    const ref = spec[side];
    if (isObj(ref)) out[side] = mapRef(ref, side, fn);
  }
  // Each output's destination, bound to its output's name (outputs may be listed in any order).
  if (Array.isArray(spec.outputs)) {
    out.outputs = spec.outputs.map((o: unknown) =>
      isObj(o) && isObj(o.destination) && typeof o.name === 'string'
        ? { ...o, destination: mapRef(o.destination, `outputs.${o.name}.destination`, fn) }
        : o,
    );
  }
  if (isObj(spec.webhook) && typeof spec.webhook.secret === 'string') {
    out.webhook = { ...spec.webhook, secret: fn(spec.webhook.secret, 'webhook.secret') };
  }
  return out;
}

/** The spec with every secret sealed (values already sealed are kept). Pure apart from the IVs. */
export function sealSpecSecrets<T>(box: SecretBox, spec: T): T {
  return mapSecrets(spec, (v, path) => (isSealed(v) ? v : box.seal(v, path))) as T;
}

/**
 * The spec with every sealed secret opened. Throws `SecretBoxError` (`secret_unsealable`, 500) when a
 * value was sealed with another server key (set the same `VIDMESH_SECRET_KEY` on every coordinator).
 */
export function openSpecSecrets<T>(box: SecretBox, spec: T): T {
  return mapSecrets(spec, (v, path) => (isSealed(v) ? box.open(v, path) : v)) as T;
}

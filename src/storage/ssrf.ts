import { lookup as dnsLookup, promises as dnsPromises, type LookupAddress } from 'node:dns';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { HostNotFoundError, SsrfBlockedError } from './errors.js';

/**
 * Which otherwise-forbidden network targets a context may reach.
 * - `allowHosts`: host names (case-insensitive, exact) or IP literals that are always allowed, e.g.
 *   `['127.0.0.1']` in tests or the coordinator's own host for in-process encoders.
 * - `allowCidrs`: address ranges that are allowed, e.g. `['10.1.0.0/16']` for an internal MinIO.
 */
export interface SsrfPolicy {
  allowHosts?: readonly string[];
  allowCidrs?: readonly string[];
}

// Non-public ranges (IANA special-purpose registries, RFC 6890 and successors). Cloud metadata
// endpoints (169.254.169.254, fd00:ec2::254) fall inside link-local and ULA ranges.
const FORBIDDEN_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT (RFC 6598)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];
const FORBIDDEN_V6: Array<[string, number]> = [
  ['::', 128],
  ['::1', 128],
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['2001::', 32], // Teredo: embeds arbitrary IPv4
  ['fc00::', 7], // unique local (incl. fd00:ec2::254)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local
  ['ff00::', 8], // multicast
];

const forbidden = new BlockList();
for (const [a, p] of FORBIDDEN_V4) forbidden.addSubnet(a, p, 'ipv4');
for (const [a, p] of FORBIDDEN_V6) forbidden.addSubnet(a, p, 'ipv6');

/**
 * IPv4 address embedded in an IPv6 form that routes to it: IPv4-mapped `::ffff:a.b.c.d`,
 * IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and 6to4 `2002:AABB:CCDD::/48`. Null if none.
 */
function embeddedV4(addr: string): string | null {
  const words = expandV6(addr);
  if (!words) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  if (zero(0, 5) && words[5] === 0xffff) return v4(words[6]!, words[7]!);
  if (zero(0, 6) && (words[6] !== 0 || words[7]! > 1)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!);
  return null;
}

/** The eight 16-bit words of an IPv6 address (dotted IPv4 tail allowed), or null if not IPv6. */
function expandV6(addr: string): number[] | null {
  if (isIP(addr) !== 6) return null;
  let s = addr.split('%')[0]!.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const o = dotted[1]!.split('.').map(Number);
    s =
      s.slice(0, -dotted[1]!.length) +
      ((o[0]! << 8) | o[1]!).toString(16) +
      ':' +
      ((o[2]! << 8) | o[3]!).toString(16);
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  const words = [...h, ...fill, ...t].map((w) => Number.parseInt(w, 16));
  return words.length === 8 ? words : null;
}

function compileAllow(policy: SsrfPolicy): { hosts: Set<string>; list: BlockList } {
  const hosts = new Set<string>();
  const list = new BlockList();
  for (const h of policy.allowHosts ?? []) {
    const host = stripBrackets(h.toLowerCase());
    const fam = isIP(host);
    if (fam === 4) list.addAddress(host, 'ipv4');
    else if (fam === 6) list.addAddress(host, 'ipv6');
    else hosts.add(host);
  }
  for (const c of policy.allowCidrs ?? []) {
    const [addr, bits] = c.split('/') as [string, string | undefined];
    const fam = isIP(addr);
    if (fam === 0) throw new SsrfBlockedError(`invalid CIDR in allowlist: ${c}`);
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    list.addSubnet(addr, bits === undefined ? (fam === 4 ? 32 : 128) : Number(bits), type);
  }
  return { hosts, list };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * True when `address` (an IP literal) is not a public unicast address: loopback, private, CGNAT,
 * link-local, metadata, multicast, unspecified, documentation or reserved, including IPv4 addresses
 * hidden in IPv6 forms (mapped, compatible, NAT64, 6to4).
 */
export function isForbiddenAddress(address: string): boolean {
  const ip = stripBrackets(address).split('%')[0]!;
  const fam = isIP(ip);
  if (fam === 0) return true;
  if (fam === 6) {
    const v4 = embeddedV4(ip);
    if (v4 !== null && forbidden.check(v4, 'ipv4')) return true;
    return forbidden.check(ip, 'ipv6');
  }
  return forbidden.check(ip, 'ipv4');
}

function addressAllowed(address: string, allow: { list: BlockList }): boolean {
  const fam = isIP(address);
  if (fam === 0) return false;
  if (allow.list.check(address, fam === 4 ? 'ipv4' : 'ipv6')) return true;
  const v4 = fam === 6 ? embeddedV4(address) : null;
  return v4 !== null && allow.list.check(v4, 'ipv4');
}

/**
 * True when `policy` names `host` (a host name or IP literal, brackets allowed) itself: an exact host
 * entry, or an address inside an allowed CIDR. No DNS: for checks on what a URL literally names.
 */
export function isAllowedByPolicy(host: string, policy: SsrfPolicy): boolean {
  const h = stripBrackets(host.toLowerCase());
  const allow = compileAllow(policy);
  return allow.hosts.has(h) || addressAllowed(h, allow);
}

/**
 * Checks a set of resolved addresses for `host` and throws SsrfBlockedError when any is forbidden
 * and not allowlisted. Every address is checked (not only the first) because the socket layer may
 * try any of them (Happy Eyeballs).
 */
function checkAddresses(host: string, addresses: readonly string[], policy: SsrfPolicy): void {
  const allow = compileAllow(policy);
  if (allow.hosts.has(host.toLowerCase())) return;
  for (const a of addresses) {
    if (isForbiddenAddress(a) && !addressAllowed(a, allow)) {
      throw new SsrfBlockedError(`refusing to connect to ${host}: it resolves to non-public address ${a}`, {
        details: { host, address: a },
      });
    }
  }
}

/**
 * A `dns.lookup`-compatible function for `net.connect`/`http.Agent` that resolves the host, refuses
 * forbidden addresses (see {@link isForbiddenAddress}) unless `policy` allows them, and hands the
 * checked addresses to the socket. Because the check and the connect use the same answer, a DNS
 * rebinding between check and connect is impossible (the address is pinned).
 */
export function guardedLookup(policy: SsrfPolicy): LookupFunction {
  return ((hostname: string, options: unknown, callback: unknown) => {
    const cb = (typeof options === 'function' ? options : callback) as (
      err: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void;
    const opts = (typeof options === 'object' && options !== null ? options : {}) as {
      all?: boolean;
      family?: number;
    };
    dnsLookup(hostname, { all: true, family: opts.family ?? 0 }, (err, addresses) => {
      if (err) return cb(err, []);
      try {
        checkAddresses(
          hostname,
          addresses.map((a) => a.address),
          policy,
        );
      } catch (e) {
        return cb(e as NodeJS.ErrnoException, []);
      }
      if (opts.all) return cb(null, addresses);
      const first = addresses[0];
      if (!first)
        return cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      cb(null, first.address, first.family);
    });
  }) as LookupFunction;
}

/**
 * Resolves the host of `url` and throws SsrfBlockedError when it is (or resolves to) a forbidden
 * address that `policy` does not allow. Returns the checked addresses (IP literals are returned as
 * is). Use before handing a URL to a client that cannot take {@link guardedLookup} (e.g. FTP), and
 * connect to the returned address to pin it.
 * @throws SsrfBlockedError, or the DNS error (ENOTFOUND) when the name does not resolve.
 */
export async function assertPublicDestination(url: string | URL, policy: SsrfPolicy): Promise<string[]> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const host = stripBrackets(u.hostname);
  if (isIP(host)) {
    checkAddresses(host, [host], policy);
    return [host];
  }
  let addresses: string[];
  try {
    addresses = (await dnsPromises.lookup(host, { all: true })).map((a) => a.address);
  } catch (err) {
    throw new HostNotFoundError(`host ${host} does not resolve`, {
      cause: err,
      details: { host, reason: (err as { code?: string }).code ?? 'lookup_failed' },
    });
  }
  checkAddresses(host, addresses, policy);
  return addresses;
}

/**
 * Node HTTP/HTTPS agents whose every connection goes through {@link guardedLookup}, so each hop of
 * a redirect chain is checked when it connects. IP-literal hosts bypass `lookup` in Node, so callers
 * must also run {@link assertPublicDestination} on every URL (httpRequest in this module does).
 * Pass them to the AWS SDK's NodeHttpHandler, webhook senders and anything else that speaks HTTP.
 */
export function createGuardedAgents(policy: SsrfPolicy): { http: HttpAgent; https: HttpsAgent } {
  const lookup = guardedLookup(policy);
  return {
    http: new HttpAgent({ keepAlive: true, lookup }),
    https: new HttpsAgent({ keepAlive: true, lookup }),
  };
}

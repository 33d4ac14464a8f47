import { ValidationError } from '../errors.js';
import { HIVE_ACCOUNT_RE } from './hive.js';

/**
 * The text an encoder operator signs with Hive Keychain (`requestSignBuffer(account, text, 'Posting')`)
 * to bind its did:key to a Hive account: payouts then go to that account only. Line-based so a person
 * can read what Keychain shows them. Pure.
 *
 * ```
 * vidmesh: bind encoder
 * did: did:key:z6Mk…
 * account: alice
 * issued: 2026-12-06T10:00:00.000Z
 * ```
 */
export function bindingStatement(did: string, account: string, issued: Date): string {
  return `vidmesh: bind encoder\ndid: ${did}\naccount: ${account}\nissued: ${issued.toISOString()}`;
}

/** Max age and future skew of a binding statement, ms. */
export const BINDING_MAX_AGE_MS = 10 * 60_000;

/**
 * Reads a binding statement and checks it names `did` and `account` and was issued within
 * {@link BINDING_MAX_AGE_MS} of `now`. @throws ValidationError naming what is wrong
 */
export function parseBindingStatement(
  text: string,
  expect: { did: string; account: string },
  now: Date,
): void {
  const m = /^vidmesh: bind encoder\ndid: (\S+)\naccount: (\S+)\nissued: (\S+)$/.exec(text);
  if (!m)
    throw new ValidationError('hive.statement: not a vidmesh binding statement (see docs/marketplace.md)');
  const [, did, account, issued] = m as unknown as [string, string, string, string];
  if (did !== expect.did) throw new ValidationError('hive.statement: names another did');
  if (account !== expect.account || !HIVE_ACCOUNT_RE.test(account)) {
    throw new ValidationError('hive.statement: names another Hive account');
  }
  const at = Date.parse(issued);
  if (!Number.isFinite(at) || Math.abs(now.getTime() - at) > BINDING_MAX_AGE_MS) {
    throw new ValidationError('hive.statement: issued more than 10 minutes from now');
  }
}

/**
 * The text a user signs with Hive Keychain (`requestSignBuffer(account, text, 'Posting')`) to verify
 * the Hive account its withdrawals go to: it names the payer (the API key's tenant), so a signature
 * binds that account to that payer only. Pure.
 *
 * ```
 * vidmesh: bind wallet
 * payer: acme
 * account: alice
 * issued: 2026-12-06T10:00:00.000Z
 * ```
 */
export function walletBindingStatement(payer: string, account: string, issued: Date): string {
  return `vidmesh: bind wallet\npayer: ${payer}\naccount: ${account}\nissued: ${issued.toISOString()}`;
}

/**
 * Checks a wallet binding statement names `payer` and `account` and was issued within
 * {@link BINDING_MAX_AGE_MS} of `now`. @throws ValidationError naming what is wrong
 */
export function parseWalletBindingStatement(
  text: string,
  expect: { payer: string; account: string },
  now: Date,
): void {
  const m = /^vidmesh: bind wallet\npayer: (\S+)\naccount: (\S+)\nissued: (\S+)$/.exec(text);
  if (!m)
    throw new ValidationError('statement: not a vidmesh wallet binding statement (docs/marketplace.md)');
  const [, payer, account, issued] = m as unknown as [string, string, string, string];
  if (payer !== expect.payer) throw new ValidationError('statement: names another payer');
  if (account !== expect.account || !HIVE_ACCOUNT_RE.test(account)) {
    throw new ValidationError('statement: names another Hive account');
  }
  const at = Date.parse(issued);
  if (!Number.isFinite(at) || Math.abs(now.getTime() - at) > BINDING_MAX_AGE_MS) {
    throw new ValidationError('statement: issued more than 10 minutes from now');
  }
}

/** Max age of a sign-in statement, ms. */
export const SIGN_IN_MAX_AGE_MS = 5 * 60_000;

/**
 * The text a dashboard user signs with Hive Keychain to sign in (the coordinator issues it with a fresh
 * nonce; the user's Keychain shows it before signing). Pure.
 */
export function signInStatement(account: string, origin: string, issued: Date, nonce: string): string {
  return `vidmesh: sign in\naccount: ${account}\norigin: ${origin}\nissued: ${issued.toISOString()}\nnonce: ${nonce}`;
}

/**
 * Checks a sign-in statement: it names `account` and `origin` and was issued within
 * {@link SIGN_IN_MAX_AGE_MS} of `now`. Returns its nonce (the caller spends it once) and issue time.
 * @throws ValidationError naming what is wrong
 */
export function parseSignInStatement(
  text: string,
  expect: { account: string; origin: string },
  now: Date,
): { nonce: string; issued: Date } {
  const m =
    /^vidmesh: sign in\naccount: (\S+)\norigin: (\S+)\nissued: (\S+)\nnonce: ([A-Za-z0-9_-]{16,64})$/.exec(
      text,
    );
  if (!m) throw new ValidationError('message: not a vidmesh sign-in statement');
  const [, account, origin, issued, nonce] = m as unknown as [string, string, string, string, string];
  if (account !== expect.account) throw new ValidationError('message: names another account');
  if (origin !== expect.origin) throw new ValidationError('message: issued for another site');
  const at = Date.parse(issued);
  if (!Number.isFinite(at) || at > now.getTime() + 30_000 || now.getTime() - at > SIGN_IN_MAX_AGE_MS) {
    throw new ValidationError('message: expired, sign in again');
  }
  return { nonce, issued: new Date(at) };
}

/**
 * The canonical request a Hive user signs with Keychain to send one API request
 * (`Authorization: HiveKeychain account="…", issued="…", nonce="…", signature="…"`): the method, the path
 * with its query, the SHA-256 of the exact body bytes (hex; of nothing for no body), the time and a
 * one-time nonce. Pure.
 */
export function canonicalHiveRequest(r: {
  account: string;
  method: string;
  path: string;
  bodySha256: string;
  issued: string;
  nonce: string;
}): string {
  return [
    'vidmesh: request',
    `account: ${r.account}`,
    `method: ${r.method.toUpperCase()}`,
    `path: ${r.path}`,
    `body-sha256: ${r.bodySha256}`,
    `issued: ${r.issued}`,
    `nonce: ${r.nonce}`,
  ].join('\n');
}

/** The `HiveKeychain` Authorization header's parameters, or null when it is not that scheme. Pure. */
export function parseHiveAuthorization(
  header: string,
): { account: string; issued: string; nonce: string; signature: string } | null {
  const m = /^HiveKeychain\s+(.+)$/i.exec(header.trim());
  if (!m) return null;
  const params: Record<string, string> = {};
  for (const part of m[1]!.split(',')) {
    const kv = /^\s*([a-z]+)="([^"]*)"\s*$/.exec(part);
    if (!kv) return null;
    params[kv[1]!] = kv[2]!;
  }
  const { account, issued, nonce, signature } = params;
  if (!account || !issued || !nonce || !signature) return null;
  if (!HIVE_ACCOUNT_RE.test(account) || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) return null;
  return { account, issued, nonce, signature };
}

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

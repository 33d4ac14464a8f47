import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { NonceStore } from '../../identity/index.js';
import {
  canonicalHiveRequest,
  type HiveAccounts,
  HiveSignatureError,
  parseHiveAuthorization,
} from '../../market/index.js';
import type { Principal, SignedRequestAuthenticator } from './auth.js';
import { hivePrincipal } from './session.js';

/** Seconds a Keychain-signed request's `issued` may be from the coordinator's clock. */
export const HIVE_REQUEST_SKEW_S = 300;

/**
 * Hive Keychain signed requests (`Authorization: HiveKeychain account="alice", issued="<ISO>",
 * nonce="…", signature="<hex>"`): the signature is Keychain's `requestSignBuffer(account,
 * canonicalHiveRequest(…), 'Posting')` over the method, path, SHA-256 of the raw body, time and nonce,
 * checked against the account's posting keys (`condenser_api.get_accounts`, cached). Each nonce is
 * accepted once per account. The principal is the Hive user `hive:<account>` (submit, read).
 */
export function hiveRequestAuthenticator(options: {
  accounts: HiveAccounts;
  nonces: NonceStore;
  now?: () => Date;
}): SignedRequestAuthenticator {
  const now = options.now ?? (() => new Date());
  return {
    matches: (req) =>
      typeof req.headers.authorization === 'string' && /^HiveKeychain\s/i.test(req.headers.authorization),
    async authenticate(req: FastifyRequest, rawBody: Buffer): Promise<Principal> {
      const p = parseHiveAuthorization(String(req.headers.authorization));
      if (!p) throw new HiveSignatureError('malformed HiveKeychain authorization');
      const issued = Date.parse(p.issued);
      const t = now();
      if (!Number.isFinite(issued) || Math.abs(t.getTime() - issued) > HIVE_REQUEST_SKEW_S * 1000) {
        throw new HiveSignatureError('the signed request is too old or from the future');
      }
      const message = canonicalHiveRequest({
        account: p.account,
        method: req.method,
        path: req.url,
        bodySha256: createHash('sha256').update(rawBody).digest('hex'),
        issued: p.issued,
        nonce: p.nonce,
      });
      await options.accounts.verifyPosting(p.account, message, p.signature);
      const fresh = await options.nonces.claim(
        `hive:${p.account}`,
        p.nonce,
        new Date(issued + 2 * HIVE_REQUEST_SKEW_S * 1000),
        t,
      );
      if (!fresh) throw new HiveSignatureError('replayed request (nonce already used)');
      return hivePrincipal(p.account);
    },
  };
}

/** One body-signing authenticator out of several: the first whose header matches verifies. */
export function anySignedAuthenticator(
  list: readonly SignedRequestAuthenticator[],
): SignedRequestAuthenticator {
  return {
    matches: (req) => list.some((a) => a.matches(req)),
    authenticate: (req, rawBody) => {
      const a = list.find((x) => x.matches(req));
      if (!a) throw new HiveSignatureError('no signed-request scheme matches');
      return a.authenticate(req, rawBody);
    },
  };
}

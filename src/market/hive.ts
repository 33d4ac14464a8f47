import { cryptoUtils, PrivateKey, PublicKey, Signature, type Transaction } from '@hiveio/dhive';
import { HiveRpcError, HiveSignatureError } from './errors.js';
import { hiveAsset } from './money.js';

/**
 * The Hive side of the marketplace: a JSON-RPC 2.0 client of a Hive API node, HBD `transfer`
 * transactions signed with @hiveio/dhive, and verification of Hive Keychain signatures. Shapes follow
 * the Hive API docs (developers.hive.io/apidefinitions: `condenser_api.get_dynamic_global_properties`,
 * `get_accounts`, `get_account_history`, `get_transaction`, `broadcast_transaction_synchronous`).
 * No Hive node is reachable from the test machine: test/helpers/hive-node.ts stands in (docs/marketplace.md).
 */

/** Hive mainnet chain id and public key prefix (dhive's defaults); a testnet names its own. */
export const HIVE_MAINNET = {
  chainId: 'beeab0de00000000000000000000000000000000000000000000000000000000',
  addressPrefix: 'STM',
};

export interface HiveRpc {
  /**
   * Calls `method` (e.g. `condenser_api.get_accounts`) with positional `params`.
   * @throws HiveRpcError with `details.timeout` true when no answer came within the timeout (the call
   *   may still have taken effect), `details.rpc` the node's error object otherwise
   */
  call<T>(method: string, params: unknown[], options?: { timeoutMs?: number }): Promise<T>;
}

/** A JSON-RPC client of the Hive API node at `url` (fetch; `timeoutMs` default 10 000 per call). */
export function createHiveRpc(
  url: string,
  options: { timeoutMs?: number; fetch?: typeof fetch } = {},
): HiveRpc {
  const fetchImpl = options.fetch ?? fetch;
  let id = 0;
  return {
    async call<T>(method: string, params: unknown[], o: { timeoutMs?: number } = {}) {
      const timeoutMs = o.timeoutMs ?? options.timeoutMs ?? 10_000;
      let res: Response;
      try {
        res = await fetchImpl(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
        throw new HiveRpcError(`${method}: ${timeout ? 'no answer in time' : (err as Error).message}`, {
          cause: err,
          details: { timeout },
        });
      }
      let body: { result?: T; error?: { code?: number; message?: string } };
      try {
        body = (await res.json()) as typeof body;
      } catch (err) {
        throw new HiveRpcError(`${method}: HTTP ${res.status}, not JSON-RPC`, {
          cause: err,
          details: { timeout: false },
        });
      }
      if (body.error) {
        throw new HiveRpcError(`${method}: ${body.error.message ?? 'error'}`.slice(0, 500), {
          details: { timeout: false, rpc: { code: body.error.code, message: body.error.message } },
        });
      }
      return body.result as T;
    },
  };
}

/** `condenser_api.get_dynamic_global_properties`, the fields a transaction's TaPoS needs. */
export interface DynamicGlobalProperties {
  head_block_number: number;
  head_block_id: string;
  /** Chain time, `YYYY-MM-DDTHH:MM:SS` UTC without a zone. */
  time: string;
}

export interface TransferOp {
  from: string;
  to: string;
  /** milli-HBD. */
  amount: number;
  memo: string;
}

/**
 * An unsigned transaction of one HBD `transfer` op (Hive protocol `transfer_operation`), referencing
 * the head block (TaPoS: `ref_block_num` = low 16 bits of its number, `ref_block_prefix` = bytes 4..8
 * of its id, little endian) and expiring `expireS` seconds (≤ 3600) after the chain time. Pure.
 */
export function transferTransaction(
  op: TransferOp,
  props: DynamicGlobalProperties,
  expireS = 60,
): Transaction {
  const expiration = new Date(new Date(`${props.time}Z`).getTime() + expireS * 1000)
    .toISOString()
    .slice(0, -5);
  return {
    ref_block_num: props.head_block_number & 0xffff,
    ref_block_prefix: Buffer.from(props.head_block_id, 'hex').readUInt32LE(4),
    expiration,
    operations: [['transfer', { from: op.from, to: op.to, amount: hiveAsset(op.amount), memo: op.memo }]],
    extensions: [],
  };
}

/** Signs `tx` with the active key (WIF) for `chainId`; returns the signed transaction and its trx id. */
export function signTransaction(
  tx: Transaction,
  activeKeyWif: string,
  chainId: string = HIVE_MAINNET.chainId,
): { signed: Transaction & { signatures: string[] }; trxId: string } {
  const signed = cryptoUtils.signTransaction(
    tx,
    PrivateKey.fromString(activeKeyWif),
    Buffer.from(chainId, 'hex'),
  );
  return { signed, trxId: cryptoUtils.generateTrxId(tx) };
}

/** The public key (`STM…`) of a WIF private key, with `prefix`. @throws Error for a malformed WIF */
export function publicKeyOf(wif: string, prefix = HIVE_MAINNET.addressPrefix): string {
  return PrivateKey.fromString(wif).createPublic(prefix).toString();
}

/** A Hive account as `condenser_api.get_accounts` returns it (the fields used here). */
export interface HiveAccount {
  name: string;
  posting: { weight_threshold: number; key_auths: Array<[string, number]> };
  active: { weight_threshold: number; key_auths: Array<[string, number]> };
  hbd_balance: string;
}

/**
 * The public key that signed `message` (a Keychain `requestSignBuffer` result: a 65-byte compact
 * signature in hex over sha256 of the UTF-8 message), or null when the signature is malformed. Pure.
 */
export function signerOf(
  message: string,
  signatureHex: string,
  prefix = HIVE_MAINNET.addressPrefix,
): string | null {
  if (!/^[0-9a-f]{130}$/i.test(signatureHex)) return null;
  try {
    return Signature.fromString(signatureHex).recover(cryptoUtils.sha256(message), prefix).toString();
  } catch {
    return null;
  }
}

/** Keychain-style signature of `message` with a WIF key (what `requestSignBuffer` returns): for tests and tools. */
export function signBuffer(message: string, wif: string): string {
  return PrivateKey.fromString(wif).sign(cryptoUtils.sha256(message)).toString();
}

/** True when `key` parses as a Hive public key. */
export function isPublicKey(key: string): boolean {
  try {
    PublicKey.fromString(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * The posting and active public keys of Hive accounts, read through `condenser_api.get_accounts` and
 * cached for `ttlMs` (default 60 s): a key rotation on chain takes effect here within that time.
 */
export function createHiveAccounts(rpc: HiveRpc, options: { ttlMs?: number; now?: () => number } = {}) {
  const ttl = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { at: number; account: HiveAccount | null }>();
  const get = async (name: string): Promise<HiveAccount | null> => {
    const hit = cache.get(name);
    if (hit && now() - hit.at < ttl) return hit.account;
    const [account] = await rpc.call<HiveAccount[]>('condenser_api.get_accounts', [[name]]);
    const found = account && account.name === name ? account : null;
    cache.set(name, { at: now(), account: found });
    return found;
  };
  return {
    get,
    /**
     * Verifies a Keychain signature of `message` by `account`'s posting authority (any posting key
     * whose weight meets the threshold). @throws HiveSignatureError (401)
     */
    async verifyPosting(account: string, message: string, signatureHex: string): Promise<void> {
      const a = await get(account);
      if (!a) throw new HiveSignatureError(`unknown Hive account ${account}`);
      const signer = signerOf(message, signatureHex);
      const ok =
        signer !== null &&
        a.posting.key_auths.some(([key, weight]) => key === signer && weight >= a.posting.weight_threshold);
      if (!ok) throw new HiveSignatureError(`the signature is not by a posting key of ${account}`);
    },
  };
}
export type HiveAccounts = ReturnType<typeof createHiveAccounts>;

/** A Hive account name (Hive protocol: 3..16 chars, lowercase letters, digits, `-` and `.` segments). */
export const HIVE_ACCOUNT_RE = /^(?=.{3,16}$)[a-z][a-z0-9-]{1,}[a-z0-9](\.[a-z][a-z0-9-]{1,}[a-z0-9])*$/;

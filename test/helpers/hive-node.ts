import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { cryptoUtils, PrivateKey, Signature, type Transaction } from '@hiveio/dhive';
import { HIVE_MAINNET, signTransaction, transferTransaction } from '../../src/market/hive.js';
import { hiveAsset, parseHiveAsset } from '../../src/market/money.js';

/**
 * A stand-in Hive API node: no Hive node is reachable from the test machine, so this JSON-RPC 2.0
 * server implements the calls vidmesh makes with the request and response shapes of Hive's API docs
 * (developers.hive.io/apidefinitions, condenser_api):
 *
 * - `get_dynamic_global_properties` → `{head_block_number, head_block_id, time, …}`
 * - `get_accounts [[names]]` → accounts with `posting`/`active` authorities and `hbd_balance`
 * - `get_account_history [account, start, limit]` → `[[index, {trx_id, block, trx_in_block, op_in_trx,
 *   virtual_op, timestamp, op: ['transfer', {from, to, amount, memo}]}], …]`, ascending, the entries
 *   with index in `[start - limit, start]` (`start` -1: the newest), `limit` ≤ 1000
 * - `broadcast_transaction_synchronous [trx]` → `{id, block_num, trx_num, expired}`; refuses an expired
 *   or far-future expiration, an unknown TaPoS reference block, a duplicate, an insufficient HBD
 *   balance, and any transaction whose signatures (recovered with dhive over sha256(chain id ‖
 *   serialized trx)) do not include the `from` account's active key
 * - `get_transaction [trx_id]` → the transaction with `transaction_id`, `block_num`; unknown: an error
 *
 * Faults for retry tests: `hangNextBroadcasts(n)` applies a broadcast but never answers it (the
 * client times out not knowing whether it landed); `failNextBroadcasts(n)` answers an error without
 * applying it. `transfers` lists every applied transfer.
 */

interface StandInAccount {
  name: string;
  postingKey: PrivateKey;
  activeKey: PrivateKey;
  /** milli-HBD. */
  hbd: number;
}

type HistoryEntry = [
  number,
  {
    trx_id: string;
    block: number;
    trx_in_block: number;
    op_in_trx: number;
    virtual_op: boolean;
    timestamp: string;
    op: ['transfer', { from: string; to: string; amount: string; memo: string }];
  },
];

export interface AppliedTransfer {
  trxId: string;
  from: string;
  to: string;
  /** milli-HBD. */
  amount: number;
  memo: string;
  blockNum: number;
}

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const chainTime = (d: Date) => d.toISOString().slice(0, 19);

export interface HiveNode {
  url: string;
  chainId: string;
  /** Creates an account with fresh keys (WIFs returned) and `hbd` milli-HBD. */
  createAccount(name: string, hbd?: number): { posting: string; active: string };
  /** Signs (with `from`'s active key) and broadcasts a transfer through the node's own RPC, as a wallet would. */
  transfer(from: string, to: string, amount: number, memo: string): Promise<string>;
  balance(name: string): number;
  readonly transfers: readonly AppliedTransfer[];
  /** Every JSON-RPC method called, in order. */
  readonly calls: readonly string[];
  hangNextBroadcasts(n: number): void;
  failNextBroadcasts(n: number): void;
  close(): Promise<void>;
}

export async function startHiveNode(options: { chainId?: string } = {}): Promise<HiveNode> {
  const chainId = options.chainId ?? HIVE_MAINNET.chainId;
  const accounts = new Map<string, StandInAccount>();
  const history = new Map<string, HistoryEntry[]>();
  const txs = new Map<string, { tx: Transaction; blockNum: number }>();
  const blocks = new Map<number, string>();
  const transfers: AppliedTransfer[] = [];
  const calls: string[] = [];
  let head = 1000;
  let hang = 0;
  let fail = 0;
  const blockId = (n: number) => n.toString(16).padStart(8, '0') + randomBytes(16).toString('hex');
  blocks.set(head, blockId(head));
  const newBlock = () => {
    head++;
    blocks.set(head, blockId(head));
    return head;
  };

  const accountView = (a: StandInAccount) => ({
    id: a.name.length,
    name: a.name,
    owner: {
      weight_threshold: 1,
      account_auths: [],
      key_auths: [[a.activeKey.createPublic().toString(), 1]],
    },
    active: {
      weight_threshold: 1,
      account_auths: [],
      key_auths: [[a.activeKey.createPublic().toString(), 1]],
    },
    posting: {
      weight_threshold: 1,
      account_auths: [],
      key_auths: [[a.postingKey.createPublic().toString(), 1]],
    },
    memo_key: a.postingKey.createPublic().toString(),
    json_metadata: '',
    balance: '0.000 HIVE',
    hbd_balance: hiveAsset(a.hbd),
    savings_hbd_balance: '0.000 HBD',
  });

  const broadcast = (trx: Transaction & { signatures?: string[] }) => {
    const { signatures = [], ...unsigned } = trx;
    const now = Date.now();
    const exp = new Date(`${unsigned.expiration}Z`).getTime();
    if (!(exp > now))
      throw new RpcError(-32003, 'Assert Exception:now < trx.expiration: transaction expired');
    if (exp > now + 3600_000)
      throw new RpcError(-32003, 'Assert Exception:trx.expiration <= now + HIVE_MAX_TIME_UNTIL_EXPIRATION');
    const ref = [...blocks.entries()].find(([n]) => (n & 0xffff) === unsigned.ref_block_num);
    if (!ref || Buffer.from(ref[1], 'hex').readUInt32LE(4) !== unsigned.ref_block_prefix) {
      throw new RpcError(
        -32003,
        'Assert Exception:trx.ref_block_prefix == tapos_block_summary: TaPoS check failed',
      );
    }
    const trxId = cryptoUtils.generateTrxId(unsigned);
    if (txs.has(trxId))
      throw new RpcError(-32003, `Assert Exception:false: Duplicate transaction check failed ${trxId}`);
    const digest = cryptoUtils.transactionDigest(unsigned, Buffer.from(chainId, 'hex'));
    const signers = new Set<string>();
    for (const s of signatures) {
      try {
        signers.add(Signature.fromString(s).recover(digest).toString());
      } catch {
        throw new RpcError(-32003, 'Assert Exception: invalid signature');
      }
    }
    const ops = unsigned.operations.map((operation) => {
      const [type, body] = operation as unknown as [string, unknown];
      if (type !== 'transfer') throw new RpcError(-32003, `stand-in: operation ${type} not implemented`);
      const t = body as { from: string; to: string; amount: string; memo: string };
      const from = accounts.get(t.from);
      const to = accounts.get(t.to);
      if (!from || !to)
        throw new RpcError(-32003, `Assert Exception: unknown account ${from ? t.to : t.from}`);
      const amount = parseHiveAsset(t.amount);
      if (amount === null || amount <= 0)
        throw new RpcError(-32003, `stand-in: only HBD transfers (${t.amount})`);
      if (!signers.has(from.activeKey.createPublic().toString())) {
        throw new RpcError(-32003, `Missing Active Authority ${t.from}`);
      }
      return { from, to, amount, t };
    });
    const need = new Map<string, number>();
    for (const o of ops) need.set(o.from.name, (need.get(o.from.name) ?? 0) + o.amount);
    for (const [name, amount] of need) {
      if (accounts.get(name)!.hbd < amount) {
        throw new RpcError(
          -32003,
          `Assert Exception:_db.get_balance( from_account, o.amount.symbol ) >= o.amount: Account does not have sufficient funds for transfer.`,
        );
      }
    }
    const blockNum = newBlock();
    const timestamp = chainTime(new Date());
    ops.forEach((o, i) => {
      o.from.hbd -= o.amount;
      o.to.hbd += o.amount;
      const entry = {
        trx_id: trxId,
        block: blockNum,
        trx_in_block: 0,
        op_in_trx: i,
        virtual_op: false,
        timestamp,
        op: ['transfer', { ...o.t }] as ['transfer', typeof o.t],
      };
      for (const name of new Set([o.from.name, o.to.name])) {
        const h = history.get(name)!;
        h.push([h.length, entry]);
      }
      transfers.push({ trxId, from: o.from.name, to: o.to.name, amount: o.amount, memo: o.t.memo, blockNum });
    });
    txs.set(trxId, { tx: trx, blockNum });
    return { id: trxId, block_num: blockNum, trx_num: 0, expired: false };
  };

  const methods: Record<string, (params: unknown[]) => unknown> = {
    'condenser_api.get_dynamic_global_properties': () => ({
      head_block_number: head,
      head_block_id: blocks.get(head),
      time: chainTime(new Date()),
      current_witness: 'stand-in',
      last_irreversible_block_num: head,
    }),
    'condenser_api.get_accounts': (params) => {
      const names = params[0];
      if (!Array.isArray(names)) throw new RpcError(-32602, 'Invalid parameters');
      return names.flatMap((n) => {
        const a = accounts.get(String(n));
        return a ? [accountView(a)] : [];
      });
    },
    'condenser_api.get_account_history': (params) => {
      const [name, start, limit] = params as [string, number, number];
      if (typeof limit !== 'number' || limit < 0 || limit > 1000) {
        throw new RpcError(-32003, 'Assert Exception:limit <= 1000: limit of 1000');
      }
      const h = history.get(name) ?? [];
      const top = start < 0 ? h.length - 1 : Math.min(start, h.length - 1);
      if (start >= 0 && start < limit) throw new RpcError(-32003, 'Assert Exception:start >= limit');
      return h.filter(([i]) => i <= top && i >= top - limit);
    },
    'condenser_api.broadcast_transaction_synchronous': (params) => broadcast(params[0] as Transaction),
    'condenser_api.get_transaction': (params) => {
      const id = String(params[0]);
      const t = txs.get(id);
      if (!t) throw new RpcError(-32003, `Assert Exception:false: Unknown Transaction ${id}`);
      return { ...t.tx, transaction_id: id, block_num: t.blockNum, transaction_num: 0 };
    },
  };

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let id: unknown = null;
    const send = (body: object) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id, ...body }));
    };
    try {
      const rpc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        id: unknown;
        method: string;
        params?: unknown[];
      };
      id = rpc.id;
      calls.push(rpc.method);
      const fn = methods[rpc.method];
      if (!fn) throw new RpcError(-32601, `Could not find method ${rpc.method}`);
      const isBroadcast = rpc.method.endsWith('broadcast_transaction_synchronous');
      if (isBroadcast && fail > 0) {
        fail--;
        throw new RpcError(-32000, 'stand-in: node unavailable');
      }
      const result = fn(rpc.params ?? []);
      if (isBroadcast && hang > 0) {
        hang--;
        return; // applied, never answered: the socket stays open until the client gives up
      }
      send({ result });
    } catch (err) {
      const e = err instanceof RpcError ? err : new RpcError(-32700, (err as Error).message);
      send({ error: { code: e.code, message: e.message, data: { name: 'stand-in' } } });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    url,
    chainId,
    transfers,
    calls,
    createAccount(name, hbd = 0) {
      const posting = PrivateKey.fromSeed(`${name}-posting-${randomBytes(8).toString('hex')}`);
      const active = PrivateKey.fromSeed(`${name}-active-${randomBytes(8).toString('hex')}`);
      accounts.set(name, { name, postingKey: posting, activeKey: active, hbd });
      history.set(name, []);
      return { posting: posting.toString(), active: active.toString() };
    },
    async transfer(from, to, amount, memo) {
      const a = accounts.get(from);
      if (!a) throw new Error(`no account ${from}`);
      const props = methods['condenser_api.get_dynamic_global_properties']!([]) as {
        head_block_number: number;
        head_block_id: string;
        time: string;
      };
      const { signed } = signTransaction(
        transferTransaction({ from, to, amount, memo }, props),
        a.activeKey.toString(),
        chainId,
      );
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'condenser_api.broadcast_transaction_synchronous',
          params: [signed],
        }),
      });
      const body = (await r.json()) as { result?: { id: string }; error?: { message: string } };
      if (!body.result) throw new Error(body.error?.message ?? 'broadcast failed');
      return body.result.id;
    },
    balance: (name) => accounts.get(name)?.hbd ?? 0,
    hangNextBroadcasts(n) {
      hang = n;
    },
    failNextBroadcasts(n) {
      fail = n;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

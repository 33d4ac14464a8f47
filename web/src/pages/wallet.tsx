import { useCallback, useEffect, useState } from 'react';
import type { StatementView as Statement, WithdrawalView } from '../../../src/market/wire.js';
import { api } from '../api.js';
import { ErrorNote } from '../components.js';

/**
 * The wallet page: balance, statement (newest first, older pages on demand), a deposit id to send
 * HBD with (the memo of the Hive transfer that credits this account), and, where the coordinator pays
 * out on Hive, a withdrawal to the account's own Hive account and the latest withdrawals' states.
 */
export function WalletPage(props: { canDeposit: boolean }) {
  const [statement, setStatement] = useState<Statement | null>(null);
  const [older, setOlder] = useState<Statement['entries']>([]);
  const [deposit, setDeposit] = useState<{ id: string; to: string | null; memo: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [amount, setAmount] = useState('');
  const [withdrawKey, setWithdrawKey] = useState(() => crypto.randomUUID());

  const reload = useCallback(() => api<Statement>('/wallet').then(setStatement, setError), []);
  useEffect(() => {
    reload();
  }, [reload]);
  const withdraw = async (e: React.FormEvent) => {
    e.preventDefault();
    try {
      // One key per intended withdrawal: a double click or a retried request withdraws once.
      await api<WithdrawalView>('/wallet/withdrawals', {
        method: 'POST',
        body: { amount: amount.trim() },
        headers: { 'idempotency-key': withdrawKey },
      });
      setWithdrawKey(crypto.randomUUID());
      setAmount('');
      setError(null);
      await reload();
    } catch (err) {
      setError(err);
    }
  };
  const entries = [...(statement?.entries ?? []), ...older];
  const more = async () => {
    const last = entries.at(-1);
    if (!last) return;
    try {
      const page = await api<Statement>(`/wallet?before=${last.id}`);
      setOlder((o) => [...o, ...page.entries]);
    } catch (err) {
      setError(err);
    }
  };
  const newDeposit = async () => {
    try {
      setDeposit(
        await api<{ id: string; to: string | null; memo: string }>('/wallet/deposits', { method: 'POST' }),
      );
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="wallet-h">
      <h1 id="wallet-h">Wallet</h1>
      <ErrorNote error={error} />
      {statement && (
        <p className="tile" data-balance>
          <span className="tile-n">{statement.balance} HBD</span>{' '}
          <span className="muted">{statement.account}</span>
        </p>
      )}
      {props.canDeposit && (
        <div className="card">
          <button type="button" onClick={newDeposit}>
            New deposit id
          </button>
          {deposit && (
            <p data-deposit>
              {deposit.to ? (
                <>
                  Send HBD to <strong>@{deposit.to}</strong> with the memo <code>{deposit.memo}</code>.
                </>
              ) : (
                <>
                  Deposit id <code>{deposit.id}</code> (no Hive account is configured on this coordinator).
                </>
              )}
            </p>
          )}
        </div>
      )}
      {props.canDeposit && statement?.withdrawals !== undefined && (
        <form className="card" onSubmit={withdraw}>
          <label>
            Withdraw (HBD){' '}
            <input
              value={amount}
              onChange={(e) => setAmount(e.target.value)}
              inputMode="decimal"
              placeholder="2.000"
              required
            />
          </label>{' '}
          <button type="submit">Withdraw to my Hive account</button>
        </form>
      )}
      {statement?.withdrawals && statement.withdrawals.length > 0 && (
        <table aria-label="Withdrawals">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Amount (HBD)</th>
              <th scope="col">To</th>
              <th scope="col">State</th>
              <th scope="col">Transaction / reason</th>
            </tr>
          </thead>
          <tbody>
            {statement.withdrawals.map((w) => (
              <tr key={w.id}>
                <td>{new Date(w.createdAt).toLocaleString()}</td>
                <td className="num">{w.amount}</td>
                <td>@{w.hiveAccount}</td>
                <td>{w.state === 'failed' ? 'failed (refunded)' : w.state}</td>
                <td>{w.state === 'failed' ? (w.error ?? '') : (w.trxId ?? '')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <table aria-label="Statement">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Movement</th>
            <th scope="col">Amount (HBD)</th>
            <th scope="col">Balance</th>
            <th scope="col">Job / memo</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id}>
              <td>{new Date(e.at).toLocaleString()}</td>
              <td>{e.kind}</td>
              <td className="num">{e.amount}</td>
              <td className="num">{e.balanceAfter}</td>
              <td>{e.jobId ?? e.memo ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {statement && entries.length > 0 && entries.length % 100 === 0 && (
        <button type="button" onClick={more}>
          Older entries
        </button>
      )}
      {statement && entries.length === 0 && <p className="muted">No movements yet.</p>}
    </section>
  );
}

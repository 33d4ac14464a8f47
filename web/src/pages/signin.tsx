import { type FormEvent, useState } from 'react';
import { api, type Principal } from '../api.js';
import { ErrorNote } from '../components.js';

/** The part of the Hive Keychain browser extension's API the dashboard uses (keychain docs: requestSignBuffer). */
interface HiveKeychain {
  requestSignBuffer(
    account: string,
    message: string,
    role: 'Posting' | 'Active' | 'Memo',
    callback: (r: { success: boolean; result?: string; message?: string; error?: string }) => void,
  ): void;
}
const keychain = (): HiveKeychain | undefined =>
  (window as unknown as { hive_keychain?: HiveKeychain }).hive_keychain;

/**
 * "Sign in with Hive Keychain": the coordinator issues a statement (account, this origin, time, nonce),
 * Keychain signs it with the account's posting key, the coordinator checks it against the account's
 * keys on chain and sets the session cookie (docs/marketplace.md).
 */
function HiveSignIn(props: { onSignedIn: (p: Principal) => void }) {
  const [account, setAccount] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const kc = keychain();
  if (!kc) return null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const name = account.trim().toLowerCase();
      const { message } = await api<{ message: string }>('/session/hive/challenge', {
        method: 'POST',
        body: { account: name },
      });
      const signature = await new Promise<string>((resolve, reject) =>
        kc.requestSignBuffer(name, message, 'Posting', (r) =>
          r.success && r.result
            ? resolve(r.result)
            : reject(new Error(r.message ?? r.error ?? 'Keychain refused')),
        ),
      );
      const s = await api<{ principal: Principal }>('/session/hive', {
        method: 'POST',
        body: { account: name, message, signature },
      });
      props.onSignedIn(s.principal);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} className="card">
      <label htmlFor="hiveaccount">Hive account</label>
      <input
        id="hiveaccount"
        name="hiveaccount"
        autoComplete="username"
        required
        value={account}
        onChange={(e) => setAccount(e.target.value)}
      />
      <button type="submit" disabled={busy}>
        Sign in with Hive Keychain
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

/** Sign-in with an API key: the server answers with an httpOnly cookie; the key is not kept here. */
export function SignInPage(props: { onSignedIn: (p: Principal) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await api<{ principal: Principal }>('/session', { method: 'POST', body: { apiKey: key } });
      setKey('');
      props.onSignedIn(s.principal);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" className="signin">
      <h1>vidmesh</h1>
      <form onSubmit={submit} className="card">
        <label htmlFor="apikey">API key</label>
        <input
          id="apikey"
          name="apikey"
          type="password"
          autoComplete="current-password"
          required
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <ErrorNote error={error} />
        <p className="hint">The key is exchanged for an httpOnly session cookie; the page never stores it.</p>
      </form>
      <HiveSignIn onSignedIn={props.onSignedIn} />
    </main>
  );
}

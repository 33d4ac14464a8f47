import { type FormEvent, useState } from 'react';
import { api, type Principal } from '../api.js';
import { ErrorNote } from '../components.js';

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
    </main>
  );
}

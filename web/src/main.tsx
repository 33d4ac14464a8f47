import { type ReactNode, StrictMode, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { AgentBadge } from './agent.js';
import { api, type Principal } from './api.js';
import { ErrorNote } from './components.js';
import { EncodePage } from './pages/encode.js';
import { EncodersPage } from './pages/encoders.js';
import { JobDetailPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';
import { LivePage } from './pages/live.js';
import { OverviewPage } from './pages/overview.js';
import { SignInPage } from './pages/signin.js';
import { SubmitPage } from './pages/submit.js';
import { WalletPage } from './pages/wallet.js';
import { Link, navigate, useLocation } from './router.js';
import './styles.css';

const NAV = [
  { to: '/', label: 'Overview' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/submit', label: 'Submit', scope: 'submit' },
  { to: '/encoders', label: 'Encoders' },
  { to: '/encode', label: 'Encode here' },
  { to: '/streams', label: 'Live' },
  { to: '/wallet', label: 'Wallet' },
] as const;

function App() {
  const { path, query } = useLocation();
  const [principal, setPrincipal] = useState<Principal | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api<{ principal: Principal | null }>('/session')
      .then((s) => setPrincipal(s.principal))
      .catch((e) => {
        setError(e);
        setPrincipal(null);
      });
  }, []);

  const signOut = useCallback(async (everywhere: boolean) => {
    await api(everywhere ? '/session/all' : '/session', { method: 'DELETE' }).catch(() => {});
    setPrincipal(null);
    navigate('/');
  }, []);

  if (principal === undefined) return <p className="loading">Loading…</p>;
  if (principal === null) {
    return (
      <>
        <ErrorNote error={error} />
        <SignInPage onSignedIn={setPrincipal} />
      </>
    );
  }
  const canSubmit = principal.scopes.includes('admin') || principal.scopes.includes('submit');
  const jobMatch = /^\/jobs\/([\w-]{1,64})$/.exec(path);
  let page: ReactNode;
  if (jobMatch) page = <JobDetailPage id={jobMatch[1]} principal={principal} />;
  else if (path === '/jobs') page = <JobsPage principal={principal} query={query} />;
  else if (path === '/submit' && canSubmit) page = <SubmitPage />;
  else if (path === '/encoders') page = <EncodersPage principal={principal} />;
  else if (path === '/encode') page = <EncodePage query={query} />;
  else if (path === '/streams') page = <LivePage principal={principal} />;
  else if (path === '/wallet') page = <WalletPage canDeposit={canSubmit} />;
  else page = <OverviewPage />;

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">vidmesh</span>
        <nav aria-label="Main">
          {NAV.filter((n) => !('scope' in n) || canSubmit).map((n) => (
            <Link
              key={n.to}
              to={n.to}
              current={n.to === '/' ? path === '/' : path === n.to || path.startsWith(`${n.to}/`)}
            >
              {n.label}
            </Link>
          ))}
        </nav>
        <span className="who" title={principal.scopes.join(', ')}>
          {principal.id} <small>({principal.scopes.join(', ')})</small>
        </span>
        <button type="button" className="link" onClick={() => signOut(false)}>
          Sign out
        </button>
        <button
          type="button"
          className="link"
          title="Sign out everywhere: ends every session of this account, in every browser"
          onClick={() => signOut(true)}
        >
          End all sessions
        </button>
      </header>
      <main id="main">
        {path === '/' && <AgentBadge />}
        {page}
      </main>
    </>
  );
}

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}

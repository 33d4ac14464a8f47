import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { api } from './api.js';
import { Link } from './router.js';

/**
 * The desktop agent badge (docs/encoders.md): the user's agent health from the agent itself
 * (`GET <agent>/health` with the pairing token, as the blueprint's web app does) or, when the page
 * cannot reach it, from the coordinator (`POST /api/v1/agent/check`); "Encode on my computer" asks a
 * ready agent to claim the user's next job (`POST <agent>/claim`, `X-Hive-User`). The user, the
 * pairing token and the agent URL stay in this browser's localStorage.
 */

interface AgentPairing {
  user: string;
  token: string;
  url: string;
}

interface Health {
  status: 'ready' | 'busy' | 'offline';
  hwAccel: string;
  jobsInProgress: number;
  source: 'agent' | 'coordinator';
}

const STORAGE_KEY = 'vidmesh.agent';
const DEFAULT_URL = 'http://127.0.0.1:3002';

function loadPairing(): AgentPairing | null {
  try {
    const p = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as AgentPairing | null;
    return p?.user && p.token && p.url ? p : null;
  } catch {
    return null;
  }
}

async function agentHealth(p: AgentPairing): Promise<Health> {
  try {
    const res = await fetch(`${p.url}/health`, { headers: { authorization: `Bearer ${p.token}` } });
    if (res.ok) return { ...((await res.json()) as Omit<Health, 'source'>), source: 'agent' };
  } catch {
    // Not reachable from this page (not running, or another machine): ask the coordinator.
  }
  const c = await api<Omit<Health, 'source'>>('/agent/check', { method: 'POST', body: { user: p.user } });
  return { ...c, source: 'coordinator' };
}

export function AgentBadge() {
  const [pairing, setPairing] = useState<AgentPairing | null>(loadPairing);
  const [health, setHealth] = useState<Health | null>(null);
  const [editing, setEditing] = useState(false);
  const [note, setNote] = useState<{ text: string; jobId?: string } | null>(null);

  useEffect(() => {
    if (!pairing) return;
    let live = true;
    const tick = () =>
      agentHealth(pairing)
        .then((h) => live && setHealth(h))
        .catch(() => live && setHealth(null));
    void tick();
    const t = setInterval(tick, 5000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [pairing]);

  const save = useCallback((e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const p = {
      user: String(f.get('user') ?? '').trim(),
      token: String(f.get('token') ?? '').trim(),
      url: String(f.get('url') ?? '').trim() || DEFAULT_URL,
    };
    if (!p.user || !p.token) return;
    localStorage.setItem(STORAGE_KEY, JSON.stringify(p));
    setPairing(p);
    setEditing(false);
  }, []);

  const encodeHere = useCallback(async () => {
    if (!pairing) return;
    setNote({ text: 'Asking your agent…' });
    try {
      const res = await fetch(`${pairing.url}/claim`, {
        method: 'POST',
        headers: { authorization: `Bearer ${pairing.token}`, 'x-hive-user': pairing.user },
      });
      if (res.status === 204) return setNote({ text: 'No job of yours is waiting.' });
      const body = (await res.json()) as { jobId?: string; detail?: string };
      if (!res.ok || !body.jobId) return setNote({ text: body.detail ?? `Agent answered ${res.status}` });
      setNote({ text: 'Encoding on your computer:', jobId: body.jobId });
    } catch {
      setNote({ text: 'Your agent cannot be reached from this page.' });
    }
  }, [pairing]);

  if (!pairing || editing) {
    return (
      <form className="agent-pair" onSubmit={save} aria-label="Pair desktop agent">
        <label className="agent-field">
          User <input name="user" defaultValue={pairing?.user} required maxLength={64} />
        </label>
        <label className="agent-field">
          Pairing token <input name="token" type="password" defaultValue={pairing?.token} required />
        </label>
        <label className="agent-field">
          Agent URL <input name="url" defaultValue={pairing?.url ?? DEFAULT_URL} />
        </label>
        <button type="submit">Pair agent</button>
      </form>
    );
  }
  const status = health?.status ?? 'offline';
  return (
    <div className="agent-badge">
      <span className={`badge s-agent-${status}`} title={health ? `seen by the ${health.source}` : 'unknown'}>
        Agent ({pairing.user}): {status}
        {health && health.hwAccel !== 'none' ? ` · ${health.hwAccel}` : ''}
      </span>
      {status === 'ready' && (
        <button type="button" onClick={encodeHere}>
          Encode on my computer
        </button>
      )}
      <button type="button" className="link" onClick={() => setEditing(true)}>
        Change
      </button>
      {note && (
        <span role="status">
          {note.text} {note.jobId && <Link to={`/jobs/${note.jobId}`}>{note.jobId}</Link>}
        </span>
      )}
    </div>
  );
}

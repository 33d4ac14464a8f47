import { useEffect, useState } from 'react';
import { api, can, type Encoder, fmtAge, type Principal } from '../api.js';
import { ErrorNote } from '../components.js';

/**
 * Encoders with capabilities and counters. Admins get approve/ban (`POST /encoders/:id/approve|ban`,
 * registered when the coordinator has an API key store); the server refuses them to anyone else anyway.
 */
export function EncodersPage(props: { principal: Principal }) {
  const [encoders, setEncoders] = useState<Encoder[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const isAdmin = can(props.principal, 'admin');
  const setApproval = async (e: Encoder, action: 'approve' | 'ban') => {
    setError(null);
    try {
      const r = await api<{ encoder: Encoder }>(`/encoders/${encodeURIComponent(e.id)}/${action}`, {
        method: 'POST',
      });
      setEncoders((list) => list?.map((x) => (x.id === e.id ? { ...x, ...r.encoder } : x)) ?? null);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    let stop = false;
    const load = () =>
      api<{ encoders: Encoder[] }>('/encoders').then(
        (r) => !stop && setEncoders(r.encoders),
        (e) => !stop && setError(e),
      );
    void load();
    const t = setInterval(load, 10_000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);
  if (!encoders) return error ? <ErrorNote error={error} /> : <p className="loading">Loading…</p>;
  return (
    <section>
      <h1>Encoders</h1>
      <ErrorNote error={error} />
      <div className="table-wrap">
        <table className="encoders">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">DID</th>
              <th scope="col">Version</th>
              <th scope="col">Capabilities</th>
              <th scope="col">Jobs now</th>
              <th scope="col">Success</th>
              <th scope="col">Busy</th>
              <th scope="col">Last seen</th>
              {isAdmin && <th scope="col">Approval</th>}
            </tr>
          </thead>
          <tbody>
            {encoders.map((e) => {
              const done = e.jobsCompleted + e.jobsFailed;
              return (
                <tr key={e.id} data-encoder={e.name}>
                  <td>{e.name}</td>
                  <td>{e.kind}</td>
                  <td>
                    <span className={`badge s-${e.status}`}>{e.status}</span>
                    {e.approval !== 'approved' && (
                      <span className={`badge s-${e.approval}`}>{e.approval}</span>
                    )}
                  </td>
                  <td>
                    <code title={e.did ?? ''}>{e.did ? `${e.did.slice(0, 16)}…` : '—'}</code>
                  </td>
                  <td>{e.version ?? '—'}</td>
                  <td>
                    {e.capabilities.codecs.join(', ')} · {e.capabilities.hwaccel.join(', ') || 'software'} · ≤
                    {e.capabilities.maxHeight}p · ×{e.capabilities.concurrency}
                    {e.capabilities.tags.length > 0 && ` · ${e.capabilities.tags.join(', ')}`}
                  </td>
                  <td className="num">{e.activeJobs ?? 0}</td>
                  <td className="num">
                    {done ? `${Math.round((100 * e.jobsCompleted) / done)} % of ${done}` : '—'}
                  </td>
                  <td className="num">{Math.round(e.encodeSeconds)} s</td>
                  <td className="num">{fmtAge(e.lastSeenAt)} ago</td>
                  {isAdmin && (
                    <td>
                      <div className="actions">
                        {e.approval !== 'approved' && (
                          <button type="button" onClick={() => setApproval(e, 'approve')}>
                            Approve
                          </button>
                        )}
                        {e.approval !== 'banned' && (
                          <button type="button" onClick={() => setApproval(e, 'ban')}>
                            Ban
                          </button>
                        )}
                      </div>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {encoders.length === 0 && <p className="muted">No encoder registered.</p>}
    </section>
  );
}

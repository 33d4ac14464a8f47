import { useEffect, useState } from 'react';
import { api, can, type Encoder, type Fleet, fmtAge, fmtBytes, type Principal } from '../api.js';
import { DataTable, ErrorNote, Progress, StatusBadge } from '../components.js';
import { Link } from '../router.js';

type FleetEncoder = Fleet['encoders'][number];

/** `× realtime` with two decimals below 10, one above ("0.84×", "12.5×"). */
export const fmtSpeed = (x: number): string => `${x < 10 ? x.toFixed(2) : x.toFixed(1)}×`;

/** Online encoders by kind, busy slots and the fleet's summed encode speed, as tiles. */
function FleetSummary(props: { summary: Fleet['summary'] }) {
  const { online, offline, running, slots, speed } = props.summary;
  const kinds = [...new Set([...Object.keys(online), ...Object.keys(offline)])].sort();
  return (
    <section className="tiles" aria-label="Fleet summary">
      {kinds.map((k) => (
        <div key={k} className="tile">
          <span className="tile-n">{online[k] ?? 0}</span>
          <span>
            {k} online{offline[k] ? <small className="muted"> · {offline[k]} offline</small> : null}
          </span>
        </div>
      ))}
      <div className="tile">
        <span className="tile-n">
          {running}/{slots}
        </span>
        <span>jobs / slots</span>
      </div>
      <div className="tile" data-fleet-speed>
        <span className="tile-n">{speed === null ? '—' : fmtSpeed(speed)}</span>
        <span>total × realtime</span>
      </div>
    </section>
  );
}

const LOAD_PARTS = [
  ['cpu', 'CPU'],
  ['memory', 'RAM'],
  ['gpu', 'GPU'],
] as const;

/** Host name and the load of its last heartbeat: CPU, RAM and (where reported) GPU as meters. */
function HostLoad({ encoder }: { encoder: FleetEncoder }) {
  const { host, load } = encoder;
  if (!host && !load) return <span className="muted">—</span>;
  return (
    <div className="load">
      {host && <div className="small enc-host">{host}</div>}
      {load &&
        LOAD_PARTS.map(([key, label]) => {
          const value = load[key];
          if (value === undefined) return null;
          const pct = Math.round(value * 100);
          return (
            <div key={key} className="small load-part" data-load={key}>
              {label}{' '}
              <meter
                min={0}
                max={1}
                low={0.7}
                high={0.9}
                optimum={0}
                value={value}
                title={`${label} ${pct} %`}
              />{' '}
              {pct} %
            </div>
          );
        })}
    </div>
  );
}

/** The encoder's current jobs: link, stage, progress, and × realtime / fps while encoding. */
function CurrentJobs(props: { encoder: FleetEncoder }) {
  const { jobs, activeJobs } = props.encoder;
  if (jobs.length === 0) return <span className="muted">{activeJobs ? `${activeJobs} job(s)` : 'idle'}</span>;
  return (
    <ul className="now">
      {jobs.map((j) => (
        <li key={j.id}>
          <Link to={`/jobs/${j.id}`}>
            <code>{j.id.slice(0, 8)}</code>
          </Link>{' '}
          <StatusBadge status={j.status} /> <small className="muted">{j.stage ?? ''}</small>
          <Progress value={j.progress} label={`progress of job ${j.id.slice(0, 8)}`} />
          <small className="num">
            {j.speed === null ? '—' : `${fmtSpeed(j.speed)} realtime`}
            {j.fps !== null ? ` · ${Math.round(j.fps)} fps` : ''}
            {j.source?.video ? ` · source ${j.source.video.height}p` : ''}
          </small>
        </li>
      ))}
    </ul>
  );
}

/**
 * The fleet (`GET /dashboard/encoders`, every 10 s): a summary, then per encoder its current jobs with
 * speed, capabilities, tags, counters and last error. Admins get approve/ban (`POST
 * /encoders/:id/approve|ban`); the server refuses them to anyone else anyway. Below 640 px each row
 * is a stacked card (styles.css `table.stack`).
 */
export function EncodersPage(props: { principal: Principal }) {
  const [fleet, setFleet] = useState<Fleet | null>(null);
  const [error, setError] = useState<unknown>(null);
  const isAdmin = can(props.principal, 'admin');
  const setApproval = async (e: Encoder, action: 'approve' | 'ban' | 'reinstate') => {
    setError(null);
    try {
      const r = await api<{ encoder: Encoder }>(`/encoders/${encodeURIComponent(e.id)}/${action}`, {
        method: 'POST',
      });
      setFleet((f) =>
        f ? { ...f, encoders: f.encoders.map((x) => (x.id === e.id ? { ...x, ...r.encoder } : x)) } : f,
      );
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    let stop = false;
    const load = () =>
      api<Fleet>('/dashboard/encoders').then(
        (r) => !stop && setFleet(r),
        (e) => !stop && setError(e),
      );
    void load();
    const t = setInterval(load, 10_000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);
  if (!fleet) return error ? <ErrorNote error={error} /> : <p className="loading">Loading…</p>;
  return (
    <section>
      <h1>Encoders</h1>
      <ErrorNote error={error} />
      <FleetSummary summary={fleet.summary} />
      <DataTable
        columns={[
          'Encoder',
          'Now',
          'Load',
          'Capabilities',
          'Success',
          'Last seen',
          'Last error',
          isAdmin && 'Approval',
        ]}
        className="encoders"
      >
        {fleet.encoders.map((e) => {
          const done = e.jobsCompleted + e.jobsFailed;
          return (
            <tr key={e.id} data-encoder={e.name}>
              <td data-label="Encoder">
                <div>
                  <strong className="enc-name">{e.name}</strong> <span className="badge">{e.kind}</span>{' '}
                  <span className={`badge s-${e.status}`}>{e.status}</span>
                  {e.approval !== 'approved' && <span className={`badge s-${e.approval}`}>{e.approval}</span>}
                  <div className="muted small">
                    {e.version ? `v${e.version}` : 'version —'}
                    {e.did && (
                      <>
                        {' '}
                        · <code title={e.did}>{`${e.did.slice(0, 16)}…`}</code>
                      </>
                    )}
                  </div>
                  {e.tags.length > 0 && (
                    <div className="tags">
                      {e.tags.map((t) => (
                        <span key={t} className="tag">
                          {t}
                        </span>
                      ))}
                    </div>
                  )}
                </div>
              </td>
              <td data-label="Now">
                <CurrentJobs encoder={e} />
              </td>
              <td data-label="Load">
                <HostLoad encoder={e} />
              </td>
              <td data-label="Capabilities">
                <span>
                  {e.capabilities.codecs.join(', ')} · {e.capabilities.hwaccel.join(', ') || 'software'} · ≤
                  {e.capabilities.maxHeight}p · ×{e.capabilities.concurrency}
                  {e.capabilities.freeDiskBytes !== undefined &&
                    ` · ${fmtBytes(e.capabilities.freeDiskBytes)} free`}
                </span>
              </td>
              <td data-label="Success" className="num">
                <span>
                  {done ? `${Math.round((100 * e.jobsCompleted) / done)} % of ${done}` : '—'}
                  <small className="muted"> · {Math.round(e.encodeSeconds)} s busy</small>
                  {e.reputation && (
                    <small className="muted" title={e.reputation.lastFailure ?? 'no failed verification'}>
                      {' '}
                      · score {e.reputation.score.toFixed(2)} ({e.reputation.verifiedPasses} verified,{' '}
                      {e.reputation.verifiedFailures} rejected)
                    </small>
                  )}
                </span>
              </td>
              <td data-label="Last seen" className="num">
                {fmtAge(e.lastSeenAt)} ago
              </td>
              <td data-label="Last error">
                {e.lastError ? (
                  <span className="last-error">
                    <code>{e.lastError.code}</code> {e.lastError.message}{' '}
                    <Link to={`/jobs/${e.lastError.jobId}`}>{fmtAge(e.lastError.at)} ago</Link>
                  </span>
                ) : (
                  <span className="muted">none</span>
                )}
              </td>
              {isAdmin && (
                <td data-label="Approval">
                  <div className="actions">
                    {e.approval === 'suspended' && (
                      <button type="button" onClick={() => setApproval(e, 'reinstate')}>
                        Reinstate
                      </button>
                    )}
                    {e.approval !== 'approved' && e.approval !== 'suspended' && (
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
      </DataTable>
      {fleet.encoders.length === 0 && <p className="muted">No encoder registered.</p>}
    </section>
  );
}

import { useEffect, useState } from 'react';
import { api, fmtSeconds, JOB_STATUSES, type Overview } from '../api.js';
import { ErrorNote, StatusBadge } from '../components.js';
import { Link } from '../router.js';

/** Completed jobs per 5-minute bucket as bars, mean encode speed (× realtime) as a line. */
function ThroughputChart(props: { data: Overview['throughput'] }) {
  // Wide viewBox: at typical card widths the 11-unit labels render at about 11-14 px.
  const w = 1100;
  const h = 220;
  const pad = 24;
  const n = props.data.length;
  const maxJobs = Math.max(1, ...props.data.map((b) => b.completed + b.failed));
  const speeds = props.data.map((b) => b.speed ?? 0);
  const maxSpeed = Math.max(1, ...speeds);
  const bw = (w - 2 * pad) / n;
  const y = (v: number, max: number) => h - pad - (v / max) * (h - 2 * pad);
  const line = props.data
    .map((b, i) => (b.speed === null ? null : `${pad + bw * i + bw / 2},${y(b.speed, maxSpeed)}`))
    .filter(Boolean)
    .join(' ');
  const total = props.data.reduce((a, b) => a + b.completed, 0);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${total} jobs completed in the last hour`}>
        <line x1={pad} y1={h - pad} x2={w - pad} y2={h - pad} className="axis" />
        {props.data.map((b, i) => (
          <g key={b.at}>
            <rect
              x={pad + bw * i + 2}
              width={bw - 4}
              y={y(b.completed, maxJobs)}
              height={h - pad - y(b.completed, maxJobs)}
              className="bar-ok"
            >
              <title>
                {new Date(b.at).toLocaleTimeString()}: {b.completed} completed, {b.failed} failed
                {b.speed !== null ? `, ${b.speed.toFixed(2)}× realtime` : ''}
              </title>
            </rect>
            {b.failed > 0 && (
              <rect
                x={pad + bw * i + 2}
                width={bw - 4}
                y={y(b.completed + b.failed, maxJobs)}
                height={y(b.completed, maxJobs) - y(b.completed + b.failed, maxJobs)}
                className="bar-bad"
              />
            )}
          </g>
        ))}
        {line && <polyline points={line} className="speed" />}
        {props.data.map((b, i) =>
          b.speed === null ? null : (
            <circle
              key={`s-${b.at}`}
              cx={pad + bw * i + bw / 2}
              cy={y(b.speed, maxSpeed)}
              r={4}
              className="speed-dot"
            />
          ),
        )}
        <text x={pad} y={14} className="label">
          max {maxJobs} jobs / 5 min
        </text>
        <text x={w - pad} y={14} className="label" textAnchor="end">
          speed scale 0–{maxSpeed.toFixed(1)}× realtime
        </text>
        <text x={pad} y={h - 6} className="label">
          −60 min
        </text>
        <text x={w - pad} y={h - 6} className="label" textAnchor="end">
          now
        </text>
      </svg>
      <figcaption>
        Throughput (bars: completed, red: failed) and mean encode speed (line) over the last hour
      </figcaption>
    </figure>
  );
}

export function OverviewPage() {
  const [data, setData] = useState<Overview | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let stop = false;
    const load = () =>
      api<Overview>('/dashboard/overview').then(
        (d) => !stop && setData(d),
        (e) => !stop && setError(e),
      );
    void load();
    // One small aggregate request every 10 s is the whole cost of an open Overview page.
    const t = setInterval(load, 10_000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);
  if (!data) return error ? <ErrorNote error={error} /> : <p className="loading">Loading…</p>;
  const kinds = [...new Set([...Object.keys(data.encoders.online), ...Object.keys(data.encoders.offline)])];
  return (
    <section>
      <h1>Overview</h1>
      <div className="tiles">
        {JOB_STATUSES.map((s) => (
          <Link key={s} to={`/jobs?status=${s}`} className="tile">
            <span className="tile-n">{data.byStatus[s] ?? 0}</span>
            <StatusBadge status={s} />
          </Link>
        ))}
      </div>
      <div className="grid2">
        <div className="card">
          <h2>Queues</h2>
          {data.queues.length === 0 ? (
            <p className="muted">Nothing waiting.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Queue</th>
                  <th scope="col">Priority</th>
                  <th scope="col">Waiting</th>
                  <th scope="col">Oldest</th>
                </tr>
              </thead>
              <tbody>
                {data.queues.map((q) => (
                  <tr key={`${q.queue}-${q.priority}`}>
                    <td>{q.queue}</td>
                    <td>{q.priority}</td>
                    <td className="num">{q.count}</td>
                    <td className="num">{fmtSeconds(q.oldestAgeS)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div className="card">
          <h2>Encoders</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Online</th>
                <th scope="col">Offline</th>
              </tr>
            </thead>
            <tbody>
              {kinds.map((k) => (
                <tr key={k}>
                  <td>{k}</td>
                  <td className="num">{data.encoders.online[k] ?? 0}</td>
                  <td className="num">{data.encoders.offline[k] ?? 0}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {kinds.length === 0 && <p className="muted">No encoder registered.</p>}
        </div>
      </div>
      <div className="card">
        <h2>Last hour</h2>
        <ThroughputChart data={data.throughput} />
      </div>
      <div className="card">
        <h2>Recent failures and rescues</h2>
        {data.recentProblems.length === 0 ? (
          <p className="muted">None.</p>
        ) : (
          <ul className="problems">
            {data.recentProblems.map((p) => (
              <li key={p.id}>
                <Link to={`/jobs/${p.id}`}>
                  <code>{p.id.slice(0, 8)}</code>
                </Link>{' '}
                <StatusBadge status={p.status} /> {p.kind === 'rescue' ? 'rescued' : 'failed'}:{' '}
                <code>{p.code}</code> {p.message}
              </li>
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}

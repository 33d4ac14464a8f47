import { useEffect, useState } from 'react';
import { api, fmtSeconds, HISTORY_WINDOWS, type HistoryWindow, JOB_STATUSES, type Overview } from '../api.js';
import { DataTable, ErrorNote, StatusBadge, useMediaQuery } from '../components.js';
import { Link } from '../router.js';

const WINDOW_LABEL: Record<HistoryWindow, string> = {
  '1h': 'last hour',
  '24h': 'last 24 h',
  '7d': 'last 7 days',
};
const WINDOW_START: Record<HistoryWindow, string> = { '1h': '−60 min', '24h': '−24 h', '7d': '−7 d' };
const fmtBucket = (s: number) => (s < 3600 ? `${s / 60} min` : `${s / 3600} h`);

/**
 * Width of the charts' viewBox: on a phone a narrower box keeps the 11-unit labels legible (about
 * 9-10 px once scaled to the card) where the desktop box would shrink them to 3 px.
 */
function useChartWidth(): number {
  return useMediaQuery('(max-width: 640px)') ? 400 : 1100;
}

/** The baseline of a history chart with its start ("−24 h") and "now" labels under it. */
function TimeAxis(props: { w: number; h: number; pad: number; window: HistoryWindow }) {
  const { w, h, pad } = props;
  return (
    <>
      <line x1={pad} y1={h - pad} x2={w - pad} y2={h - pad} className="axis" />
      <text x={pad} y={h - 6} className="label">
        {WINDOW_START[props.window]}
      </text>
      <text x={w - pad} y={h - 6} className="label" textAnchor="end">
        now
      </text>
    </>
  );
}

/** Completed jobs per bucket as bars, mean encode speed (× realtime) as a line. */
function ThroughputChart(props: { data: Overview['throughput']; window: HistoryWindow; bucketS: number }) {
  // Wide viewBox: at typical card widths the 11-unit labels render at about 11-14 px.
  const w = useChartWidth();
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
      <svg
        viewBox={`0 0 ${w} ${h}`}
        role="img"
        aria-label={`${total} jobs completed in the ${WINDOW_LABEL[props.window]}`}
      >
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
                {new Date(b.at).toLocaleString()}: {b.completed} completed, {b.failed} failed
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
          max {maxJobs} jobs / {fmtBucket(props.bucketS)}
        </text>
        <text x={w - pad} y={14} className="label" textAnchor="end">
          speed scale 0–{maxSpeed.toFixed(1)}× realtime
        </text>
        <TimeAxis w={w} h={h} pad={pad} window={props.window} />
      </svg>
      <figcaption>
        Throughput (bars: completed, red: failed) and mean encode speed (line) over the{' '}
        {WINDOW_LABEL[props.window]}
      </figcaption>
    </figure>
  );
}

/**
 * Where a completed job's time went, per bucket: mean queue wait (submit → claim) and mean ffmpeg wall
 * time, side by side on one seconds scale, with the window's means in the caption.
 */
function WaitEncodeChart(props: { data: Overview['throughput']; window: HistoryWindow }) {
  const w = useChartWidth();
  const h = 180;
  const pad = 24;
  const bw = (w - 2 * pad) / props.data.length;
  const max = Math.max(1, ...props.data.flatMap((b) => [b.waitS ?? 0, b.encodeS ?? 0]));
  const y = (v: number) => h - pad - (v / max) * (h - 2 * pad);
  const meanOf = (xs: Array<number | null>) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, x) => a + x, 0) / v.length : null;
  };
  const wait = meanOf(props.data.map((b) => b.waitS));
  const encode = meanOf(props.data.map((b) => b.encodeS));
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label="Queue wait and encode time per bucket">
        {props.data.map((b, i) => (
          <g key={b.at}>
            {b.waitS !== null && (
              <rect
                x={pad + bw * i + 2}
                width={bw / 2 - 2}
                y={y(b.waitS)}
                height={h - pad - y(b.waitS)}
                className="bar-wait"
              >
                <title>
                  {new Date(b.at).toLocaleString()}: waited {fmtSeconds(b.waitS)}
                </title>
              </rect>
            )}
            {b.encodeS !== null && (
              <rect
                x={pad + bw * i + bw / 2}
                width={bw / 2 - 2}
                y={y(b.encodeS)}
                height={h - pad - y(b.encodeS)}
                className="bar-encode"
              >
                <title>
                  {new Date(b.at).toLocaleString()}: encoded in {fmtSeconds(b.encodeS)}
                </title>
              </rect>
            )}
          </g>
        ))}
        <text x={pad} y={14} className="label">
          scale 0–{fmtSeconds(max)}
        </text>
        <TimeAxis w={w} h={h} pad={pad} window={props.window} />
      </svg>
      <figcaption>
        <span className="key key-wait" /> queue wait {wait === null ? '—' : `(mean ${fmtSeconds(wait)})`} vs{' '}
        <span className="key key-encode" /> encode time{' '}
        {encode === null ? '—' : `(mean ${fmtSeconds(encode)})`} of completed jobs
      </figcaption>
    </figure>
  );
}

export function OverviewPage() {
  const [data, setData] = useState<Overview | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [range, setRange] = useState<HistoryWindow>('1h');
  useEffect(() => {
    let stop = false;
    const load = () =>
      api<Overview>(`/dashboard/overview?window=${range}`).then(
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
  }, [range]);
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
            <DataTable columns={['Queue', 'Priority', 'Waiting', 'Oldest']} stack={false}>
              {data.queues.map((q) => (
                <tr key={`${q.queue}-${q.priority}`}>
                  <td>{q.queue}</td>
                  <td>{q.priority}</td>
                  <td className="num">{q.count}</td>
                  <td className="num">{fmtSeconds(q.oldestAgeS)}</td>
                </tr>
              ))}
            </DataTable>
          )}
        </div>
        <div className="card">
          <h2>Encoders</h2>
          <DataTable columns={['Kind', 'Online', 'Offline']} stack={false}>
            {kinds.map((k) => (
              <tr key={k}>
                <td>{k}</td>
                <td className="num">{data.encoders.online[k] ?? 0}</td>
                <td className="num">{data.encoders.offline[k] ?? 0}</td>
              </tr>
            ))}
          </DataTable>
          {kinds.length === 0 && <p className="muted">No encoder registered.</p>}
        </div>
      </div>
      <div className="card">
        <div className="card-head">
          <h2>History</h2>
          <fieldset className="segmented">
            <legend className="sr-only">History window</legend>
            {HISTORY_WINDOWS.map((w) => (
              <button key={w} type="button" aria-pressed={range === w} onClick={() => setRange(w)}>
                {w}
              </button>
            ))}
          </fieldset>
        </div>
        <ThroughputChart data={data.throughput} window={data.window} bucketS={data.bucketS} />
        <WaitEncodeChart data={data.throughput} window={data.window} />
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

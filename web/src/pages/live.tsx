import Hls from 'hls.js';
import { useEffect, useRef, useState } from 'react';
import { api, can, fmtAge, fmtBits, fmtBytes, type Job, type Principal } from '../api.js';
import { ErrorNote, StatusBadge } from '../components.js';
import { Link } from '../router.js';

/** One live stream as `GET /api/v1/live` returns it (docs/live.md). */
interface LiveStream {
  job: Job;
  playlist: 'event' | 'sliding';
  record: boolean;
  endedAt: string | null;
  playbackUrl: string;
  ingest: {
    state: 'waiting' | 'publishing' | 'reconnecting' | 'ended';
    bytesIn: number;
    bitrate: number;
    publishedAt: string | null;
    lastPacketAt: string | null;
    publishes: number;
    subscribers: number;
    width: number | null;
    height: number | null;
    frameRate: number | null;
  } | null;
}

/**
 * Live player: hls.js one segment behind the live edge (`liveSyncDurationCount: 1`), with the viewer's
 * latency estimate: now minus the EXT-X-PROGRAM-DATE-TIME of the frame on screen (the ingest's clock).
 */
function LivePlayer(props: { src: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [latency, setLatency] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const el = video.current;
    if (!el) return;
    if (!Hls.isSupported()) {
      el.src = props.src;
      return;
    }
    const h = new Hls({ liveSyncDurationCount: 1, liveMaxLatencyDurationCount: 4 });
    h.on(Hls.Events.ERROR, (_e, d) => {
      if (!d.fatal) return;
      setError(`${d.type}: ${d.details}`);
      h.startLoad();
    });
    h.on(Hls.Events.MANIFEST_PARSED, () => void el.play().catch(() => {}));
    h.loadSource(props.src);
    h.attachMedia(el);
    const timer = setInterval(() => {
      const date = h.playingDate;
      setLatency(date ? (Date.now() - date.getTime()) / 1000 : null);
    }, 1000);
    return () => {
      clearInterval(timer);
      h.destroy();
    };
  }, [props.src]);
  return (
    <div className="player">
      <video ref={video} controls playsInline muted aria-label="Live player" />
      <div className="player-bar">
        <span data-live-latency>latency: {latency === null ? '—' : `${latency.toFixed(1)} s`}</span>
      </div>
      {error && <p className="error">{error}</p>}
    </div>
  );
}

/** Live streams with ingest health (bitrate, state, reconnects) and a player for the chosen one. */
export function LivePage(props: { principal: Principal }) {
  const [streams, setStreams] = useState<LiveStream[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [watching, setWatching] = useState<string | null>(null);
  const [created, setCreated] = useState<{ ingestUrl: string; id: string } | null>(null);

  useEffect(() => {
    let stop = false;
    const load = () =>
      api<{ streams: LiveStream[] }>('/live')
        .then((r) => !stop && setStreams(r.streams))
        .catch((e) => !stop && setError(e));
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, []);

  const create = async () => {
    try {
      const r = await api<LiveStream & { ingestUrl: string }>('/live', { method: 'POST', body: {} });
      setCreated({ ingestUrl: r.ingestUrl, id: r.job.id });
    } catch (e) {
      setError(e);
    }
  };

  const current = streams?.find((s) => s.job.id === watching);
  return (
    <section>
      <h1>Live</h1>
      <ErrorNote error={error} />
      {can(props.principal, 'submit') && (
        <p>
          <button type="button" onClick={create}>
            New live stream
          </button>
        </p>
      )}
      {created && (
        <p className="note" data-live-created>
          Publish to <code>{created.ingestUrl}</code> — the stream key is shown this once.
        </p>
      )}
      {current && <LivePlayer src={current.playbackUrl} />}
      {streams === null ? (
        <p className="loading">Loading…</p>
      ) : streams.length === 0 ? (
        <p className="muted">No live streams.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Stream</th>
              <th>Job</th>
              <th>Ingest</th>
              <th>Bitrate</th>
              <th>Source</th>
              <th>Received</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {streams.map((s) => (
              <tr key={s.job.id} data-live-row={s.job.id}>
                <td>
                  <Link to={`/jobs/${s.job.id}`}>
                    <code>{s.job.id.slice(0, 8)}</code>
                  </Link>{' '}
                  <small className="muted">{fmtAge(s.job.createdAt)}</small>
                </td>
                <td>
                  <StatusBadge status={s.job.status} />
                </td>
                <td data-ingest-state>
                  {s.ingest?.state ?? (s.endedAt ? 'ended' : '—')}
                  {s.ingest && s.ingest.publishes > 1 ? (
                    <small className="muted"> · {s.ingest.publishes - 1} reconnect(s)</small>
                  ) : null}
                </td>
                <td className="num">{s.ingest ? fmtBits(s.ingest.bitrate) : '—'}</td>
                <td className="num">
                  {s.ingest?.height ? `${s.ingest.width}×${s.ingest.height}` : '—'}
                  {s.ingest?.frameRate ? ` @ ${Math.round(s.ingest.frameRate)}` : ''}
                </td>
                <td className="num">{s.ingest ? fmtBytes(s.ingest.bytesIn) : '—'}</td>
                <td>
                  <button type="button" className="link" onClick={() => setWatching(s.job.id)}>
                    Watch
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

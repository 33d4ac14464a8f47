import Hls from 'hls.js';
import { useCallback, useEffect, useRef, useState } from 'react';
import {
  api,
  can,
  FINAL,
  fmtBits,
  fmtBytes,
  fmtSeconds,
  type Job,
  type JobEvent,
  type JobFacts,
  type LogLine,
  type Principal,
  RETRYABLE,
  redactUrl,
  routingText,
  type WebhookDelivery,
} from '../api.js';
import { DataTable, ErrorNote, Progress, StatusBadge } from '../components.js';
import { Link } from '../router.js';

/** hls.js player with a manual quality switch ("Auto" = hls.js ABR, else a fixed level). */
function Player(props: { src: string; poster?: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const hls = useRef<Hls | null>(null);
  const [levels, setLevels] = useState<Array<{ height: number; bitrate: number }>>([]);
  const [chosen, setChosen] = useState(-1);
  const [playing, setPlaying] = useState(-1);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const el = video.current;
    if (!el) return;
    if (!Hls.isSupported()) {
      // Safari plays HLS natively (no manual switch there).
      el.src = props.src;
      return;
    }
    const h = new Hls({ capLevelToPlayerSize: false });
    hls.current = h;
    h.on(Hls.Events.MANIFEST_PARSED, (_e, d) =>
      setLevels(d.levels.map((l) => ({ height: l.height, bitrate: l.bitrate }))),
    );
    h.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => setPlaying(d.level));
    h.on(Hls.Events.ERROR, (_e, d) => d.fatal && setError(`${d.type}: ${d.details}`));
    h.loadSource(props.src);
    h.attachMedia(el);
    return () => {
      h.destroy();
      hls.current = null;
    };
  }, [props.src]);

  const choose = (level: number) => {
    setChosen(level);
    if (hls.current) hls.current.currentLevel = level;
  };
  return (
    <div className="player" data-level={playing} data-chosen={chosen}>
      <video ref={video} controls playsInline muted poster={props.poster} aria-label="Rendition player" />
      <div className="player-bar">
        <label>
          Quality{' '}
          <select aria-label="Quality" value={chosen} onChange={(e) => choose(Number(e.target.value))}>
            <option value={-1}>Auto</option>
            {levels.map((l, i) => (
              <option key={`${l.height}-${l.bitrate}`} value={i}>
                {l.height}p · {fmtBits(l.bitrate)}
              </option>
            ))}
          </select>
        </label>
        <span className="muted">
          playing: {playing >= 0 && levels[playing] ? `${levels[playing].height}p` : '—'}
        </span>
      </div>
      {error && <p className="error">{error}</p>}
    </div>
  );
}

/** `mov,mp4,…, 4.0 s, h264 1280×720 @ 24 fps` from the facts the encoder logged when it probed. */
function describeSource(src: NonNullable<JobFacts['source']>): string {
  const v = src.video;
  const container = src.container.split(',')[0];
  const video = v ? `${v.codec} ${v.width}×${v.height} @ ${Math.round(v.fps * 100) / 100} fps` : 'audio only';
  return `${fmtSeconds(src.durationS)} · ${video} · ${container}`;
}

/**
 * Where the job's time went: queue wait (submit → first lease) against the ffmpeg encode, on one bar
 * (the rest of the total is download, probe, upload and retries).
 */
function TimeSplit(props: { timing: JobFacts['timing'] }) {
  const { waitS, encodeS, totalS } = props.timing;
  if (waitS === null) return <span className="muted">not claimed yet</span>;
  const whole = Math.max(totalS ?? 0, waitS + (encodeS ?? 0), 0.001);
  return (
    <span className="time-split">
      <span className="split-bar" aria-hidden="true">
        <span className="bar-wait" style={{ width: `${(100 * waitS) / whole}%` }} />
        {encodeS !== null && <span className="bar-encode" style={{ width: `${(100 * encodeS) / whole}%` }} />}
      </span>
      <span className="split-text">
        <span className="key key-wait" /> waited {fmtSeconds(waitS)}
        {encodeS !== null && (
          <>
            {' '}
            · <span className="key key-encode" /> encoded {fmtSeconds(encodeS)}
          </>
        )}
        {totalS !== null && ` · total ${fmtSeconds(totalS)}`}
      </span>
    </span>
  );
}

const DELIVERY_CLASS = { delivered: 'completed', pending: 'pending', failed: 'dead' } as const;

/**
 * Webhook deliveries of one job with re-send (`/api/v1/webhooks/deliveries`). Hidden when the
 * coordinator has no webhook routes (404) or the job has no deliveries.
 */
function Deliveries(props: { jobId: string; mayAct: boolean; refresh: number }) {
  const [list, setList] = useState<WebhookDelivery[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(
    () =>
      api<{ deliveries: WebhookDelivery[] }>(
        `/webhooks/deliveries?jobId=${encodeURIComponent(props.jobId)}`,
      ).then(
        (r) => setList(r.deliveries),
        () => setList([]),
      ),
    [props.jobId],
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: refresh is the reload trigger (job transitions)
  useEffect(() => {
    void load();
  }, [load, props.refresh]);
  if (!list || list.length === 0) return null;
  const resend = async (d: WebhookDelivery) => {
    setError(null);
    try {
      await api(`/webhooks/deliveries/${d.id}/resend`, { method: 'POST' });
      await load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="card">
      <h2>Webhook deliveries</h2>
      <ErrorNote error={error} />
      <DataTable columns={['Event', 'URL', 'State', 'Attempts', 'Last answer', props.mayAct && 'Actions']}>
        {list.map((d) => (
          <tr key={d.id}>
            <td data-label="Event">{d.event}</td>
            <td data-label="URL">
              <code>{redactUrl(d.url)}</code>
            </td>
            <td data-label="State">
              <span className={`badge s-${DELIVERY_CLASS[d.status]}`}>{d.status}</span>
            </td>
            <td data-label="Attempts" className="num">
              {d.attempts}
            </td>
            <td data-label="Last answer" className="num">
              {d.lastStatusCode ?? d.lastError ?? '—'}
              {d.lastLatencyMs !== null ? ` · ${d.lastLatencyMs} ms` : ''}
            </td>
            {props.mayAct && (
              <td data-label="">
                <button type="button" onClick={() => resend(d)}>
                  Re-send
                </button>
              </td>
            )}
          </tr>
        ))}
      </DataTable>
    </div>
  );
}

/** A split job's chunk tasks (docs/chunking.md): audio task first, then video chunks in order. */
function ChunkTasks(props: { jobId: string; refresh: number }) {
  const [list, setList] = useState<Job[] | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: refresh is the reload trigger (job transitions)
  useEffect(() => {
    api<{ jobs: Job[] }>(`/jobs/${encodeURIComponent(props.jobId)}/children`).then(
      (r) => setList(r.jobs),
      () => setList([]),
    );
  }, [props.jobId, props.refresh]);
  if (!list || list.length === 0) return null;
  return (
    <div className="card">
      <h2>Chunk tasks</h2>
      <DataTable columns={['Chunk', 'Status', 'Progress', 'Attempts', 'Encoder']}>
        {list.map((c) => (
          <tr key={c.id}>
            <td data-label="Chunk">
              <Link to={`/jobs/${c.id}`}>{c.chunkIndex === -1 ? 'audio' : `video ${c.chunkIndex}`}</Link>
            </td>
            <td data-label="Status">
              <StatusBadge status={c.status} />
            </td>
            <td data-label="Progress">
              <Progress value={c.progress} />
            </td>
            <td data-label="Attempts" className="num">
              {c.attempts}/{c.maxAttempts}
            </td>
            <td data-label="Encoder">
              <code>{c.encoderId ?? '—'}</code>
            </td>
          </tr>
        ))}
      </DataTable>
    </div>
  );
}

export function JobDetailPage(props: { id: string; principal: Principal }) {
  const { id } = props;
  const [job, setJob] = useState<Job | null>(null);
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);
  const [facts, setFacts] = useState<JobFacts | null>(null);
  const nextSeq = useRef(0);
  const mayAct = can(props.principal, 'submit');

  const loadHistory = useCallback(
    () =>
      api<{ events: JobEvent[] }>(`/jobs/${id}/history`)
        .then((r) => setEvents(r.events))
        .catch(setError),
    [id],
  );

  // Live state: the job's own SSE stream (snapshot, progress, transitions, end). `generation` re-opens
  // it after a retry (the stream closed itself at the final state).
  // biome-ignore lint/correctness/useExhaustiveDependencies: generation is the re-open trigger
  useEffect(() => {
    const es = new EventSource(`/api/v1/jobs/${id}/events`);
    const on = (e: MessageEvent<string>) => setJob((JSON.parse(e.data) as { job: Job }).job);
    for (const type of ['snapshot', 'progress', 'transition', 'end']) es.addEventListener(type, on);
    es.addEventListener('transition', () => void loadHistory());
    es.addEventListener('end', () => {
      void loadHistory();
      es.close();
    });
    es.onerror = () => {
      // Not found or signed out: one plain request names the reason.
      if (es.readyState === EventSource.CLOSED)
        api<{ job: Job }>(`/jobs/${id}`).then((r) => setJob(r.job), setError);
    };
    void loadHistory();
    return () => es.close();
  }, [id, loadHistory, generation]);

  // Log tail: one request every 2 s while the job is live, one final read when it ends.
  const live = job ? !FINAL.includes(job.status) : true;
  useEffect(() => {
    let stop = false;
    const read = async () => {
      try {
        const r = await api<{ lines: LogLine[]; nextSeq: number }>(
          `/jobs/${id}/logs?afterSeq=${nextSeq.current}&limit=500`,
        );
        if (stop) return;
        if (r.lines.length) {
          nextSeq.current = r.nextSeq;
          setLogs((l) => [...l, ...r.lines].slice(-1000));
        }
      } catch {
        // The job stream reports access problems.
      }
    };
    void read();
    const t = live ? setInterval(read, 2000) : undefined;
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [id, live]);

  // Source facts, timing and downloads: read again on each transition (events) and once the log shows
  // the probe (a few lines in), not on every progress tick.
  const probed = logs.length > 0 && logs.some((l) => l.line.startsWith('[vidmesh] probed: '));
  // biome-ignore lint/correctness/useExhaustiveDependencies: events.length and probed are the reload triggers
  useEffect(() => {
    let stop = false;
    api<JobFacts>(`/dashboard/jobs/${id}`).then(
      (f) => !stop && setFacts(f),
      () => {},
    );
    return () => {
      stop = true;
    };
  }, [id, events.length, probed]);

  const logBox = useRef<HTMLPreElement>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll to the newest line whenever lines arrive
  useEffect(() => {
    const el = logBox.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [logs]);

  const act = async (action: 'cancel' | 'retry') => {
    setError(null);
    try {
      const r =
        action === 'cancel'
          ? await api<{ job: Job }>(`/jobs/${id}`, { method: 'DELETE' })
          : await api<{ job: Job }>(`/jobs/${id}/retry`, { method: 'POST', body: {} });
      setJob(r.job);
      if (action === 'retry') setGeneration((g) => g + 1);
      void loadHistory();
    } catch (err) {
      setError(err);
    }
  };

  if (!job) {
    return (
      <section>
        <h1>Job {id.slice(0, 8)}</h1>
        {error ? <ErrorNote error={error} /> : <p className="loading">Loading…</p>}
      </section>
    );
  }
  const results = job.result?.renditions ?? [];
  return (
    <section className="job-detail">
      <h1>
        Job <code>{job.id.slice(0, 8)}</code> <StatusBadge status={job.status} />
        {job.metadata.title && <span className="muted title">{job.metadata.title}</span>}
      </h1>
      {(facts?.source || job.result?.posterUrl || facts?.timing.waitS != null) && (
        <div className="card job-summary">
          {job.result?.posterUrl && (
            <a href={job.result.posterUrl} className="poster-large">
              <img src={job.result.posterUrl} alt="Poster frame" width={192} height={108} />
            </a>
          )}
          <dl className="facts">
            {facts?.source && (
              <>
                <dt>Source</dt>
                <dd data-source-facts>{describeSource(facts.source)}</dd>
              </>
            )}
            {facts && (
              <>
                <dt>Time</dt>
                <dd>
                  <TimeSplit timing={facts.timing} />
                </dd>
              </>
            )}
          </dl>
        </div>
      )}
      <div className="job-head card">
        <Progress value={job.progress} label="job progress" />
        <dl className="facts">
          <dt>Stage</dt>
          <dd>{job.stage ?? '—'}</dd>
          <dt>ETA</dt>
          <dd>{job.etaS !== null ? fmtSeconds(job.etaS) : '—'}</dd>
          <dt>Queue</dt>
          <dd>
            {job.queue} / {job.priority}
          </dd>
          <dt>Attempts</dt>
          <dd>
            {job.attempts} of {job.maxAttempts}
          </dd>
          <dt>Encoder</dt>
          <dd>
            <code>{job.encoderId ?? '—'}</code>
          </dd>
          <dt>Source</dt>
          <dd>{job.source.type} (location redacted)</dd>
          <dt>Output</dt>
          <dd>
            {job.destination.type}
            {job.result?.masterUrl && job.destination.type === 'local' ? (
              <>
                {' '}
                · <a href={job.result.masterUrl}>master.m3u8</a>
              </>
            ) : (
              ' (location redacted)'
            )}
          </dd>
          {job.result?.encode?.speed !== undefined && (
            <>
              <dt>Speed</dt>
              <dd>
                {job.result.encode.speed.toFixed(2)}× realtime ({job.result.encode.backend})
              </dd>
            </>
          )}
        </dl>
        {mayAct && (
          <div className="actions">
            {!FINAL.includes(job.status) && job.status !== 'failed' && (
              <button type="button" onClick={() => act('cancel')}>
                Cancel job
              </button>
            )}
            {RETRYABLE.includes(job.status) && (
              <button type="button" onClick={() => act('retry')}>
                Retry job
              </button>
            )}
          </div>
        )}
      </div>
      <ErrorNote error={error} />
      {job.error && (
        <div className="card failure" role="status">
          <h2>Failure</h2>
          <p>
            <code>{job.error.code}</code>: <span className="reason">{job.error.message}</span>
          </p>
        </div>
      )}
      {job.status === 'completed' && job.result && (
        <div className="card">
          <h2>Playback</h2>
          <Player src={job.result.masterUrl} poster={job.result.posterUrl} />
        </div>
      )}
      {job.outputs && (
        <div className="card">
          <h2>Outputs</h2>
          <DataTable
            columns={['Name', 'Kind', 'State', 'Destination', 'Size', 'Duration', 'Where']}
            className="outputs"
          >
            {job.outputs.map((o) => (
              <tr key={o.name}>
                <td data-label="Name">{o.name}</td>
                <td data-label="Kind">
                  {o.kind}
                  {o.width ? ` ${o.width}×${o.height}` : ''}
                </td>
                <td data-label="State">
                  <span>
                    <StatusBadge status={o.status} /> <span className="num">{Math.floor(o.progress)} %</span>
                  </span>
                  {o.error && (
                    <div className="reason">
                      <code>{o.error.code}</code>: {o.error.message}
                    </div>
                  )}
                </td>
                <td data-label="Destination">{o.destinationType}</td>
                <td data-label="Size" className="num">
                  {fmtBytes(o.bytes)}
                </td>
                <td data-label="Duration" className="num">
                  {o.durationS !== undefined ? fmtSeconds(o.durationS) : '—'}
                </td>
                <td data-label="Where">
                  {/* Only http(s) URLs become links; s3://, ftp://, ipfs:// are shown as text. */}
                  {o.url && /^https?:\/\//i.test(o.url) ? (
                    <a href={o.url}>open</a>
                  ) : (
                    <code>{o.url ?? '—'}</code>
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        </div>
      )}
      <div className="card" hidden={job.outputs !== undefined}>
        <h2>Renditions</h2>
        <DataTable
          columns={['Name', 'State', 'Resolution', 'Bandwidth', 'Codecs', 'Size', 'Download']}
          className="renditions"
        >
          {job.renditions.map((r) => {
            const res = results.find((x) => x.name === r.name);
            const dl = facts?.downloads.find((d) => d.name === r.name);
            return (
              <tr key={r.name}>
                <td data-label="Name">{r.name}</td>
                <td data-label="State">
                  <span>
                    <StatusBadge status={r.status} />{' '}
                    {r.status === 'skipped' ? null : <span className="num">{Math.floor(r.progress)} %</span>}
                  </span>
                </td>
                <td data-label="Resolution" className="num">
                  {res?.width ? `${res.width}×${res.height}` : '—'}
                </td>
                <td data-label="Bandwidth" className="num">
                  {fmtBits(res?.bandwidth)}
                </td>
                <td data-label="Codecs">
                  <code>{res?.codecs ?? '—'}</code>
                </td>
                <td data-label="Size" className="num">
                  {fmtBytes(res?.bytes)}
                </td>
                <td data-label="Download">
                  {dl?.playlistUrl || dl?.mp4Url ? (
                    <span className="actions">
                      {dl.playlistUrl && (
                        <a href={dl.playlistUrl} download aria-label={`${r.name} playlist`}>
                          .m3u8
                        </a>
                      )}
                      {dl.mp4Url && (
                        <a href={dl.mp4Url} download aria-label={`${r.name} MP4`}>
                          .mp4
                        </a>
                      )}
                    </span>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
              </tr>
            );
          })}
        </DataTable>
      </div>
      <ChunkTasks jobId={job.id} refresh={events.length} />
      <Deliveries jobId={job.id} mayAct={mayAct} refresh={events.length} />
      <div className="grid2">
        <div className="card">
          <h2>Events</h2>
          <ol className="timeline">
            {events.map((e) => (
              <li key={e.id}>
                <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time>{' '}
                <strong>
                  {e.from ?? '∅'} → {e.to}
                </strong>{' '}
                <span className="muted">by {e.actor}</span>
                {e.reason && <div className="reason">{e.reason}</div>}
                {e.routing && <div className="reason">{routingText(e.routing)}</div>}
              </li>
            ))}
          </ol>
        </div>
        <div className="card">
          <h2>Log</h2>
          <pre className="log" ref={logBox}>
            {logs.map((l) => `${l.stream.padEnd(6)} ${l.line}`).join('\n') || 'no log lines yet'}
          </pre>
        </div>
      </div>
    </section>
  );
}

import { useEffect, useRef, useState } from 'react';
import { fmtSeconds } from '../api.js';
import { ErrorNote, Progress } from '../components.js';
import { loadOrCreateIdentity } from '../encoder/identity.js';
import type { EncoderState } from '../encoder/worker.js';
import { Link } from '../router.js';

/**
 * `/encode`: this tab becomes an encoder of kind `browser` (docs/encoders.md, "Browser encoder"):
 * short jobs (≤ 120 s), 480p H.264 via WebCodecs, verified by the coordinator before publication.
 * `?start=1` starts at once (the Submit page's "Encode here" comes with it and `job=<id>`).
 */
export function EncodePage(props: { query: URLSearchParams }) {
  const autoStart = props.query.get('start') === '1';
  const waitingFor = props.query.get('job');
  const [state, setState] = useState<EncoderState | null>(null);
  const [error, setError] = useState<unknown>(null);
  const handle = useRef<{ stop(): Promise<void> } | null>(null);

  const start = async () => {
    setError(null);
    try {
      const identity = await loadOrCreateIdentity();
      // mediabunny is loaded only by tabs that encode (it is most of the encoder's weight).
      const { startBrowserEncoder } = await import('../encoder/worker.js');
      handle.current = startBrowserEncoder({ identity, onState: setState });
    } catch (err) {
      setError(err);
    }
  };
  const stop = async () => {
    const h = handle.current;
    handle.current = null;
    await h?.stop();
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: start once on mount when asked to
  useEffect(() => {
    if (autoStart) void start();
    return () => void handle.current?.stop();
  }, []);

  const running = state !== null && !['stopped', 'unsupported', 'error'].includes(state.phase);
  const job = state?.job;
  return (
    <section>
      <h1>Encode in this tab</h1>
      <p>
        This tab encodes short videos (up to 2 minutes) to 480p H.264 HLS with your browser&apos;s WebCodecs
        and uploads them to the coordinator, which checks the result before publishing it. Keep the tab open
        while it works; closing it hands the job back.
      </p>
      <ErrorNote error={error} />
      <div className="card">
        <p>
          Status:{' '}
          <strong data-testid="encoder-phase" data-phase={state?.phase ?? 'off'}>
            {state?.phase ?? 'off'}
          </strong>
          {state?.message ? <small> — {state.message}</small> : null}
        </p>
        {state?.did ? (
          <p>
            Identity: <code data-testid="encoder-did">{state.did}</code>
          </p>
        ) : null}
        {waitingFor ? (
          <p>
            Waiting for job <Link to={`/jobs/${waitingFor}`}>{waitingFor}</Link>, submitted for this tab.
          </p>
        ) : null}
        {running ? (
          <button type="button" onClick={stop}>
            Stop encoding
          </button>
        ) : (
          <button type="button" onClick={start}>
            Start encoding
          </button>
        )}
      </div>
      {job ? (
        <div className="card" data-testid="encoder-job" data-job={job.id}>
          <p>
            Job <Link to={`/jobs/${job.id}`}>{job.id}</Link>: {job.stage}
            {job.speed ? ` · ${job.speed.toFixed(2)}× real time` : ''}
          </p>
          <Progress value={job.progress} label={`${job.stage} progress`} />
        </div>
      ) : null}
      {state?.finished.length ? (
        <table>
          <caption>Jobs done in this tab</caption>
          <thead>
            <tr>
              <th>Job</th>
              <th>Result</th>
              <th>Video</th>
              <th>Encode</th>
              <th>Speed</th>
              <th>Codecs</th>
            </tr>
          </thead>
          <tbody>
            {state.finished.map((f) => (
              <tr
                key={f.id}
                data-testid="finished-job"
                data-job={f.id}
                data-ok={String(f.ok)}
                data-speed={f.speed ?? ''}
              >
                <td>
                  <Link to={`/jobs/${f.id}`}>{f.id.slice(0, 8)}</Link>
                </td>
                <td>{f.ok ? 'completed' : `failed: ${f.error ?? ''}`}</td>
                <td>{f.durationS === undefined ? '' : fmtSeconds(f.durationS)}</td>
                <td>{f.wallS === undefined ? '' : fmtSeconds(f.wallS)}</td>
                <td>{f.speed === undefined ? '' : `${f.speed.toFixed(2)}×`}</td>
                <td>{f.codecs ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

import { type DragEvent, type FormEvent, useEffect, useRef, useState } from 'react';
import { ENCODER_KIND_LIMITS } from '../../../src/jobs/vocabulary.js';
import { api, fmtBytes, type Job, uploadFile } from '../api.js';
import { ErrorNote, Progress } from '../components.js';
import { loadOrCreateIdentity } from '../encoder/identity.js';
import { navigate } from '../router.js';

/** Longest file offered "Encode here" (the browser kind's limit, enforced again by the claim). */
const BROWSER_MAX_S = ENCODER_KIND_LIMITS.browser?.maxDurationS ?? 120;

/** Duration of a local video file in seconds, from its metadata (`<video>` preload); NaN if unknown. */
function fileDurationS(file: File): Promise<number> {
  return new Promise((resolve) => {
    const video = document.createElement('video');
    const url = URL.createObjectURL(file);
    const done = (d: number) => {
      URL.revokeObjectURL(url);
      resolve(d);
    };
    video.preload = 'metadata';
    video.onloadedmetadata = () => done(video.duration);
    video.onerror = () => done(Number.NaN);
    video.src = url;
  });
}

/** Ladder choices offered here, as `ladder` options of the job spec (docs/media.md). */
const PRESETS: Record<string, { label: string; ladder: Record<string, unknown> }> = {
  default: { label: 'Standard ladder (1080p/720p/480p, no upscaling)', ladder: {} },
  fast: {
    label: 'Fast preview (ultrafast x264, 2 s segments)',
    ladder: { speed: 'ultrafast', segmentDuration: 2 },
  },
  single: { label: '480p only', ladder: { only: ['480p'] } },
  short: { label: 'Short (first 60 s, 480p)', ladder: { short: true } },
};

export function SubmitPage() {
  const [mode, setMode] = useState<'file' | 'url'>('file');
  const [file, setFile] = useState<File | null>(null);
  const [url, setUrl] = useState('');
  const [preset, setPreset] = useState('default');
  const [priority, setPriority] = useState('medium');
  const [queue, setQueue] = useState('default');
  const [webhook, setWebhook] = useState('');
  const [title, setTitle] = useState('');
  const [sent, setSent] = useState<{ sent: number; total: number } | null>(null);
  const [busy, setBusy] = useState(false);
  const [drag, setDrag] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [durationS, setDurationS] = useState<number>(Number.NaN);
  const [encodeHere, setEncodeHere] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const short = mode === 'file' && durationS > 0 && durationS <= BROWSER_MAX_S;

  useEffect(() => {
    setDurationS(Number.NaN);
    setEncodeHere(false);
    if (file) void fileDurationS(file).then(setDurationS);
  }, [file]);

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDrag(false);
    const f = e.dataTransfer.files[0];
    if (f) setFile(f);
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      let source: Record<string, unknown>;
      if (mode === 'file') {
        if (!file) throw new Error('choose or drop a video file first');
        setSent({ sent: 0, total: file.size });
        source = await uploadFile(file, (s, t) => setSent({ sent: s, total: t }));
      } else {
        source = { type: 'http', url };
      }
      const metadata: Record<string, string> = {};
      if (title) metadata.title = title;
      if (file && mode === 'file') metadata.filename = file.name.slice(0, 1024);
      // "Encode here": a 480p fMP4 job pinned to this tab's own did:key (only the encoder registered with
      // it may claim it), on the community network because the tab holds no credential; its result is
      // verified before publication.
      const here = short && encodeHere ? (await loadOrCreateIdentity()).did : undefined;
      const r = await api<{ job: Job }>('/jobs', {
        method: 'POST',
        body: {
          source,
          ladder: here ? { only: ['480p'], format: 'fmp4' } : PRESETS[preset].ladder,
          priority,
          queue,
          metadata,
          ...(here ? { network: 'community', pinEncoder: { did: here } } : {}),
          ...(webhook ? { webhook: { url: webhook } } : {}),
        },
      });
      navigate(here ? `/encode?start=1&job=${encodeURIComponent(r.job.id)}` : `/jobs/${r.job.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>Submit a video</h1>
      <form className="card submit" onSubmit={submit}>
        <fieldset className="mode">
          <legend>Source</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'file'} onChange={() => setMode('file')} />{' '}
            Upload a file
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'url'} onChange={() => setMode('url')} /> From a
            URL
          </label>
        </fieldset>
        {mode === 'file' ? (
          <section
            aria-label="Drop zone"
            className={`drop${drag ? ' over' : ''}`}
            onDragOver={(e) => {
              e.preventDefault();
              setDrag(true);
            }}
            onDragLeave={() => setDrag(false)}
            onDrop={onDrop}
          >
            <p>{file ? `${file.name} · ${fmtBytes(file.size)}` : 'Drop a video here, or'}</p>
            <label className="button">
              Choose file
              <input
                ref={input}
                className="sr-only"
                type="file"
                accept="video/*"
                aria-label="Video file"
                onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              />
            </label>
          </section>
        ) : (
          <label>
            Video URL (http/https)
            <input
              type="url"
              required
              value={url}
              onChange={(e) => setUrl(e.target.value)}
              placeholder="https://…"
            />
          </label>
        )}
        <label>
          Title (optional)
          <input type="text" maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
        </label>
        {short ? (
          <label>
            <input type="checkbox" checked={encodeHere} onChange={(e) => setEncodeHere(e.target.checked)} />{' '}
            Encode here, in this browser tab (480p, {Math.round(durationS)} s)
          </label>
        ) : null}
        <label>
          Ladder
          <select
            value={preset}
            onChange={(e) => setPreset(e.target.value)}
            aria-label="Ladder preset"
            disabled={short && encodeHere}
          >
            {Object.entries(PRESETS).map(([k, p]) => (
              <option key={k} value={k}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        <div className="row">
          <label>
            Priority
            <select value={priority} onChange={(e) => setPriority(e.target.value)}>
              <option value="high">high</option>
              <option value="medium">medium</option>
              <option value="low">low</option>
            </select>
          </label>
          <label>
            Queue
            <select value={queue} onChange={(e) => setQueue(e.target.value)}>
              <option value="live">live</option>
              <option value="default">default</option>
              <option value="batch">batch</option>
            </select>
          </label>
        </div>
        <label>
          Webhook URL (optional)
          <input
            type="url"
            value={webhook}
            onChange={(e) => setWebhook(e.target.value)}
            placeholder="https://…"
          />
        </label>
        {sent && (
          <div className="upload-progress">
            <Progress value={sent.total ? (100 * sent.sent) / sent.total : 0} label="upload progress" />
            <span className="muted num">
              {fmtBytes(sent.sent)} of {fmtBytes(sent.total)}
            </span>
          </div>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Submitting…' : 'Submit job'}
        </button>
        <ErrorNote error={error} />
      </form>
    </section>
  );
}

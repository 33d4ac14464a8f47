import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { api, can, FINAL, fmtAge, JOB_STATUSES, type Job, type Principal, RETRYABLE } from '../api.js';
import { DataTable, ErrorNote, Progress, StatusBadge } from '../components.js';
import { Link, navigate } from '../router.js';

interface Page {
  jobs: Job[];
  nextCursor: string | null;
}

/**
 * One EventSource per tab on `/api/v1/dashboard/stream` (transitions + progress of active jobs, pushed
 * by the server at most once a second): rows update in place, no per-row polling.
 */
export function useJobStream(onJob: (job: Job, kind: 'change' | 'progress') => void, onResync?: () => void) {
  const cb = useRef(onJob);
  cb.current = onJob;
  const rs = useRef(onResync);
  rs.current = onResync;
  useEffect(() => {
    const es = new EventSource('/api/v1/dashboard/stream');
    const handle = (kind: 'change' | 'progress') => (e: MessageEvent<string>) =>
      cb.current((JSON.parse(e.data) as { job: Job }).job, kind);
    es.addEventListener('change', handle('change'));
    es.addEventListener('progress', handle('progress'));
    es.addEventListener('resync', () => rs.current?.());
    return () => es.close();
  }, []);
}

export function JobsPage(props: { principal: Principal; query: URLSearchParams }) {
  const status = props.query.get('status') ?? '';
  const search = props.query.get('search') ?? '';
  const cursor = props.query.get('cursor') ?? '';
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [text, setText] = useState(search);
  const [reload, setReload] = useState(0);
  const mayAct = can(props.principal, 'submit');

  // biome-ignore lint/correctness/useExhaustiveDependencies: reload is the refetch trigger (actions, stream resync)
  useEffect(() => {
    const q = new URLSearchParams({ limit: '20' });
    if (status) q.set('status', status);
    if (search) q.set('search', search);
    if (cursor) q.set('cursor', cursor);
    api<Page>(`/jobs?${q}`).then(setPage).catch(setError);
  }, [status, search, cursor, reload]);

  useJobStream(
    useCallback(
      (job: Job, kind: 'change' | 'progress') =>
        setPage((p) => {
          if (!p) return p;
          const i = p.jobs.findIndex((j) => j.id === job.id);
          if (i >= 0) {
            const jobs = [...p.jobs];
            jobs[i] = job;
            return { ...p, jobs };
          }
          // A new job shows up on the first page when it passes the status filter.
          if (
            kind === 'change' &&
            !cursor &&
            !search &&
            (!status || status.split(',').includes(job.status))
          ) {
            return { ...p, jobs: [job, ...p.jobs].slice(0, 20) };
          }
          return p;
        }),
      [cursor, search, status],
    ),
    () => setReload((n) => n + 1),
  );

  const setQuery = (next: Record<string, string>) => {
    const q = new URLSearchParams({ status, search, ...next });
    for (const [k, v] of [...q]) if (!v) q.delete(k);
    navigate(`/jobs${q.size ? `?${q}` : ''}`);
  };
  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    setQuery({ search: text, cursor: '' });
  };
  const act = async (job: Job, action: 'cancel' | 'retry') => {
    setError(null);
    try {
      const res =
        action === 'cancel'
          ? await api<{ job: Job }>(`/jobs/${job.id}`, { method: 'DELETE' })
          : await api<{ job: Job }>(`/jobs/${job.id}/retry`, { method: 'POST', body: {} });
      setPage((p) => p && { ...p, jobs: p.jobs.map((j) => (j.id === job.id ? res.job : j)) });
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section>
      <h1>Jobs</h1>
      <div className="filters">
        <label>
          Status{' '}
          <select value={status} onChange={(e) => setQuery({ status: e.target.value, cursor: '' })}>
            <option value="">all</option>
            <option value="queued,leased,running">active</option>
            {JOB_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <form onSubmit={onSearch}>
          <label htmlFor="job-search" className="sr-only">
            Search jobs
          </label>
          <input
            id="job-search"
            type="search"
            placeholder="id, owner, metadata…"
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          <button type="submit">Search</button>
        </form>
      </div>
      <ErrorNote error={error} />
      <DataTable
        columns={[
          'Poster',
          'Job',
          'Status',
          'Progress',
          { label: 'Encoder', className: 'wide-only' },
          'Age',
          mayAct && 'Actions',
        ]}
        className="jobs"
      >
        {page?.jobs.map((job) => (
          <tr key={job.id} data-job={job.id} data-status={job.status}>
            <td className="poster" data-label="">
              {job.result?.posterUrl ? (
                <img src={job.result.posterUrl} alt="" width={64} height={36} loading="lazy" />
              ) : (
                <span className="poster-empty" />
              )}
            </td>
            <td data-label="Job">
              <span>
                <Link to={`/jobs/${job.id}`}>
                  <code>{job.id.slice(0, 8)}</code>
                </Link>{' '}
                <small className="muted">{job.metadata.title ?? job.metadata.filename ?? ''}</small>
              </span>
            </td>
            <td data-label="Status">
              <span>
                <StatusBadge status={job.status} />
                <small className="stage">{job.stage ?? ''}</small>
              </span>
            </td>
            <td data-label="Progress">
              <Progress value={job.progress} label={`progress of job ${job.id.slice(0, 8)}`} />
            </td>
            <td className="muted wide-only" data-label="Encoder">
              <code>{job.encoderId ? job.encoderId.slice(0, 18) : '—'}</code>
            </td>
            <td className="num" data-label="Age">
              {fmtAge(job.createdAt)}
            </td>
            {mayAct && (
              <td data-label="Actions">
                <div className="actions">
                  {!FINAL.includes(job.status) && job.status !== 'failed' ? (
                    <button type="button" onClick={() => act(job, 'cancel')}>
                      Cancel
                    </button>
                  ) : null}
                  {RETRYABLE.includes(job.status) ? (
                    <button type="button" onClick={() => act(job, 'retry')}>
                      Retry
                    </button>
                  ) : null}
                </div>
              </td>
            )}
          </tr>
        ))}
      </DataTable>
      {page && page.jobs.length === 0 && <p className="muted">No jobs match.</p>}
      <nav className="pager" aria-label="Pages">
        {cursor && (
          <button type="button" onClick={() => history.back()}>
            ← Newer
          </button>
        )}
        {page?.nextCursor && (
          <button type="button" onClick={() => setQuery({ cursor: page.nextCursor ?? '' })}>
            Older →
          </button>
        )}
      </nav>
    </section>
  );
}

import { type ReactNode, useSyncExternalStore } from 'react';
import type { JobStatus } from './api.js';

/**
 * A progress bar whose size never depends on its value: the fill is a scaleX transform inside a fixed
 * box and the label uses tabular digits in a fixed-width slot, so moving progress causes no layout shift.
 */
export function Progress(props: { value: number; label?: string }) {
  const v = Math.max(0, Math.min(100, props.value));
  return (
    <div className="progress">
      <div
        className="bar"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(v)}
        aria-label={props.label ?? 'progress'}
      >
        <div className="fill" style={{ transform: `scaleX(${v / 100})` }} />
      </div>
      <span className="pct">{Math.floor(v)} %</span>
    </div>
  );
}

/** A column header of {@link DataTable}: its text, or its text and a class; `false` leaves the column out. */
export type Column = string | { label: string; className?: string } | false | undefined;

/**
 * The dashboard's one table frame: a horizontally scrolling wrapper, a table whose header row names
 * the columns, and `children` (the `<tr>` rows) as its body. `stack` (default true) lays rows out as
 * labelled cards on narrow screens, so each `td` of a stacked table carries `data-label`.
 */
export function DataTable(props: {
  columns: readonly Column[];
  className?: string;
  stack?: boolean;
  label?: string;
  children: ReactNode;
}) {
  const cls = [props.className, props.stack === false ? undefined : 'stack'].filter(Boolean).join(' ');
  return (
    <div className="table-wrap">
      <table className={cls || undefined} aria-label={props.label}>
        <thead>
          <tr>
            {props.columns.map((c) =>
              !c ? null : typeof c === 'string' ? (
                <th scope="col" key={c}>
                  {c}
                </th>
              ) : (
                <th scope="col" key={c.label} className={c.className}>
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

export function StatusBadge(props: { status: JobStatus | string }) {
  return <span className={`badge s-${props.status}`}>{props.status}</span>;
}

export function ErrorNote(props: { error: unknown }) {
  if (!props.error) return null;
  const msg = props.error instanceof Error ? props.error.message : String(props.error);
  return (
    <p className="error" role="alert">
      {msg}
    </p>
  );
}

/** True while the CSS media query matches (re-renders when it starts or stops matching). */
export function useMediaQuery(query: string): boolean {
  return useSyncExternalStore(
    (onChange) => {
      const list = matchMedia(query);
      list.addEventListener('change', onChange);
      return () => list.removeEventListener('change', onChange);
    },
    () => matchMedia(query).matches,
  );
}

// The live reader of origin mode: every route without `:params`, and the
// paths the visitor asks for, each read through polycache by its own query
// (keyed by the route's type: origin.ts, readKey), which the
// StreamInvalidator refetches when an `app-update` of that type arrives.

import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { AnswerView } from './AnswerView.js';
import type { CacheRoute } from './mode.js';
import { example, isFixed, matchRoute, read, readKey, type Match } from './origin.js';
import { ServedBy } from './ServedBy.js';

/** Paths a visitor may add at once; the oldest goes when one more is added. */
const MAX_ASKED = 6;

export function OriginReads({ routes }: { routes: readonly CacheRoute[] }) {
  const [asked, setAsked] = useState<readonly string[]>([]);
  const fixed = routes.filter(isFixed).map((r) => r.path);
  const shown = [...asked, ...fixed.filter((p) => !asked.includes(p))];
  return (
    <>
      <ReadForm
        routes={routes}
        onRead={(path) => setAsked((a) => [path, ...a.filter((p) => p !== path)].slice(0, MAX_ASKED))}
      />
      <ol className="reads" data-testid="reads">
        {shown.map((path) => {
          const match = matchRoute(routes, path);
          return match ? (
            <ReadCard
              key={path}
              path={path}
              match={match}
              {...(asked.includes(path) && { onClose: () => setAsked((a) => a.filter((p) => p !== path)) })}
            />
          ) : null;
        })}
      </ol>
    </>
  );
}

function ReadForm({ routes, onRead }: { routes: readonly CacheRoute[]; onRead: (path: string) => void }) {
  const [path, setPath] = useState(() => example(routes.find((r) => !isFixed(r))));
  const trimmed = path.trim();
  const known = trimmed.startsWith('/') && matchRoute(routes, trimmed) !== null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (known) onRead(trimmed);
  };
  return (
    <form className="card read-form" onSubmit={submit} data-testid="read-form">
      <label className="field">
        <span>Read a path of the route table</span>
        <input value={path} onChange={(e) => setPath(e.target.value)} name="path" data-testid="read-path" spellCheck={false} />
      </label>
      {trimmed !== '' && !known && (
        <p className="notice notice-error small" role="alert">
          No route of the table matches {trimmed}.
        </p>
      )}
      <button type="submit" className="button button-primary" disabled={!known} data-testid="read-add">
        Read
      </button>
    </form>
  );
}

function ReadCard({ path, match, onClose }: { path: string; match: Match; onClose?: () => void }) {
  const q = useQuery({ queryKey: readKey(match, path), queryFn: ({ signal }) => read(path, signal) });
  return (
    <li className="card read" data-testid="origin-read" data-path={path} data-type={match.route.type} aria-busy={q.isFetching}>
      <div className="meta">
        <code className="read-path">{path}</code>
        <span className="chip">{match.route.type}</span>
        <ServedBy path={path} />
        {onClose && (
          <button type="button" className="link read-close" onClick={onClose} aria-label={`Stop reading ${path}`}>
            ✕
          </button>
        )}
      </div>
      {q.isPending && <p className="muted small">Reading…</p>}
      {q.isError && <div className="notice notice-error">Could not read {path}: {q.error.message}</div>}
      {q.data && <AnswerView answer={q.data} />}
    </li>
  );
}

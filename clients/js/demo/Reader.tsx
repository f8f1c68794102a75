// The open entry: its own query (`['posts', id]`), which the stream resets
// when that entry changes, and for editors the editor of a post.

import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { ApiError, api, keys, paths, type Kind, type Session } from './api.js';
import { Editor } from './Editor.js';
import { ServedBy } from './ServedBy.js';
import type { Route } from './route.js';
import { ago } from './time.js';

interface Props {
  readonly route: Route | null;
  /** The session of someone who may edit, or null. */
  readonly session: Session | null;
  readonly onUnauthorized: () => void;
}

export function Reader({ route, session, onUnauthorized }: Props) {
  if (route === null) {
    return (
      <section className="card reader reader-empty" data-testid="reader">
        <h2>Pick a note</h2>
        <p className="muted">Open anything from the feed to read it here. Edits made anywhere show up in place.</p>
      </section>
    );
  }
  if (route.kind === 'new') {
    return session ? (
      <section className="card reader" data-testid="reader">
        <h2 className="reader-title">New post</h2>
        <Editor session={session} initial={null} onDone={(id) => (location.hash = `#/posts/${id}`)} onUnauthorized={onUnauthorized} />
      </section>
    ) : (
      <section className="card reader reader-empty" data-testid="reader">
        <h2>New post</h2>
        <p className="muted">Sign in as an editor to write a post.</p>
      </section>
    );
  }
  return <EntryView kind={route.kind} id={route.id} session={session} onUnauthorized={onUnauthorized} />;
}

function EntryView({ kind, id, session, onUnauthorized }: { kind: Kind; id: string } & Omit<Props, 'route'>) {
  const entry = useQuery({ queryKey: keys.entry(kind, id), queryFn: ({ signal }) => api.entry(kind, id, signal) });
  const categories = useQuery({ queryKey: keys.categories, queryFn: ({ signal }) => api.categories(signal) });
  const [editing, setEditing] = useState(false);
  useEffect(() => setEditing(false), [kind, id]);

  const category = categories.data?.find((c) => c.id === entry.data?.categoryId);
  const gone = entry.error instanceof ApiError && entry.error.status === 404;

  return (
    <section className="card reader" data-testid="reader" data-kind={kind} data-id={id} aria-busy={entry.isFetching}>
      {entry.isPending && (
        <div className="skeleton" aria-label="Loading">
          <div className="bar short" />
          <div className="bar long" />
          <div className="bar" />
          <div className="bar" />
        </div>
      )}
      {gone && (
        <>
          <h2>Not here any more</h2>
          <p className="muted">This {kind} was deleted.</p>
        </>
      )}
      {entry.isError && !gone && <div className="notice notice-error">Could not load this {kind}: {entry.error.message}</div>}
      {entry.data && !editing && (
        <article>
          <div className="meta">
            <span className={`kind kind-${kind}`}>{kind === 'post' ? 'Post' : 'Page'}</span>
            {category && <span className="chip">{category.name}</span>}
            <span className="time">
              {entry.data.updatedAt !== entry.data.createdAt ? `Updated ${ago(entry.data.updatedAt)}` : ago(entry.data.createdAt)}
            </span>
            <ServedBy path={paths.entry(kind, id)} />
          </div>
          <h2 className="reader-title" data-testid="reader-title">
            {entry.data.title}
          </h2>
          <div className="reader-body" data-testid="reader-body">
            {entry.data.body.split(/\n{2,}/).map((para, i) => (
              <p key={i}>{para}</p>
            ))}
          </div>
          {session && kind === 'post' && (
            <div className="reader-actions">
              <button className="button" onClick={() => setEditing(true)} data-testid="edit">
                Edit post
              </button>
            </div>
          )}
        </article>
      )}
      {entry.data && editing && session && (
        <>
          <h2 className="reader-title">Edit post</h2>
          <Editor
            session={session}
            initial={entry.data}
            onDone={() => setEditing(false)}
            onCancel={() => setEditing(false)}
            onUnauthorized={onUnauthorized}
          />
        </>
      )}
    </section>
  );
}

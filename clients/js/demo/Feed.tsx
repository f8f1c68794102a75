// The feed: posts and pages, newest first. An entry that changed since the
// last render is highlighted for a moment, so that a live update is seen.

import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { api, keys, paths, type FeedItem } from './api.js';
import { href, type Route } from './route.js';
import { ServedBy } from './ServedBy.js';
import { ago } from './time.js';

const HIGHLIGHT_MS = 4_000;

function excerpt(body: string, max = 180): string {
  if (body.length <= max) return body;
  const cut = body.slice(0, max);
  return `${cut.slice(0, cut.lastIndexOf(' ') > 0 ? cut.lastIndexOf(' ') : max)}…`;
}

type Freshness = 'new' | 'updated';

/** Entries (by kind:id) that appeared or changed in the last HIGHLIGHT_MS. */
function useFreshEntries(items: readonly FeedItem[] | undefined): ReadonlyMap<string, Freshness> {
  const seen = useRef(new Map<string, number>());
  const [fresh, setFresh] = useState<ReadonlyMap<string, Freshness>>(new Map());
  useEffect(() => {
    if (!items) return;
    const first = seen.current.size === 0;
    const changed = new Map<string, Freshness>();
    for (const item of items) {
      const key = `${item.kind}:${item.id}`;
      const before = seen.current.get(key);
      if (!first && before !== item.updatedAt) changed.set(key, before === undefined ? 'new' : 'updated');
      seen.current.set(key, item.updatedAt);
    }
    if (changed.size === 0) return;
    setFresh((m) => new Map([...m, ...changed]));
    const t = setTimeout(() => setFresh((m) => new Map([...m].filter(([k]) => !changed.has(k)))), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [items]);
  return fresh;
}

export function Feed({ selected, editor }: { selected: Route | null; editor: boolean }) {
  const feed = useQuery({ queryKey: keys.feed, queryFn: ({ signal }) => api.feed(signal) });
  const fresh = useFreshEntries(feed.data);
  const [, tick] = useState(0);
  useEffect(() => {
    // Keeps "2 min ago" true without refetching anything.
    const t = setInterval(() => tick((n) => n + 1), 30_000);
    return () => clearInterval(t);
  }, []);

  return (
    <>
      <div className="section-head">
        <div>
          <h1>Latest</h1>
          <p className="muted">Notes on caching at the edge. This page updates itself when anything changes.</p>
          <p className="muted small">
            <ServedBy path={paths.feed} label="Feed: " />
          </p>
        </div>
        {editor && (
          <a className="button button-primary" href="#/new" data-testid="new-post">
            New post
          </a>
        )}
      </div>
      {feed.isPending && <FeedSkeleton />}
      {feed.isError && (
        <div className="notice notice-error">
          The feed could not be loaded: {feed.error.message}.{' '}
          <button className="link" onClick={() => void feed.refetch()}>
            Try again
          </button>
        </div>
      )}
      {feed.data && (
        <ol className="feed" data-testid="feed" aria-busy={feed.isFetching}>
          {feed.data.map((item) => {
            const key = `${item.kind}:${item.id}`;
            const isSelected = selected !== null && selected.kind === item.kind && selected.id === String(item.id);
            return (
              <li key={key}>
                <a
                  href={href(item.kind, item.id)}
                  className={`card feed-item${isSelected ? ' selected' : ''}${fresh.has(key) ? ' fresh' : ''}`}
                  data-testid="feed-item"
                  data-kind={item.kind}
                  data-id={item.id}
                  aria-current={isSelected ? 'page' : undefined}
                >
                  <div className="meta">
                    <span className={`kind kind-${item.kind}`}>{item.kind === 'post' ? 'Post' : 'Page'}</span>
                    {item.category && <span className="chip">{item.category.name}</span>}
                    <span className="time" title={new Date(item.updatedAt).toISOString()}>
                      {item.updatedAt !== item.createdAt ? `Updated ${ago(item.updatedAt)}` : ago(item.createdAt)}
                    </span>
                    {fresh.has(key) && (
                      <span className="fresh-label">{fresh.get(key) === 'new' ? 'New' : 'Just updated'}</span>
                    )}
                  </div>
                  <h2 className="feed-title" data-testid="feed-title">
                    {item.title}
                  </h2>
                  <p className="excerpt">{excerpt(item.body)}</p>
                </a>
              </li>
            );
          })}
        </ol>
      )}
    </>
  );
}

function FeedSkeleton() {
  return (
    <ol className="feed" aria-hidden="true">
      {[0, 1, 2].map((i) => (
        <li key={i} className="card skeleton">
          <div className="bar short" />
          <div className="bar" />
          <div className="bar long" />
        </li>
      ))}
    </ol>
  );
}

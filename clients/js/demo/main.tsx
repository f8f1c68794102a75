// The demo page served by the Worker at `/`: a small blog whose feed, open
// post and activity log stay current by themselves, or, when the deployment
// is in origin mode (polycache in front of the visitor's own API), the
// origin's route table, live reads of its routes and a box to write through
// it. The wiring an app needs is the block in render() below; the rest is
// the app.

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { StreamInvalidator, StreamProvider } from '../src/index.js';
import { record } from './activity.js';
import { App } from './App.js';
import { loadMode } from './mode.js';
import { OriginApp } from './OriginApp.js';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // The stream says when data changes, so data never goes stale by age
      // and a window focus does not refetch what the stream already covers.
      staleTime: Infinity,
      retry: 1,
    },
  },
});

const mode = await loadMode();
// In origin mode the types are the route table's own names: each is its own
// query key, with none of the blog's aliases.
const types = mode.mode === 'origin' ? [...new Set(mode.routes.map((r) => r.type))] : undefined;

/** A query key as the activity log names it: an origin read by its path, a blog query as `posts/2`. */
const shownKey = (key: readonly unknown[]): string => {
  const last = key.at(-1);
  return typeof last === 'string' && last.startsWith('/') ? last : key.join('/');
};

const root = document.getElementById('root');
if (!root) throw new Error('no #root element');
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <StreamProvider url="/api/stream">
        <StreamInvalidator
          queryClient={queryClient}
          {...(types && { types })}
          onFlush={(report) => {
            const queries = [...report.reset, ...report.invalidated, ...report.deferred]
              .filter((key) => queryClient.getQueryCache().find({ queryKey: key, exact: true })?.isActive())
              .map(shownKey);
            record({ kind: 'refresh', merged: report.signals, queries });
          }}
        />
        {mode.mode === 'origin' ? <OriginApp routes={mode.routes} /> : <App />}
      </StreamProvider>
    </QueryClientProvider>
  </StrictMode>,
);

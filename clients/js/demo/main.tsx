// The demo page served by the Worker at `/`: a small blog whose feed, open
// post and activity log stay current by themselves. The wiring an app needs
// is the block in render() below; the rest is the app.

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { StreamInvalidator, StreamProvider } from '../src/index.js';
import { record } from './activity.js';
import { App } from './App.js';

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

const root = document.getElementById('root');
if (!root) throw new Error('no #root element');
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <StreamProvider url="/api/stream">
        <StreamInvalidator
          queryClient={queryClient}
          onFlush={(report) => {
            const queries = [...report.reset, ...report.invalidated, ...report.deferred]
              .filter((key) => queryClient.getQueryCache().find({ queryKey: key, exact: true })?.isActive())
              .map((key) => key.join('/'));
            record({ kind: 'refresh', merged: report.signals, queries });
          }}
        />
        <App />
      </StreamProvider>
    </QueryClientProvider>
  </StrictMode>,
);

// A write sent through polycache to the origin, as the visitor types it.
// polycache does not sign anyone in for the origin: the `authorization`
// typed here goes to the origin, which decides (its 401 or 403 is shown as
// it came). A 2xx invalidates the route's type; the answer carries
// `x-invalidation-event`, and the event comes back over the stream like
// everyone else's, which is what refetches this page's reads.

import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { AnswerView } from './AnswerView.js';
import type { CacheRoute } from './mode.js';
import { example, send, WRITE_METHODS, type WriteMethod } from './origin.js';

export function RequestBox({ routes }: { routes: readonly CacheRoute[] }) {
  const [method, setMethod] = useState<WriteMethod>('PATCH');
  const [path, setPath] = useState(() => example(routes.find((r) => r.id !== null) ?? routes[0]));
  const [body, setBody] = useState('{"title": "Renamed through polycache"}');
  const [authorization, setAuthorization] = useState('');
  const write = useMutation({ mutationFn: () => send({ method, path: path.trim(), body, authorization }) });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    write.mutate();
  };

  return (
    <form className="card request" onSubmit={submit} data-testid="request-box">
      <div className="signin-title">Send a write</div>
      <p className="muted small">Through polycache to the origin; every page reading its type refetches.</p>
      <div className="request-line">
        <select value={method} onChange={(e) => setMethod(e.target.value as WriteMethod)} name="method" data-testid="request-method">
          {WRITE_METHODS.map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
        <input value={path} onChange={(e) => setPath(e.target.value)} required name="path" data-testid="request-path" spellCheck={false} />
      </div>
      <label className="field">
        <span>Body (JSON, or empty)</span>
        <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={3} name="body" data-testid="request-body" spellCheck={false} />
      </label>
      <label className="field">
        <span>authorization</span>
        <input
          value={authorization}
          onChange={(e) => setAuthorization(e.target.value)}
          placeholder="Bearer …"
          name="authorization"
          data-testid="request-auth"
          spellCheck={false}
          autoComplete="off"
        />
      </label>
      <button type="submit" className="button button-primary" disabled={write.isPending || !path.trim().startsWith('/')} data-testid="request-send">
        {write.isPending ? 'Sending…' : 'Send'}
      </button>
      {write.isError && (
        <div className="notice notice-error" role="alert">
          {write.error instanceof SyntaxError ? `The body is not JSON: ${write.error.message}` : write.error.message}
        </div>
      )}
      {write.data && (
        <div
          className="request-result"
          data-testid="request-result"
          data-status={write.data.status}
          data-event={write.data.event ?? ''}
          data-sent={write.submittedAt}
        >
          <div className="small">
            {write.data.event !== null ? (
              <>
                x-invalidation-event: <code data-testid="request-event">{write.data.event}</code>
              </>
            ) : (
              <span className="muted">no invalidation event</span>
            )}
          </div>
          <AnswerView answer={write.data} />
        </div>
      )}
    </form>
  );
}

// One answer of the origin as the page shows it: the status, then the JSON
// (indented), or for anything else its content type and size.

import type { Answer } from './origin.js';

/** Enough to read a list of a few dozen entries; a longer body is cut, with its size shown. */
const MAX_CHARS = 20_000;

export function AnswerView({ answer }: { answer: Answer }) {
  const ok = answer.status >= 200 && answer.status < 300;
  return (
    <div className="answer" data-testid="answer" data-status={answer.status}>
      <div className="answer-head small">
        {answer.redirect ? (
          <span className="status">redirect (not followed)</span>
        ) : (
          <span className={`status ${ok ? 'status-ok' : 'status-bad'}`}>{answer.status}</span>
        )}
        {answer.type && <code>{answer.type}</code>}
        {!answer.redirect && <span className="muted">{answer.size} bytes</span>}
      </div>
      {answer.json !== undefined ? (
        <pre className="json" data-testid="answer-json">
          {clip(JSON.stringify(answer.json, null, 2))}
        </pre>
      ) : (
        answer.size > 0 && <p className="muted small">Not JSON: {answer.type || 'no content type'}, {answer.size} bytes.</p>
      )}
    </div>
  );
}

const clip = (text: string): string => (text.length <= MAX_CHARS ? text : `${text.slice(0, MAX_CHARS)}\n…`);

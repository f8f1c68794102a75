// Where the last read of a path came from: the Edge that served it and
// whether from its cache, so that a visitor sees the edge tier at work (a
// hit, then a miss after an edit, then a hit again).

import { useServed } from './served.js';

const CACHE: Record<string, string> = {
  hit: 'cache hit',
  miss: 'cache miss',
  bypass: 'cache bypassed',
};

const TITLE =
  'How the last read of this was served: x-cache (hit: from the Edge\u2019s cache; miss: read from the database and cached; ' +
  'bypass: read from the database without the cache) and x-polycache-edge (the Edge that served it, edge:<region>:<shard>)';

/** Nothing until `path` has been read; then e.g. "cache hit · edge:default:0", after `label`. */
export function ServedBy({ path, label = '', className = '' }: { path: string; label?: string; className?: string }) {
  const served = useServed(path);
  if (!served) return null;
  return (
    <span
      className={`served ${className}`.trim()}
      data-testid="served"
      data-path={path}
      data-edge={served.edge ?? ''}
      data-cache={served.cache ?? ''}
      title={TITLE}
    >
      {label}
      {served.cache !== null && <span className="served-cache">{CACHE[served.cache] ?? `cache ${served.cache}`}</span>}
      {served.cache !== null && served.edge !== null && ' · '}
      {served.edge !== null && <code className="served-edge">{served.edge}</code>}
    </span>
  );
}

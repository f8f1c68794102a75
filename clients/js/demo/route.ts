// The selected entry lives in the URL hash (`#/posts/2`), so that a link or
// a reload opens the same view.

import { useEffect, useState } from 'react';
import type { Kind } from './api.js';

export type Route = { readonly kind: Kind; readonly id: string } | { readonly kind: 'new' };

export function parseRoute(hash: string): Route | null {
  if (hash === '#/new') return { kind: 'new' };
  const m = /^#\/(post|page)s\/([0-9]+)$/.exec(hash);
  return m ? { kind: m[1] as Kind, id: m[2] as string } : null;
}

export const href = (kind: Kind, id: number | string): string => `#/${kind}s/${id}`;

export function useRoute(): Route | null {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

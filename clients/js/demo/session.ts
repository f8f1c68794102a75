// The signed-in editor, kept in sessionStorage so that a reload keeps the
// session and closing the tab ends it. An expired token is dropped on read.

import { useCallback, useState } from 'react';
import type { Session } from './api.js';

const KEY = 'polycache.demo.session';

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    const s = raw ? (JSON.parse(raw) as Session) : null;
    return s && s.expiresAt > Date.now() ? s : null;
  } catch {
    return null;
  }
}

export function useSession() {
  const [session, setSession] = useState<Session | null>(load);
  const signIn = useCallback((s: Session) => {
    sessionStorage.setItem(KEY, JSON.stringify(s));
    setSession(s);
  }, []);
  const signOut = useCallback(() => {
    sessionStorage.removeItem(KEY);
    setSession(null);
  }, []);
  return { session, signIn, signOut };
}

/** Roles that may write content (README, "API"). */
export const canEdit = (s: Session | null): boolean => s !== null && (s.role === 'editor' || s.role === 'admin');

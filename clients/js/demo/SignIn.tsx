// Sign-in for editors. Reading needs no account; writing does.

import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ApiError, api, type Session } from './api.js';
import { canEdit } from './session.js';

interface Props {
  readonly session: Session | null;
  readonly onSignIn: (s: Session) => void;
  readonly onSignOut: () => void;
}

export function SignIn({ session, onSignIn, onSignOut }: Props) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const login = useMutation({
    mutationFn: () => api.login(email.trim(), password),
    onSuccess: (s) => {
      setPassword('');
      onSignIn(s);
    },
  });

  if (session) {
    return (
      <section className="card signin signed-in">
        <div>
          <div className="signin-title">Signed in</div>
          <div className="muted small">
            {session.email} · {canEdit(session) ? 'you can edit posts' : `role ${session.role} cannot edit`}
          </div>
        </div>
        <button className="button" onClick={onSignOut} data-testid="sign-out">
          Sign out
        </button>
      </section>
    );
  }

  const submit = (e: FormEvent) => {
    e.preventDefault();
    login.mutate();
  };
  const message =
    login.error instanceof ApiError && login.error.status === 401
      ? 'Wrong email or password.'
      : login.error instanceof ApiError && login.error.status === 429
        ? 'Too many attempts; wait a minute.'
        : login.error?.message;

  return (
    <form className="card signin" onSubmit={submit} data-testid="sign-in">
      <div className="signin-title">Editor sign-in</div>
      <p className="muted small">Editors can change posts; everyone sees the change at once.</p>
      <label className="field">
        <span>Email</span>
        <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required name="email" />
      </label>
      <label className="field">
        <span>Password</span>
        <input
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          name="password"
        />
      </label>
      {login.isError && (
        <div className="notice notice-error" role="alert">
          {message}
        </div>
      )}
      <button type="submit" className="button button-primary" disabled={login.isPending}>
        {login.isPending ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

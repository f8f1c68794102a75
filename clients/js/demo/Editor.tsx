// The post editor. Saving does not touch the React Query cache: the write's
// app-update event comes back over the stream like everyone else's, and the
// StreamInvalidator refetches -- the same path the other open pages take.

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ApiError, api, keys, type Entry, type Session } from './api.js';

interface Props {
  readonly session: Session;
  /** The post to edit, or null for a new one. */
  readonly initial: Entry | null;
  readonly onDone: (id: number) => void;
  readonly onCancel?: () => void;
  readonly onUnauthorized: () => void;
}

export function Editor({ session, initial, onDone, onCancel, onUnauthorized }: Props) {
  const [title, setTitle] = useState(initial?.title ?? '');
  const [body, setBody] = useState(initial?.body ?? '');
  const [categoryId, setCategoryId] = useState<number | null>(initial?.categoryId ?? null);
  const categories = useQuery({ queryKey: keys.categories, queryFn: ({ signal }) => api.categories(signal) });
  const save = useMutation({
    mutationFn: () => api.savePost(session, initial?.id ?? null, { title: title.trim(), body, categoryId }),
    onSuccess: ({ data }) => onDone(data.id),
    onError: (e) => {
      if (e instanceof ApiError && e.status === 401) onUnauthorized();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };

  return (
    <form className="editor" onSubmit={submit} data-testid="editor">
      <label className="field">
        <span>Title</span>
        <input value={title} onChange={(e) => setTitle(e.target.value)} required maxLength={200} name="title" data-testid="editor-title" />
      </label>
      <label className="field">
        <span>Category</span>
        <select
          value={categoryId ?? ''}
          onChange={(e) => setCategoryId(e.target.value ? Number(e.target.value) : null)}
          name="category"
        >
          <option value="">No category</option>
          {categories.data?.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Text</span>
        <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={8} maxLength={50_000} name="body" data-testid="editor-body" />
      </label>
      {save.isError && (
        <div className="notice notice-error" role="alert">
          {save.error instanceof ApiError && save.error.status === 401 ? 'Your session expired; sign in again.' : save.error.message}
        </div>
      )}
      <div className="editor-actions">
        {onCancel && (
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" className="button button-primary" disabled={save.isPending || title.trim() === ''} data-testid="save">
          {save.isPending ? 'Saving…' : initial ? 'Save changes' : 'Publish'}
        </button>
      </div>
    </form>
  );
}

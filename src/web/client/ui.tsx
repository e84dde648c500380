// Small shared pieces: the API's error shown as it came, tables, async loading.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure } from './api.js';

/** An error as the API gave it (code and message), or any other failure's message. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const code = error instanceof ApiFailure ? error.code : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return (
    <p class="error" role="alert">
      <strong>{code}</strong>: {message}
    </p>
  );
}

/** State of a load: data once there, the error otherwise, and a reload. */
export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads with `fn` now and every `refreshInMs` (live pages), keeping the last data while reloading. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[], refreshInMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const reload = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    fn()
      .then(
        (d) => {
          if (mine === generation.current) {
            setData(d);
            setError(null);
          }
        },
        (e: unknown) => {
          if (mine === generation.current) setError(e);
        },
      )
      .finally(() => {
        if (mine === generation.current) setLoading(false);
      });
  }, deps);
  useEffect(() => {
    reload();
    if (!refreshInMs) return undefined;
    const timer = setInterval(reload, refreshInMs);
    return () => clearInterval(timer);
  }, [reload, refreshInMs]);
  return { data, error, loading, reload };
}

/** A page's heading and body. */
export function Page({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title">{title}</h1>
        <div class="actions">{actions}</div>
      </header>
      {children}
    </section>
  );
}

/** A status word with its colour. */
export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status.toLowerCase()}`}>{status}</span>;
}

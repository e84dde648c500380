// The portal's entry: sign-in, the navigation and the pages (hash routes, so every page is `/`
// to the server and a reload stays where it was).
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AlertCapturesPage, AlertsPage } from './alerts.js';
import { ApiFailure, api, rememberSession, type SessionInfo } from './api.js';
import { CaptureFormPage } from './capture-form.js';
import { CapturesPage } from './captures.js';
import { HostsPage } from './hosts.js';
import { ErrorNote } from './ui.js';
import { ViewerPage } from './viewer.js';

function useHashRoute(): string[] {
  const read = () => (location.hash.replace(/^#\/?/, '') || 'hosts').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function SignIn({
  onSignedIn,
  notice,
  ssoSignInUrl,
}: {
  onSignedIn: (s: SessionInfo) => void;
  notice: string;
  ssoSignInUrl?: string | undefined;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api<SessionInfo>('POST', '/portal/api/sign-in', { token }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">netwatcher</h1>
        {notice && (
          <p class="muted" role="status">
            {notice}
          </p>
        )}
        {ssoSignInUrl && (
          <p>
            <a class="button primary" href={ssoSignInUrl}>
              Sign in with your organisation
            </a>
          </p>
        )}
        <label for="token">Admin token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          aria-describedby="token-help"
        />
        <p id="token-help" class="muted small">
          The file <code>admin-token</code> in the server's data folder (<code>nw up</code>: ~/.netwatcher/admin-token).
        </p>
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

const NAV = [
  { route: 'hosts', label: 'Hosts' },
  { route: 'captures', label: 'Captures' },
  { route: 'alerts', label: 'Alert rules' },
  { route: 'alert-captures', label: 'Alert-capture endpoints' },
] as const;

function App() {
  const [session, setSession] = useState<SessionInfo | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const route = useHashRoute();
  const signedOut = (why: string) => {
    setNotice(why);
    setSession((s) =>
      s
        ? {
            signedIn: false,
            subscriptionId: s.subscriptionId,
            ...(s.ssoSignInUrl ? { ssoSignInUrl: s.ssoSignInUrl } : {}),
          }
        : s,
    );
  };
  const start = (s: SessionInfo) => {
    rememberSession(s, () => signedOut('Your session has ended; sign in again.'));
    setSession(s);
  };
  useEffect(() => {
    api<SessionInfo>('GET', '/portal/api/session').then(start, setError);
  }, []);

  if (!session)
    return error ? (
      <main class="sign-in">
        <ErrorNote error={error} />
      </main>
    ) : (
      <main class="sign-in">
        <p class="muted">Loading…</p>
      </main>
    );
  if (!session.signedIn) return <SignIn onSignedIn={start} notice={notice} ssoSignInUrl={session.ssoSignInUrl} />;
  const signOut = async () => {
    try {
      await api('POST', '/portal/api/sign-out');
      signedOut('Signed out.');
    } catch (e) {
      if (!(e instanceof ApiFailure && e.status === 401)) setError(e);
    }
  };
  const sub = session.subscriptionId;
  const [page] = route;
  const current = page === 'viewer' ? 'captures' : page;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">netwatcher</span>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li key={n.route}>
                <a href={`#/${n.route}`} aria-current={current === n.route ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who muted small">{session.principal}</span>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorNote error={error} />
        {page === 'hosts' && <HostsPage sub={sub} />}
        {page === 'captures' && route[1] === 'new' && <CaptureFormPage sub={sub} />}
        {page === 'captures' && route[1] !== 'new' && <CapturesPage sub={sub} />}
        {page === 'alerts' && <AlertsPage sub={sub} />}
        {page === 'alert-captures' && <AlertCapturesPage sub={sub} />}
        {page === 'viewer' && (
          <ViewerPage sub={sub} rg={route[1] ?? ''} watcher={route[2] ?? ''} name={route[3] ?? ''} />
        )}
        {!['hosts', 'captures', 'alerts', 'alert-captures', 'viewer'].includes(page ?? '') && (
          <p>
            No page “{page}”. <a href="#/hosts">Hosts</a>
          </p>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);

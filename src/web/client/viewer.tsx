// The capture viewer: the capture's status and file, and every analysis of it.
import { apiUrl } from './api.js';
import { Page } from './ui.js';

/** The viewer page of one capture. */
export function ViewerPage({ sub, rg, watcher, name }: { sub: string; rg: string; watcher: string; name: string }) {
  const id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkWatchers/${watcher}/packetCaptures/${name}`;
  return (
    <Page title={`Capture ${name}`} actions={<a class="button" href={apiUrl(`${id}/download`)} download>Download</a>}>
      <p class="muted">Analysis is not available yet.</p>
    </Page>
  );
}

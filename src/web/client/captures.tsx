// Captures: every capture of every watcher with its live status and counters, stop reason and
// errors in plain words, and stop / delete / download / view; the create form lives in capture-form.tsx.
import { useState } from 'preact/hooks';
import { api, apiUrl, list, resourceGroupOf } from './api.js';
import { captureErrorText, formatBytes, formatCount, formatTime, stopReasonText } from './format.js';
import { ErrorNote, Page, StatusBadge, useLoad } from './ui.js';

/** A network watcher as listed. */
export interface Watcher {
  id: string;
  name: string;
  location: string;
}

/** A capture resource as listed. */
export interface Capture {
  id: string;
  name: string;
  properties: {
    target?: string;
    filters?: Array<Record<string, string>>;
    timeLimitInSeconds?: number;
    totalBytesPerSession?: number;
    bytesToCapturePerPacket?: number;
    storageLocation?: { storagePath?: string; filePath?: string };
    provisioningState?: string;
  };
}

/** queryStatus's answer (Azure's fields and netwatcher's counters). */
export interface CaptureStatus {
  packetCaptureStatus: string;
  captureStartTime?: string;
  stopReason?: string;
  packetCaptureError?: string[];
  packetsCaptured?: number;
  bytesCaptured?: number;
  kernelPacketsDropped?: number | null;
  instances?: Array<{
    target: string;
    errorMessage?: string | null;
    file?: { sizeInBytes: number; stored: boolean } | null;
  }>;
}

/** Lists the subscription's watchers. */
export function listWatchers(sub: string): Promise<Watcher[]> {
  return list<Watcher>(`/subscriptions/${sub}/providers/Microsoft.Network/networkWatchers`);
}

/** The capture's name, watcher and resource group from its id (for links). */
export function captureParts(id: string): { rg: string; watcher: string; name: string } {
  const m = /\/networkWatchers\/([^/]+)\/packetCaptures\/([^/]+)$/i.exec(id);
  return { rg: resourceGroupOf(id), watcher: m?.[1] ?? '', name: m?.[2] ?? '' };
}

/** The portal route of a capture's viewer. */
export function viewerHref(id: string): string {
  const p = captureParts(id);
  return `#/viewer/${encodeURIComponent(p.rg)}/${encodeURIComponent(p.watcher)}/${encodeURIComponent(p.name)}`;
}

async function loadCaptures(
  sub: string,
): Promise<Array<{ capture: Capture; status: CaptureStatus | null; statusError: unknown; watcher: Watcher }>> {
  const watchers = await listWatchers(sub);
  const rows = await Promise.all(
    watchers.map(async (w) =>
      (await list<Capture>(`${w.id}/packetCaptures`)).map((capture) => ({ capture, watcher: w })),
    ),
  );
  return Promise.all(
    rows.flat().map(async (r) => {
      try {
        return { ...r, status: await api<CaptureStatus>('POST', `${r.capture.id}/queryStatus`), statusError: null };
      } catch (e) {
        return { ...r, status: null, statusError: e };
      }
    }),
  );
}

/** A filter list in a line, as the API echoes it. */
function filtersText(filters: Array<Record<string, string>> | undefined): string {
  if (!filters || filters.length === 0) return 'everything';
  return filters
    .map(
      (f) =>
        Object.entries(f)
          .filter(([, v]) => v !== '' && v !== undefined && !(String(v) === 'Any'))
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || 'any',
    )
    .join(' | ');
}

function CaptureRow({
  row,
  onChanged,
}: {
  row: Awaited<ReturnType<typeof loadCaptures>>[number];
  onChanged: () => void;
}) {
  const { capture, status } = row;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await what();
      onChanged();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const state = status?.packetCaptureStatus ?? 'Unknown';
  const stored = status?.instances?.some((i) => i.file?.stored) ?? false;
  const host = capture.properties.target?.split('/').pop() ?? '';
  return (
    <tr data-capture={capture.name}>
      <th scope="row">
        <a href={viewerHref(capture.id)}>{capture.name}</a>
        <div class="muted small">{row.watcher.location}</div>
      </th>
      <td>{host}</td>
      <td>
        <StatusBadge status={state} />
        <div class="small">{stopReasonText(status?.stopReason)}</div>
        {(status?.packetCaptureError ?? []).map((c) => (
          <div class="error small" key={c}>
            {captureErrorText(c)}
          </div>
        ))}
        {(status?.instances ?? []).map((i) =>
          i.errorMessage ? (
            <div class="error small" key={i.target}>
              {i.errorMessage}
            </div>
          ) : null,
        )}
        <ErrorNote error={row.statusError} />
      </td>
      <td class="num">{formatCount(status?.packetsCaptured)}</td>
      <td class="num">{formatBytes(status?.bytesCaptured)}</td>
      <td class="num">
        {status?.kernelPacketsDropped === null || status?.kernelPacketsDropped === undefined
          ? '–'
          : formatCount(status.kernelPacketsDropped)}
      </td>
      <td>{formatTime(status?.captureStartTime)}</td>
      <td class="small">{filtersText(capture.properties.filters)}</td>
      <td class="row-actions">
        {state === 'Running' && (
          <button type="button" disabled={busy} onClick={() => void act(() => api('POST', `${capture.id}/stop`))}>
            Stop
          </button>
        )}
        {stored ? (
          <a class="button" href={apiUrl(`${capture.id}/download`)} download>
            Download
          </a>
        ) : null}
        <a class="button" href={viewerHref(capture.id)}>
          View
        </a>
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => {
            if (confirm(`Delete capture ${capture.name}? Its files are kept.`))
              void act(() => api('DELETE', capture.id));
          }}
        >
          Delete
        </button>
        <ErrorNote error={error} />
      </td>
    </tr>
  );
}

/** The captures page. */
export function CapturesPage({ sub }: { sub: string }) {
  const { data, error, reload } = useLoad(() => loadCaptures(sub), [sub], 3_000);
  return (
    <Page
      title="Captures"
      actions={
        <>
          <a class="button" href="#/hosts">
            Add a host
          </a>
          <a class="button primary" href="#/captures/new">
            New capture
          </a>
        </>
      }
    >
      <ErrorNote error={error} />
      <table class="grid">
        <thead>
          <tr>
            <th scope="col">Capture</th>
            <th scope="col">Host</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Packets
            </th>
            <th scope="col" class="num">
              Bytes
            </th>
            <th scope="col" class="num">
              Kernel drops
            </th>
            <th scope="col">Started</th>
            <th scope="col">Filters</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(data ?? []).map((row) => (
            <CaptureRow key={row.capture.id} row={row} onChanged={reload} />
          ))}
          {data && data.length === 0 && (
            <tr>
              <td colSpan={9} class="muted">
                No captures yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </Page>
  );
}

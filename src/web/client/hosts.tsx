// Hosts: each VM's agent (state, version, last seen), its traffic over the last hour, its
// look-back buffer when it has one, and the install command for a new host.
import { useState } from 'preact/hooks';
import { api, list, resourceGroupOf } from './api.js';
import { formatAgo, formatBytes } from './format.js';
import { Sparkline } from './sparkline.js';
import { ErrorNote, Page, StatusBadge, useLoad } from './ui.js';

/** A VM as the API lists it (with netwatcher's host state). */
export interface Vm {
  id: string;
  name: string;
  location: string;
  properties: {
    provisioningState?: string;
    netwatcher?: {
      agentConnected?: boolean;
      agentVersion?: string | null;
      hostname?: string | null;
      lastSeenAt?: string | null;
      lookback?: { seconds?: number; bytes?: number; lookbackInSeconds?: number; sizeInBytes?: number } | null;
    };
  };
}

interface MetricsAnswer {
  value?: Array<{
    name?: { value?: string };
    timeseries?: Array<{ data?: Array<{ timeStamp: string; total?: number | null }> }>;
  }>;
}

/** Lists the subscription's VMs. */
export function listVms(sub: string): Promise<Vm[]> {
  return list<Vm>(`/subscriptions/${sub}/providers/Microsoft.Compute/virtualMachines`);
}

function Traffic({ vm }: { vm: Vm }) {
  const { data, error } = useLoad(
    async () => {
      const m = await api<MetricsAnswer>('GET', `${vm.id}/providers/Microsoft.Insights/metrics`, undefined, {
        metricnames: 'Network In Total,Network Out Total',
        timespan: 'PT1H',
        interval: 'PT1M',
        aggregation: 'Total',
      });
      const series = (m?.value ?? []).map((v) => v.timeseries?.[0]?.data ?? []);
      const times = (series[0] ?? []).map((d) => Date.parse(d.timeStamp) / 1000);
      return {
        times,
        inBytes: (series[0] ?? []).map((d) => d.total ?? null),
        outBytes: (series[1] ?? []).map((d) => d.total ?? null),
      };
    },
    [vm.id],
    30_000,
  );
  if (error) return <span class="muted">no metrics</span>;
  if (!data) return <span class="muted">…</span>;
  const total = (xs: Array<number | null>) => xs.reduce<number>((a, x) => a + (x ?? 0), 0);
  return (
    <div class="traffic">
      <Sparkline
        times={data.times}
        label={`traffic of ${vm.name}: ${formatBytes(total(data.inBytes))} in, ${formatBytes(total(data.outBytes))} out in the last hour`}
        series={[
          { name: 'in', values: data.inBytes, stroke: '#2563eb' },
          { name: 'out', values: data.outBytes, stroke: '#d97706' },
        ]}
      />
      <span class="muted small">
        {formatBytes(total(data.inBytes))} in · {formatBytes(total(data.outBytes))} out / h
      </span>
    </div>
  );
}

function Lookback({ vm }: { vm: Vm }) {
  const lb = vm.properties.netwatcher?.lookback;
  if (!lb) return <span class="muted">off</span>;
  const seconds = lb.lookbackInSeconds ?? lb.seconds;
  const bytes = lb.sizeInBytes ?? lb.bytes;
  return (
    <span>
      {seconds !== undefined ? `${seconds} s` : ''}
      {bytes !== undefined ? ` · ${formatBytes(bytes)}` : ''}
    </span>
  );
}

function InstallHost({ sub }: { sub: string }) {
  const [rg, setRg] = useState('');
  const [name, setName] = useState('');
  const [location, setLocation] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [command, setCommand] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCommand('');
    try {
      const body = {
        ...(location ? { location } : {}),
        properties: {
          publisher: 'Microsoft.Azure.NetworkWatcher',
          type: 'NetworkWatcherAgentLinux',
          typeHandlerVersion: '1.4',
          autoUpgradeMinorVersion: true,
        },
      };
      const answer = await api<{ properties?: { installCommand?: string } }>(
        'PUT',
        `/subscriptions/${sub}/resourceGroups/${encodeURIComponent(rg)}/providers/Microsoft.Compute/virtualMachines/${encodeURIComponent(name)}/extensions/NetworkWatcherAgentLinux`,
        body,
      );
      setCommand(answer?.properties?.installCommand ?? '');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <details class="card">
      <summary>Add a host</summary>
      <form class="inline-form" onSubmit={(e) => void submit(e)}>
        <label>
          Resource group <input required value={rg} onInput={(e) => setRg(e.currentTarget.value)} />
        </label>
        <label>
          Host (VM) name <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Location{' '}
          <input
            placeholder="the server's default"
            value={location}
            onInput={(e) => setLocation(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          Get install command
        </button>
      </form>
      <ErrorNote error={error} />
      {command && (
        <>
          <p>Run this on the host (as root); the token in it works once, for 24 hours:</p>
          <pre class="command" tabIndex={0}>
            {command}
          </pre>
        </>
      )}
    </details>
  );
}

/** The hosts page. */
export function HostsPage({ sub }: { sub: string }) {
  const { data, error } = useLoad(() => listVms(sub), [sub], 10_000);
  return (
    <Page title="Hosts">
      <ErrorNote error={error} />
      <table class="grid">
        <thead>
          <tr>
            <th scope="col">Host</th>
            <th scope="col">Resource group</th>
            <th scope="col">Location</th>
            <th scope="col">Agent</th>
            <th scope="col">Version</th>
            <th scope="col">Last seen</th>
            <th scope="col">Traffic (1 h)</th>
            <th scope="col">Look-back</th>
          </tr>
        </thead>
        <tbody>
          {(data ?? []).map((vm) => {
            const nw = vm.properties.netwatcher ?? {};
            return (
              <tr key={vm.id}>
                <th scope="row">
                  {vm.name}
                  {nw.hostname && nw.hostname !== vm.name ? <span class="muted small"> ({nw.hostname})</span> : null}
                </th>
                <td>{resourceGroupOf(vm.id)}</td>
                <td>{vm.location}</td>
                <td>
                  <StatusBadge
                    status={nw.agentConnected ? 'Connected' : nw.lastSeenAt ? 'Disconnected' : 'NotEnrolled'}
                  />
                </td>
                <td>{nw.agentVersion ?? '–'}</td>
                <td title={nw.lastSeenAt ?? ''}>{nw.agentConnected ? 'now' : formatAgo(nw.lastSeenAt)}</td>
                <td>
                  <Traffic vm={vm} />
                </td>
                <td>
                  <Lookback vm={vm} />
                </td>
              </tr>
            );
          })}
          {data && data.length === 0 && (
            <tr>
              <td colSpan={8} class="muted">
                No hosts yet: add one below.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <InstallHost sub={sub} />
    </Page>
  );
}

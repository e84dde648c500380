// Alert rules with their history (fired/resolved alerts) and the captures their alerts started;
// alert-capture endpoints with their runs.
import { list, resourceGroupOf } from './api.js';
import { formatTime } from './format.js';
import { viewerHref } from './captures.js';
import { ErrorNote, Page, StatusBadge, useLoad } from './ui.js';

interface Rule {
  id: string;
  name: string;
  properties: {
    description?: string;
    severity?: number;
    enabled?: boolean;
    scopes?: string[];
    evaluationFrequency?: string;
    windowSize?: string;
    criteria?: {
      allOf?: Array<{ metricName?: string; operator?: string; threshold?: number; timeAggregation?: string }>;
    };
  };
}
interface Alert {
  id: string;
  name: string;
  properties: {
    essentials: {
      monitorCondition: string;
      alertRule: string;
      targetResourceName?: string;
      startDateTime: string;
      monitorConditionResolvedDateTime?: string;
      severity?: string;
    };
  };
}
interface Endpoint {
  id: string;
  name: string;
  properties: Record<string, unknown> & { captureName?: string; timeLimitInSeconds?: number; sessionLimit?: number };
}
interface Run {
  id: string;
  state: string;
  createdAt: string;
  ruleName: string;
  target: string | null;
  captureName: string | null;
  captureId: string | null;
  reason: string | null;
  errorCode: string | null;
}

async function loadRuns(sub: string): Promise<{ endpoints: Endpoint[]; runs: Array<Run & { endpoint: string }> }> {
  const endpoints = await list<Endpoint>(`/subscriptions/${sub}/providers/Netwatcher/alertCaptures`);
  const runs = await Promise.all(
    endpoints.map(async (e) => (await list<Run>(`${e.id}/runs`)).map((r) => ({ ...r, endpoint: e.name }))),
  );
  return { endpoints, runs: runs.flat() };
}

function criteriaText(rule: Rule): string {
  return (rule.properties.criteria?.allOf ?? [])
    .map((c) => `${c.timeAggregation ?? ''} ${c.metricName ?? ''} ${c.operator ?? ''} ${c.threshold ?? ''}`.trim())
    .join(' and ');
}

function CaptureLink({ run }: { run: Run }) {
  if (!run.captureId) return <span class="muted">{run.captureName ?? '–'}</span>;
  return <a href={viewerHref(run.captureId)}>{run.captureName}</a>;
}

/** The alert rules page. */
export function AlertsPage({ sub }: { sub: string }) {
  const rules = useLoad(
    () => list<Rule>(`/subscriptions/${sub}/providers/Microsoft.Insights/metricAlerts`),
    [sub],
    15_000,
  );
  const alerts = useLoad(
    () => list<Alert>(`/subscriptions/${sub}/providers/Microsoft.AlertsManagement/alerts`),
    [sub],
    5_000,
  );
  const runs = useLoad(() => loadRuns(sub), [sub], 5_000);
  return (
    <Page title="Alert rules">
      <ErrorNote error={rules.error ?? alerts.error ?? runs.error} />
      {(rules.data ?? []).length === 0 && rules.data && (
        <p class="muted">No alert rules yet (nw monitor metrics alert create …).</p>
      )}
      {(rules.data ?? []).map((rule) => {
        const history = (alerts.data ?? []).filter(
          (a) => a.properties.essentials.alertRule.toLowerCase() === rule.id.toLowerCase(),
        );
        const started = (runs.data?.runs ?? []).filter(
          (r) => r.ruleName.toLowerCase() === rule.name.toLowerCase() && r.captureName,
        );
        return (
          <article class="card" key={rule.id} aria-labelledby={`rule-${rule.name}`}>
            <h2 id={`rule-${rule.name}`}>
              {rule.name} <StatusBadge status={rule.properties.enabled === false ? 'Disabled' : 'Enabled'} />
            </h2>
            <p class="muted">
              {resourceGroupOf(rule.id)} · Sev{rule.properties.severity ?? '?'} · {criteriaText(rule)} over{' '}
              {rule.properties.windowSize}, every {rule.properties.evaluationFrequency}
              {rule.properties.description ? ` · ${rule.properties.description}` : ''}
            </p>
            <h3>History</h3>
            <table class="grid compact">
              <thead>
                <tr>
                  <th scope="col">Host</th>
                  <th scope="col">Condition</th>
                  <th scope="col">Fired</th>
                  <th scope="col">Resolved</th>
                </tr>
              </thead>
              <tbody>
                {history.map((a) => (
                  <tr key={a.id}>
                    <td>{a.properties.essentials.targetResourceName}</td>
                    <td>
                      <StatusBadge status={a.properties.essentials.monitorCondition} />
                    </td>
                    <td>{formatTime(a.properties.essentials.startDateTime)}</td>
                    <td>{formatTime(a.properties.essentials.monitorConditionResolvedDateTime)}</td>
                  </tr>
                ))}
                {history.length === 0 && (
                  <tr>
                    <td colSpan={4} class="muted">
                      Has not fired.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
            <h3>Captures it started</h3>
            {started.length === 0 ? (
              <p class="muted">None.</p>
            ) : (
              <ul>
                {started.map((r) => (
                  <li key={r.id}>
                    <CaptureLink run={r} /> on {r.target?.split('/').pop()} ({r.state}, {formatTime(r.createdAt)},
                    endpoint {r.endpoint})
                  </li>
                ))}
              </ul>
            )}
          </article>
        );
      })}
    </Page>
  );
}

/** The alert-capture endpoints page. */
export function AlertCapturesPage({ sub }: { sub: string }) {
  const { data, error } = useLoad(() => loadRuns(sub), [sub], 5_000);
  return (
    <Page title="Alert-capture endpoints">
      <ErrorNote error={error} />
      {data && data.endpoints.length === 0 && <p class="muted">No endpoints yet (nw alert-capture create …).</p>}
      {(data?.endpoints ?? []).map((e) => {
        const runs = data!.runs.filter((r) => r.endpoint === e.name);
        return (
          <article class="card" key={e.id} aria-labelledby={`ep-${e.name}`}>
            <h2 id={`ep-${e.name}`}>{e.name}</h2>
            <p class="muted">
              {resourceGroupOf(e.id)} · captures named {String(e.properties.captureName ?? '')} ·{' '}
              {String(e.properties.timeLimitInSeconds ?? '')} s · at most {String(e.properties.sessionLimit ?? '')} at
              once
            </p>
            <table class="grid compact">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Rule</th>
                  <th scope="col">Host</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Capture</th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {runs.map((r) => (
                  <tr key={r.id}>
                    <td>{formatTime(r.createdAt)}</td>
                    <td>{r.ruleName}</td>
                    <td>{r.target?.split('/').pop() ?? '–'}</td>
                    <td>
                      <StatusBadge status={r.state} />
                    </td>
                    <td>
                      <CaptureLink run={r} />
                    </td>
                    <td class="small">{r.reason ? `${r.reason}${r.errorCode ? ` (${r.errorCode})` : ''}` : ''}</td>
                  </tr>
                ))}
                {runs.length === 0 && (
                  <tr>
                    <td colSpan={6} class="muted">
                      No alerts received yet.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </article>
        );
      })}
    </Page>
  );
}

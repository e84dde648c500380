// The create form. Filters are checked as they are typed by the API's own validator (src/filter,
// bundled), and whatever the API still refuses is shown next to the field its `target` names.
import { useMemo, useState } from 'preact/hooks';
import { InvalidFilterError } from '../../filter/errors.js';
import { normalizeFilters } from '../../filter/normalize.js';
import { ApiFailure, api, list } from './api.js';
import { listWatchers, viewerHref, type Capture } from './captures.js';
import { listVms } from './hosts.js';
import { ErrorNote, Page, useLoad } from './ui.js';

const FILTER_FIELDS = [
  { key: 'localIPAddress', label: 'Local IP', placeholder: '10.0.0.3 or 10.0.0.1-10.0.0.9;10.1.0.1' },
  { key: 'remoteIPAddress', label: 'Remote IP', placeholder: 'any' },
  { key: 'localPort', label: 'Local port', placeholder: '80 or 8000-8100;443' },
  { key: 'remotePort', label: 'Remote port', placeholder: 'any' },
] as const;

type FilterRow = {
  protocol: string;
  localIPAddress: string;
  remoteIPAddress: string;
  localPort: string;
  remotePort: string;
};
const emptyFilter = (): FilterRow => ({
  protocol: 'Any',
  localIPAddress: '',
  remoteIPAddress: '',
  localPort: '',
  remotePort: '',
});

/** The API's request: only the fields given, as a user of az would write them. */
function filtersBody(rows: FilterRow[]): Array<Record<string, string>> {
  return rows.map((r) =>
    Object.fromEntries(Object.entries(r).filter(([k, v]) => v.trim() !== '' && !(k === 'protocol' && v === 'Any'))),
  );
}

/** `properties.filters[2].localPort` → `filters[2].localPort`; `properties.timeLimitInSeconds` → `timeLimitInSeconds`. */
function fieldOfTarget(target: string | undefined): string {
  return (target ?? '').replace(/^properties\./i, '').replace(/^storageLocation\./i, 'storage.');
}

/** The field's message, with its id for aria-describedby. */
function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return message ? (
    <span class="field-error" id={id} role="alert">
      {message}
    </span>
  ) : null;
}

/** The new-capture page. */
export function CaptureFormPage({ sub }: { sub: string }) {
  const vms = useLoad(() => listVms(sub), [sub]);
  const accounts = useLoad(
    () => list<{ id: string; name: string }>(`/subscriptions/${sub}/providers/Microsoft.Storage/storageAccounts`),
    [sub],
  );
  const [name, setName] = useState('');
  const [target, setTarget] = useState('');
  const [storage, setStorage] = useState<'account' | 'host'>('account');
  const [accountId, setAccountId] = useState('');
  const [filePath, setFilePath] = useState('');
  const [snap, setSnap] = useState('0');
  const [total, setTotal] = useState('1073741824');
  const [timeLimit, setTimeLimit] = useState('60');
  const [filters, setFilters] = useState<FilterRow[]>([]);
  const [apiError, setApiError] = useState<ApiFailure | null>(null);
  const [otherError, setOtherError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<Capture | null>(null);

  // The API's own check, run in the page: the first refused filter field and why.
  const filterProblem = useMemo(() => {
    try {
      normalizeFilters(filtersBody(filters));
      return null;
    } catch (e) {
      return e instanceof InvalidFilterError ? e : null;
    }
  }, [filters]);

  const errorFor = (field: string): string | undefined => {
    if (filterProblem && fieldOfTarget(filterProblem.target) === field) return filterProblem.message;
    if (apiError && fieldOfTarget(apiError.target) === field) return `${apiError.code}: ${apiError.message}`;
    return undefined;
  };
  const placed = (field: string) => errorFor(field) !== undefined;
  const apiErrorPlaced =
    apiError !== null &&
    [
      'name',
      'target',
      'storage.storageId',
      'storage.filePath',
      'bytesToCapturePerPacket',
      'totalBytesPerSession',
      'timeLimitInSeconds',
      'filters',
      ...filters.flatMap((_, i) => [
        `filters[${i}]`,
        `filters[${i}].protocol`,
        ...FILTER_FIELDS.map((f) => `filters[${i}].${f.key}`),
      ]),
    ].includes(fieldOfTarget(apiError.target));

  const vm = vms.data?.find((v) => v.id === target);
  // The first account (the server's own local one) until another is chosen.
  const account = accountId || accounts.data?.[0]?.id || '';
  const submit = async (e: Event) => {
    e.preventDefault();
    setApiError(null);
    setOtherError(null);
    setCreated(null);
    if (filterProblem) return;
    setBusy(true);
    try {
      if (!vm) throw new Error('Choose the host to capture on.');
      const watchers = await listWatchers(sub);
      const watcher = watchers.find((w) => w.location.toLowerCase() === vm.location.toLowerCase());
      if (!watcher) throw new Error(`No network watcher in location ${vm.location}.`);
      const num = (s: string) => (s.trim() === '' ? undefined : Number(s));
      const body = {
        properties: {
          target: vm.id,
          targetType: 'AzureVM',
          bytesToCapturePerPacket: num(snap),
          totalBytesPerSession: num(total),
          timeLimitInSeconds: num(timeLimit),
          storageLocation: storage === 'account' ? { storageId: account } : { filePath },
          filters: filtersBody(filters),
        },
      };
      setCreated(await api<Capture>('PUT', `${watcher.id}/packetCaptures/${encodeURIComponent(name)}`, body));
    } catch (err) {
      if (err instanceof ApiFailure) setApiError(err);
      else setOtherError(err);
    } finally {
      setBusy(false);
    }
  };

  const setFilter = (i: number, key: keyof FilterRow, value: string) =>
    setFilters(filters.map((f, j) => (j === i ? { ...f, [key]: value } : f)));
  const input = (
    id: string,
    label: string,
    value: string,
    set: (v: string) => void,
    field: string,
    extra: Record<string, unknown> = {},
  ) => (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        name={field}
        value={value}
        onInput={(e) => set(e.currentTarget.value)}
        aria-invalid={placed(field)}
        aria-describedby={placed(field) ? `${id}-error` : undefined}
        {...extra}
      />
      <FieldError id={`${id}-error`} message={errorFor(field)} />
    </div>
  );

  return (
    <Page title="New capture">
      <form class="capture-form" onSubmit={(e) => void submit(e)} noValidate>
        <fieldset>
          <legend>What and where</legend>
          {input('pc-name', 'Name', name, setName, 'name', { required: true, autocomplete: 'off' })}
          <div class="field">
            <label for="pc-target">Host</label>
            <select
              id="pc-target"
              name="target"
              value={target}
              onChange={(e) => setTarget(e.currentTarget.value)}
              required
            >
              <option value="">Choose a host…</option>
              {(vms.data ?? []).map((v) => (
                <option key={v.id} value={v.id}>
                  {v.name} ({v.location}
                  {v.properties.netwatcher?.agentConnected ? '' : ', agent not connected'})
                </option>
              ))}
            </select>
            <FieldError id="pc-target-error" message={errorFor('target')} />
          </div>
          <div class="field" role="radiogroup" aria-label="Where the file goes">
            <span class="label">File</span>
            <label class="check">
              <input
                type="radio"
                name="storage"
                checked={storage === 'account'}
                onChange={() => setStorage('account')}
              />{' '}
              Storage account
            </label>
            <label class="check">
              <input type="radio" name="storage" checked={storage === 'host'} onChange={() => setStorage('host')} />{' '}
              File on the host
            </label>
          </div>
          {storage === 'account' ? (
            <div class="field">
              <label for="pc-account">Storage account</label>
              <select id="pc-account" value={account} onChange={(e) => setAccountId(e.currentTarget.value)}>
                {(accounts.data ?? []).map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.name}
                  </option>
                ))}
              </select>
              <FieldError id="pc-account-error" message={errorFor('storage.storageId')} />
            </div>
          ) : (
            input('pc-file', 'Path on the host', filePath, setFilePath, 'storage.filePath', {
              placeholder: '/var/captures/name.cap',
            })
          )}
        </fieldset>
        <fieldset>
          <legend>Limits</legend>
          {input('pc-snap', 'Bytes per packet (0 = whole packet)', snap, setSnap, 'bytesToCapturePerPacket', {
            inputMode: 'numeric',
          })}
          {input('pc-total', 'Total bytes', total, setTotal, 'totalBytesPerSession', { inputMode: 'numeric' })}
          {input('pc-time', 'Time limit (seconds)', timeLimit, setTimeLimit, 'timeLimitInSeconds', {
            inputMode: 'numeric',
          })}
        </fieldset>
        <fieldset class="filters">
          <legend>
            Filters <span class="muted small">(a packet is kept if it matches any filter; none keeps everything)</span>
          </legend>
          <FieldError id="pc-filters-error" message={errorFor('filters')} />
          {filters.map((f, i) => (
            <div class="filter-row" key={i} data-filter={i}>
              <div class="field">
                <label for={`f${i}-protocol`}>Protocol</label>
                <select
                  id={`f${i}-protocol`}
                  name={`filters[${i}].protocol`}
                  value={f.protocol}
                  onChange={(e) => setFilter(i, 'protocol', e.currentTarget.value)}
                >
                  <option>Any</option>
                  <option>TCP</option>
                  <option>UDP</option>
                </select>
                <FieldError
                  id={`f${i}-protocol-error`}
                  message={errorFor(`filters[${i}].protocol`) ?? errorFor(`filters[${i}]`)}
                />
              </div>
              {FILTER_FIELDS.map((ff) =>
                input(
                  `f${i}-${ff.key}`,
                  ff.label,
                  f[ff.key],
                  (v) => setFilter(i, ff.key, v),
                  `filters[${i}].${ff.key}`,
                  { placeholder: ff.placeholder, autocomplete: 'off' },
                ),
              )}
              <button
                type="button"
                class="link"
                onClick={() => setFilters(filters.filter((_, j) => j !== i))}
                aria-label={`Remove filter ${i + 1}`}
              >
                Remove
              </button>
            </div>
          ))}
          <button type="button" onClick={() => setFilters([...filters, emptyFilter()])}>
            Add filter
          </button>
        </fieldset>
        {apiError && !apiErrorPlaced && <ErrorNote error={apiError} />}
        <ErrorNote error={otherError} />
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy || filterProblem !== null}>
            Start capture
          </button>
          <a href="#/captures">Cancel</a>
        </div>
        {created && (
          <p class="ok" role="status">
            Capture {created.name} created. <a href="#/captures">See it running</a> ·{' '}
            <a href={viewerHref(created.id)}>Open the viewer</a>
          </p>
        )}
      </form>
    </Page>
  );
}

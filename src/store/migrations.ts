import type { Db } from './db.js';

/**
 * The host metrics, in their storage order, when metric_raw replaced metric_samples: written out
 * here so that migration stays what it was whatever src/alerts/host-metrics.ts becomes.
 */
const OLD_METRIC_NAMES = [
  'TCP Segments Sent',
  'TCP Segments Received',
  'TCP Segments Retransmitted',
  'Network In Total',
  'Network Out Total',
  'Packets In Total',
  'Packets Out Total',
  'UDP Datagrams Received',
  'UDP Datagrams Sent',
];

/**
 * Schema migrations, applied in order, each once, inside a transaction. Append only: never edit
 * a migration that has shipped. Resources are kept as ARM documents (jsonb) keyed by their
 * lower-cased id, because ARM compares ids case-insensitively and every resource type shares the
 * same envelope; rows that change often (per-host capture state, operations) have their own tables.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE resources (
     key text PRIMARY KEY,
     type text NOT NULL,
     parent_key text,
     id text NOT NULL,
     name text NOT NULL,
     subscription_id text NOT NULL,
     resource_group text NOT NULL,
     location text,
     body jsonb NOT NULL,
     secret jsonb,
     etag text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE INDEX resources_by_type ON resources (type, lower(subscription_id));
   CREATE INDEX resources_by_parent ON resources (parent_key);
   CREATE TABLE api_tokens (
     id text PRIMARY KEY,
     kind text NOT NULL,
     token_hash text NOT NULL UNIQUE,
     vm_key text,
     created_at timestamptz NOT NULL DEFAULT now(),
     expires_at timestamptz,
     used_at timestamptz
   );
   CREATE TABLE capture_instances (
     capture_uid text NOT NULL,
     vm_key text NOT NULL,
     capture_key text NOT NULL,
     state jsonb NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (capture_uid, vm_key)
   );
   CREATE INDEX capture_instances_by_vm ON capture_instances (vm_key);
   CREATE TABLE operations (
     id text PRIMARY KEY,
     subscription_id text NOT NULL,
     location text NOT NULL,
     kind text NOT NULL,
     resource_key text,
     status text NOT NULL,
     error jsonb,
     result jsonb,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now()
   );`,
  `CREATE TABLE server_settings (name text PRIMARY KEY, value text NOT NULL)`,
  // Host metrics, metric-alert evaluation state, fired alerts, alert-triggered capture runs (seed 002).
  `CREATE TABLE metric_samples (
     vm_key text NOT NULL,
     at timestamptz NOT NULL,
     metrics jsonb NOT NULL
   );
   CREATE INDEX metric_samples_by_vm_time ON metric_samples (vm_key, at);
   CREATE INDEX metric_samples_by_time ON metric_samples (at);
   CREATE TABLE alert_rule_schedule (
     rule_key text PRIMARY KEY,
     frequency_ms integer NOT NULL,
     next_evaluation_at timestamptz NOT NULL
   );
   CREATE TABLE alert_targets (
     rule_key text NOT NULL,
     target_key text NOT NULL,
     state jsonb NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (rule_key, target_key)
   );
   CREATE TABLE alerts (
     id text PRIMARY KEY,
     subscription_id text NOT NULL,
     rule_key text NOT NULL,
     target_key text NOT NULL,
     monitor_condition text NOT NULL,
     fired_at timestamptz NOT NULL,
     resolved_at timestamptz,
     body jsonb NOT NULL,
     notifications jsonb NOT NULL DEFAULT '[]'::jsonb,
     updated_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE INDEX alerts_by_subscription ON alerts (lower(subscription_id), fired_at);
   CREATE TABLE alert_capture_runs (
     id text PRIMARY KEY,
     config_key text NOT NULL,
     dedupe_key text NOT NULL,
     state text NOT NULL,
     capture_key text,
     detail jsonb NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE UNIQUE INDEX alert_capture_runs_dedupe ON alert_capture_runs (config_key, dedupe_key);
   CREATE INDEX alert_capture_runs_by_state ON alert_capture_runs (state);`,
  // Portal sign-in sessions (src/web): the id is stored only as its SHA-256, as tokens are.
  `CREATE TABLE IF NOT EXISTS portal_sessions (
     id_hash text PRIMARY KEY,
     principal text NOT NULL,
     csrf_token text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     last_used_at timestamptz NOT NULL DEFAULT now(),
     expires_at timestamptz NOT NULL
   );
   CREATE INDEX IF NOT EXISTS portal_sessions_by_expiry ON portal_sessions (expires_at);`,
  // Every token row says what it is for (issue 9, point 2); rows from before get their kind's description.
  `ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS description text;
   UPDATE api_tokens SET description = CASE kind
       WHEN 'admin' THEN 'admin token: full access to the API'
       WHEN 'agent' THEN 'agent credential of host ' || coalesce(vm_key, '?')
       ELSE 'one-time enrolment token of host ' || coalesce(vm_key, '?') END
     WHERE description IS NULL;`,
  // Replicas on one PostgreSQL (issue 17): each live replica's heartbeat (its expiry is the
  // expiry of every lease it holds, so 10,000 connected hosts cost one row renewal, not 10,000),
  // each connected host's lease (which replica holds its agent connection), and durable orders
  // for agents connected to another replica (NOTIFY only wakes the holder; the row is the order).
  `CREATE TABLE IF NOT EXISTS server_replicas (
     replica_id text PRIMARY KEY,
     started_at timestamptz NOT NULL DEFAULT now(),
     expires_at timestamptz NOT NULL
   );
   CREATE TABLE IF NOT EXISTS agent_leases (
     vm_key text PRIMARY KEY,
     replica_id text NOT NULL,
     connected_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE INDEX IF NOT EXISTS agent_leases_by_replica ON agent_leases (replica_id);
   CREATE TABLE IF NOT EXISTS agent_orders (
     id bigserial PRIMARY KEY,
     vm_key text NOT NULL,
     message jsonb NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE INDEX IF NOT EXISTS agent_orders_by_vm ON agent_orders (vm_key, id);`,
  // Service principals and role assignments (issue 16 §1–2): an app's client secrets are api_tokens
  // rows of kind servicePrincipal that name it in principal_id (hashed, like every token).
  `CREATE TABLE IF NOT EXISTS service_principals (
     object_id text PRIMARY KEY,
     app_id text NOT NULL UNIQUE,
     display_name text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE UNIQUE INDEX IF NOT EXISTS service_principals_by_name ON service_principals (lower(display_name));
   ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS principal_id text;
   CREATE INDEX IF NOT EXISTS api_tokens_by_principal ON api_tokens (principal_id);
   CREATE TABLE IF NOT EXISTS role_assignments (
     id text PRIMARY KEY,
     scope text NOT NULL,
     role_definition_id text NOT NULL,
     principal_id text NOT NULL,
     principal_type text NOT NULL,
     description text,
     created_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE INDEX IF NOT EXISTS role_assignments_by_principal ON role_assignments (lower(principal_id));`,
  // The activity log (issue 16 §4): one row per change, refused attempt or packet read through the
  // API; never a body, a query string or a token. Queried by time and by resource group.
  `CREATE TABLE IF NOT EXISTS activity_log (
     seq bigserial PRIMARY KEY,
     event_id text NOT NULL,
     at timestamptz NOT NULL DEFAULT now(),
     subscription_id text,
     resource_group text,
     resource_id text NOT NULL,
     resource_provider text,
     resource_type text,
     action text NOT NULL,
     http_method text NOT NULL,
     status_code integer NOT NULL,
     error_code text,
     principal_id text,
     principal_kind text,
     principal_name text,
     client_address text,
     correlation_id text,
     request_id text NOT NULL
   );
   CREATE INDEX IF NOT EXISTS activity_log_by_time ON activity_log (at);
   CREATE INDEX IF NOT EXISTS activity_log_by_resource_group ON activity_log (lower(resource_group), at);`,
  // Host metrics fit for 10,000 agents (issue 17): a host is a small number instead of its ARM id
  // in every row; a report is one row of the metrics in HOST_METRICS order (src/alerts/host-metrics.ts,
  // append-only); every host-minute is kept as one row of per-metric count/total/min/max, which is
  // what is read once the per-report rows are pruned (after an hour). Time indexes are BRIN: rows
  // arrive in time order, and pruning by time must not maintain a second b-tree per row. The old
  // samples are carried over into both tables.
  `CREATE TABLE metric_hosts (id serial PRIMARY KEY, vm_key text NOT NULL UNIQUE);
   CREATE TABLE metric_raw (host_id integer NOT NULL, at timestamptz NOT NULL, v float8[] NOT NULL);
   CREATE INDEX metric_raw_by_host_time ON metric_raw (host_id, at);
   CREATE INDEX metric_raw_by_time ON metric_raw USING brin (at);
   CREATE TABLE metric_minutes (host_id integer NOT NULL, minute timestamptz NOT NULL, n integer[] NOT NULL, total float8[] NOT NULL, lo float8[] NOT NULL, hi float8[] NOT NULL);
   CREATE INDEX metric_minutes_by_host_time ON metric_minutes (host_id, minute);
   CREATE INDEX metric_minutes_by_time ON metric_minutes USING brin (minute);
   INSERT INTO metric_hosts (vm_key) SELECT DISTINCT lower(vm_key) FROM metric_samples ON CONFLICT (vm_key) DO NOTHING;
   INSERT INTO metric_raw (host_id, at, v)
     SELECT k.id, s.at, ARRAY[${OLD_METRIC_NAMES.map((n) => `(s.metrics->>'${n}')::float8`).join(', ')}]
     FROM metric_samples s JOIN metric_hosts k ON k.vm_key = lower(s.vm_key);
   INSERT INTO metric_minutes (host_id, minute, n, total, lo, hi)
     SELECT host_id, date_trunc('minute', at),
       ARRAY[${OLD_METRIC_NAMES.map((_, i) => `count(v[${i + 1}])::int`).join(', ')}],
       ARRAY[${OLD_METRIC_NAMES.map((_, i) => `coalesce(sum(v[${i + 1}]), 0)`).join(', ')}],
       ARRAY[${OLD_METRIC_NAMES.map((_, i) => `coalesce(min(v[${i + 1}]), 0)`).join(', ')}],
       ARRAY[${OLD_METRIC_NAMES.map((_, i) => `coalesce(max(v[${i + 1}]), 0)`).join(', ')}]
     FROM metric_raw GROUP BY 1, 2;
   DROP TABLE metric_samples;`,
  // Every lookup on a hot path by resource, host or capture has an index (issue 17): operations
  // of a resource, tokens of a host, a capture by its uid, the active captures of a host, an alert by id.
  `CREATE INDEX IF NOT EXISTS operations_by_resource ON operations (resource_key, kind, created_at);
   CREATE INDEX IF NOT EXISTS api_tokens_by_vm ON api_tokens (vm_key, kind);
   CREATE INDEX IF NOT EXISTS resources_capture_by_uid ON resources ((body->'_internal'->>'uid')) WHERE type = 'packetCapture';
   CREATE INDEX IF NOT EXISTS resources_capture_targets ON resources USING gin ((body->'_internal'->'targets') jsonb_path_ops) WHERE type = 'packetCapture';
   CREATE INDEX IF NOT EXISTS alerts_by_lower_id ON alerts (lower(id));`,
  // Join keys (issue 14): reusable, expiring, revocable keys with which hosts register and enrol
  // themselves (into a resource group, or as the next instance of a scale set). Only the hash is kept.
  `CREATE TABLE IF NOT EXISTS join_keys (
     id text PRIMARY KEY,
     key_hash text NOT NULL UNIQUE,
     subscription_id text NOT NULL,
     resource_group text NOT NULL,
     vmss_key text,
     location text,
     description text,
     max_uses integer,
     uses integer NOT NULL DEFAULT 0,
     created_at timestamptz NOT NULL DEFAULT now(),
     expires_at timestamptz,
     revoked_at timestamptz,
     last_used_at timestamptz
   );
   CREATE INDEX IF NOT EXISTS join_keys_by_group ON join_keys (lower(subscription_id), lower(resource_group));`,
  // A capture's uid and its "holds a session" flag as columns (issue 10, item 3): the lookups of
  // every agent report and of every create's session-limit check filter on them. Generated from
  // the body (the paths are CAPTURE_UID_PATH and CAPTURE_ACTIVE_PATH of src/model/stored-bodies.ts,
  // written out here so this migration stays what it was), so every write keeps them in step and
  // existing rows are filled in by the migration itself. The uid index moves from the body
  // expression to the column under the same name.
  `ALTER TABLE resources ADD COLUMN IF NOT EXISTS capture_uid text
     GENERATED ALWAYS AS (CASE WHEN type = 'packetCapture' THEN body->'_internal'->>'uid' END) STORED;
   ALTER TABLE resources ADD COLUMN IF NOT EXISTS capture_active boolean NOT NULL
     GENERATED ALWAYS AS (type = 'packetCapture' AND coalesce((body->'_internal'->>'active')::boolean, false)) STORED;
   DROP INDEX IF EXISTS resources_capture_by_uid;
   CREATE INDEX IF NOT EXISTS resources_capture_by_uid ON resources (capture_uid) WHERE type = 'packetCapture';
   CREATE INDEX IF NOT EXISTS resources_active_captures ON resources (lower(subscription_id), lower(location)) WHERE capture_active;`,
  // The settings every replica of one database must share (src/server/replicas.ts: a replica
  // started with another value than the live ones refuses to start), with its heartbeat.
  `ALTER TABLE server_replicas ADD COLUMN IF NOT EXISTS shared_settings jsonb;`,
  // A parent's children of one type (a VM's agent extension: every hello and capture create asks)
  // in one index on both columns. With resources_by_parent alone, a planner without statistics
  // (PGlite never runs ANALYZE: it has no autovacuum) ANDed it with resources_by_type's bitmap of
  // every extension: at 10,000 hosts each batched look-up of 16 hellos took ~20 ms, most of the
  // embedded database's time in a reconnect storm (bench/scale); ~1 ms with this index. Queries by
  // parent alone use its first column.
  `CREATE INDEX IF NOT EXISTS resources_by_parent_type ON resources (parent_key, type);
   DROP INDEX IF EXISTS resources_by_parent;`,
  // Each metric sample kept once (issue 17, acknowledged batches): an agent re-sends a batch whose
  // ack a killed replica never sent, and the server writes its rows with ON CONFLICT DO NOTHING
  // on this unique index, which replaces the plain one of the same name and columns (same queries). Rows
  // already repeated are reduced to one first. Per-minute rows are from now on made from the
  // stored per-report rows when these are rolled past the raw retention (src/store/metrics.ts,
  // advanceMetricRawSince), so a repeat is never counted there either; the per-minute rows
  // servers wrote from memory for minutes whose per-report rows are still kept (at and after
  // 'metric-raw-since', which nothing reads yet) go, as the roll-up makes them again from those.
  `DELETE FROM metric_raw a USING metric_raw b WHERE a.host_id = b.host_id AND a.at = b.at AND a.ctid > b.ctid;
   DROP INDEX IF EXISTS metric_raw_by_host_time;
   CREATE UNIQUE INDEX metric_raw_by_host_time ON metric_raw (host_id, at);
   DELETE FROM metric_minutes WHERE minute >= coalesce((SELECT value::timestamptz FROM server_settings WHERE name = 'metric-raw-since'), '-infinity'::timestamptz);`,
];

/** Brings the schema up to date; safe to call from several replicas at once (advisory lock). */
export async function migrate(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    // One replica migrates at a time; the lock is released at commit.
    if (tx.engine === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(7262012)');
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => Number(r.version)));
    for (let i = 0; i < MIGRATIONS.length; i++) {
      if (applied.has(i + 1)) continue;
      for (const statement of MIGRATIONS[i]!.split(/;\s*$/m)
        .map((s) => s.trim())
        .filter(Boolean))
        await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
    }
  });
}

import type { Db } from './db.js';

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
];

/** Brings the schema up to date; safe to call from several replicas at once (advisory lock). */
export async function migrate(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    // One replica migrates at a time; the lock is released at commit.
    if (tx.engine === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(7262012)');
    await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => Number(r.version)));
    for (let i = 0; i < MIGRATIONS.length; i++) {
      if (applied.has(i + 1)) continue;
      for (const statement of MIGRATIONS[i]!.split(/;\s*$/m).map((s) => s.trim()).filter(Boolean)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
    }
  });
}

/**
 * A server for RBAC tests: a fresh PostgreSQL database (dropped afterwards) so a test can read
 * what the server stored, a temporary data folder, and small HTTP helpers for calls as the admin
 * or as a service principal.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { TEST_DATABASE_URL, testDatabaseName } from '../../store/testing/engines.js';
import { startServer, type RunningServer } from '../server.js';
import { rawRequest, type RawAnswer } from './loopback-agent.js';

/** An answer: status, raw body, parsed JSON (or null), headers. */
export type Answer = RawAnswer;

/** A started server with its database. */
export interface RbacServer {
  server: RunningServer;
  /** A client of the server's database. */
  sql: pg.Client;
  call(
    method: string,
    path: string,
    token: string | null,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>;
  admin(method: string, path: string, body?: unknown): Promise<Answer>;
  /** Creates a service principal (admin API); its ids and the secret answered once. */
  createServicePrincipal(name: string): Promise<{ appId: string; objectId: string; password: string }>;
  /** Assigns a role (by GUID) to a principal at a scope (admin, through the ARM route). */
  assign(roleId: string, principalId: string, scope: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts a server on loopback with a fresh PostgreSQL database. */
export async function startRbacServer(subscriptionId: string): Promise<RbacServer> {
  const name = testDatabaseName('rbac');
  const maintenance = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await maintenance.connect();
  await maintenance.query(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-rbac-'));
  const server = await startServer({
    listenHost: '127.0.0.1',
    listenPort: 0,
    dataDir,
    databaseUrl: url.toString(),
    defaultLocation: 'westus',
    subscriptionId,
    logLevel: 'silent',
  });
  const sql = new pg.Client({ connectionString: url.toString() });
  await sql.connect();

  const call = (
    method: string,
    path: string,
    token: string | null,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> => rawRequest(server.url, method, path, token, body, { headers });
  const admin = (method: string, path: string, body?: unknown) => call(method, path, server.adminToken, body);
  return {
    server,
    sql,
    call,
    admin,
    async createServicePrincipal(displayName) {
      const r = await admin('POST', '/admin/v1/servicePrincipals', { displayName });
      if (r.status !== 201) throw new Error(`create ${displayName}: ${r.status} ${r.body}`);
      return { appId: r.json.appId, objectId: r.json.objectId, password: r.json.password };
    },
    async assign(roleId, principalId, scope) {
      const id = crypto.randomUUID();
      const r = await admin(
        'PUT',
        `${scope}/providers/Microsoft.Authorization/roleAssignments/${id}?api-version=2022-04-01`,
        {
          properties: {
            roleDefinitionId: `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleId}`,
            principalId,
          },
        },
      );
      if (r.status !== 201) throw new Error(`assign ${roleId} to ${principalId} at ${scope}: ${r.status} ${r.body}`);
      return id;
    },
    async close() {
      await sql.end().catch(() => undefined);
      await server.close();
      await maintenance.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await maintenance.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

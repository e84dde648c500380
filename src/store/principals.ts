import { randomUUID } from 'node:crypto';
import type { Row } from './db.js';
import { ApiError } from '../lib/index.js';
import type { PrincipalType } from '../model/authorization.js';
import { asDate, type StoreCore } from './store-core.js';

/** A service principal (an API client): ids and name; its secrets live hashed in api_tokens. */
export interface ServicePrincipalRecord {
  objectId: string;
  appId: string;
  displayName: string;
  createdAt: Date;
}

/** A role assignment: a role (definition GUID) for a principal (or group) at a scope. */
export interface RoleAssignmentRecord {
  /** The assignment's name (a GUID). */
  id: string;
  /** `/subscriptions/S` or `/subscriptions/S/resourceGroups/RG`, as given. */
  scope: string;
  /** The role definition's GUID. */
  roleDefinitionId: string;
  principalId: string;
  principalType: PrincipalType;
  description: string | null;
  createdAt: Date;
}

function toServicePrincipal(r: Row): ServicePrincipalRecord {
  return {
    objectId: String(r.object_id),
    appId: String(r.app_id),
    displayName: String(r.display_name),
    createdAt: asDate(r.created_at),
  };
}

function toRoleAssignment(r: Row): RoleAssignmentRecord {
  return {
    id: String(r.id),
    scope: String(r.scope),
    roleDefinitionId: String(r.role_definition_id),
    principalId: String(r.principal_id),
    principalType: r.principal_type as PrincipalType,
    description: (r.description as string | null) ?? null,
    createdAt: asDate(r.created_at),
  };
}

/** Service principals and role assignments: the {@link Store}'s methods for them. */
export class PrincipalQueries {
  constructor(private readonly core: StoreCore) {}

  /**
   * Creates a service principal (object id and app id: new GUIDs) with one client secret, in one
   * transaction; the secret is returned once and only its hash is kept. 409 Conflict when the
   * display name is taken (names are how people pick a principal, so they are unique here).
   */
  async createServicePrincipal(
    displayName: string,
  ): Promise<{ principal: ServicePrincipalRecord; secret: string; credentialId: string }> {
    return this.core.transaction(async (tx) => {
      const taken = await tx.db.query('SELECT 1 FROM service_principals WHERE lower(display_name) = lower($1)', [
        displayName,
      ]);
      if (taken.length > 0)
        throw new ApiError(
          'Conflict',
          `A service principal named '${displayName}' exists; reset its secret with nw ad sp credential reset, or pick another name.`,
          { target: 'displayName' },
        );
      const objectId = randomUUID();
      const appId = randomUUID();
      const [row] = await tx.db.query(
        'INSERT INTO service_principals (object_id, app_id, display_name) VALUES ($1,$2,$3) RETURNING object_id, app_id, display_name, created_at',
        [objectId, appId, displayName],
      );
      const { id, token } = await tx.issueToken('servicePrincipal', {
        principalId: objectId,
        description: `client secret of service principal ${displayName} (${appId})`,
      });
      return { principal: toServicePrincipal(row!), secret: token, credentialId: id };
    });
  }

  /** Every service principal, oldest first. */
  async listServicePrincipals(): Promise<ServicePrincipalRecord[]> {
    return (
      await this.core.db.query(
        'SELECT object_id, app_id, display_name, created_at FROM service_principals ORDER BY created_at, object_id',
      )
    ).map(toServicePrincipal);
  }

  /** The service principal with this object id, app id or display name (case-insensitive), or null. */
  async findServicePrincipal(idOrName: string): Promise<ServicePrincipalRecord | null> {
    const [row] = await this.core.db.query(
      'SELECT object_id, app_id, display_name, created_at FROM service_principals WHERE lower(object_id) = lower($1) OR lower(app_id) = lower($1) OR lower(display_name) = lower($1) ORDER BY created_at LIMIT 1',
      [idOrName],
    );
    return row ? toServicePrincipal(row) : null;
  }

  /** Replaces every client secret of a service principal by one new one (the old ones, and access tokens minted from them, stop working at once). */
  async resetServicePrincipalSecret(objectId: string): Promise<{ secret: string; credentialId: string }> {
    return this.core.transaction(async (tx) => {
      const sp = await tx.findServicePrincipal(objectId);
      if (!sp) throw new ApiError('NotFound', `Service principal '${objectId}' was not found.`);
      await tx.db.query(`DELETE FROM api_tokens WHERE kind = 'servicePrincipal' AND principal_id = $1`, [sp.objectId]);
      await tx.db.query(`DELETE FROM portal_sessions WHERE principal = $1`, [`servicePrincipal:${sp.objectId}`]);
      const { id, token } = await tx.issueToken('servicePrincipal', {
        principalId: sp.objectId,
        description: `client secret of service principal ${sp.displayName} (${sp.appId})`,
      });
      return { secret: token, credentialId: id };
    });
  }

  /** Deletes a service principal, its secrets (so its access tokens die), its portal sessions and its role assignments; false when there was none. */
  async deleteServicePrincipal(objectId: string): Promise<boolean> {
    return this.core.transaction(async (tx) => {
      await tx.db.query(`DELETE FROM api_tokens WHERE kind = 'servicePrincipal' AND principal_id = $1`, [objectId]);
      await tx.db.query(`DELETE FROM portal_sessions WHERE principal = $1`, [`servicePrincipal:${objectId}`]);
      await tx.db.query('DELETE FROM role_assignments WHERE principal_id = $1', [objectId]);
      return (
        (await tx.db.query('DELETE FROM service_principals WHERE object_id = $1 RETURNING object_id', [objectId]))
          .length > 0
      );
    });
  }

  /** Stores a role assignment; 409 Conflict when its name is taken by another, or the same principal already has the role at that scope (ARM's RoleAssignmentExists). */
  async createRoleAssignment(a: Omit<RoleAssignmentRecord, 'createdAt'>): Promise<RoleAssignmentRecord> {
    return this.core.transaction(async (tx) => {
      const same = await tx.db.query(
        'SELECT id FROM role_assignments WHERE lower(scope) = lower($1) AND lower(role_definition_id) = lower($2) AND lower(principal_id) = lower($3)',
        [a.scope, a.roleDefinitionId, a.principalId],
      );
      if (same.length > 0) throw new ApiError('RoleAssignmentExists', 'The role assignment already exists.');
      const byName = await tx.db.query('SELECT id FROM role_assignments WHERE lower(id) = lower($1)', [a.id]);
      if (byName.length > 0)
        throw new ApiError(
          'Conflict',
          `A role assignment named '${a.id}' exists with other properties; role assignments cannot be updated.`,
          { target: 'name' },
        );
      const [row] = await tx.db.query(
        'INSERT INTO role_assignments (id, scope, role_definition_id, principal_id, principal_type, description) VALUES ($1,$2,$3,$4,$5,$6) RETURNING *',
        [a.id, a.scope, a.roleDefinitionId, a.principalId, a.principalType, a.description],
      );
      return toRoleAssignment(row!);
    });
  }

  /** Every role assignment, optionally only those of some principal ids (a principal and its groups), oldest first. */
  async listRoleAssignments(principalIds?: readonly string[]): Promise<RoleAssignmentRecord[]> {
    const rows = principalIds
      ? await this.core.db.query(
          'SELECT * FROM role_assignments WHERE lower(principal_id) = ANY($1::text[]) ORDER BY created_at, id',
          [principalIds.map((p) => p.toLowerCase())],
        )
      : await this.core.db.query('SELECT * FROM role_assignments ORDER BY created_at, id');
    return rows.map(toRoleAssignment);
  }

  /** Deletes a role assignment by name; the deleted one, or null. */
  async deleteRoleAssignment(id: string): Promise<RoleAssignmentRecord | null> {
    const [row] = await this.core.db.query('DELETE FROM role_assignments WHERE lower(id) = lower($1) RETURNING *', [
      id,
    ]);
    return row ? toRoleAssignment(row) : null;
  }
}

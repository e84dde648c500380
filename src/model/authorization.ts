import { z } from 'zod';
import { ciEnum, ciObject } from './case-insensitive.js';
import { forbiddenCharacter } from './names.js';

/** Principal types a role assignment can name (ARM's principalType). */
export const PRINCIPAL_TYPES = ['ServicePrincipal', 'User', 'Group'] as const;
/** A role assignment's principalType. */
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

/**
 * PUT body of a role assignment (RoleAssignments_Create), as az sends it. `condition` and
 * `delegatedManagedIdentityResourceId` are Azure features netwatcher does not have: given, they
 * are refused by name (the route), never ignored.
 */
export const roleAssignmentPutSchema = ciObject({
  properties: ciObject({
    roleDefinitionId: z.string().min(1).max(400),
    principalId: z.string().min(1).max(256),
    principalType: ciEnum(PRINCIPAL_TYPES).optional(),
    description: z.string().max(2048).nullable().optional(),
    condition: z.string().nullable().optional(),
    conditionVersion: z.string().nullable().optional(),
    delegatedManagedIdentityResourceId: z.string().nullable().optional(),
  }),
});

/** Body of a new service principal (`nw ad sp create-for-rbac --name`): its display name. */
export const servicePrincipalCreateSchema = ciObject({
  displayName: z
    .string()
    .trim()
    .min(1)
    .max(120)
    .refine((v) => forbiddenCharacter(v) === null, 'no control characters'),
});

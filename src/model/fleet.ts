import { z } from 'zod';
import { ciObject } from './case-insensitive.js';
import { agentHostnameSchema } from './agent-protocol.js';

/** PUT body of a scale set (`nw vmss create`): netwatcher's scale sets are groups of enrolled hosts, so only location and tags can be set. */
export const vmssPutSchema = ciObject({
  location: z.string().min(1).max(256).optional(),
  tags: z.record(z.string(), z.string()).optional(),
  sku: z.unknown().optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
});

/** Largest `maxUses` of a join key. */
export const JOIN_KEY_MAX_USES = 1_000_000;

/** Longest lifetime of a join key: one year. */
export const JOIN_KEY_MAX_LIFETIME_IN_SECONDS = 366 * 24 * 3600;

/** Body of a join-key create (`nw vm join-key create`). Without `expiresInSeconds` a key expires after 7 days. */
export const joinKeyCreateSchema = ciObject({
  vmScaleSetName: z.string().min(1).max(64).optional(),
  location: z.string().min(1).max(256).optional(),
  expiresInSeconds: z.number().int().min(60).max(JOIN_KEY_MAX_LIFETIME_IN_SECONDS).optional(),
  maxUses: z.number().int().min(1).max(JOIN_KEY_MAX_USES).optional(),
  description: z.string().max(256).optional(),
});

/** A validated join-key create request. */
export type JoinKeyCreateRequest = z.output<typeof joinKeyCreateSchema>;

/** Body of an agent's join (`nw agent --join-key`): the key, and the name the host wants (default its host name). */
export const joinRequestSchema = ciObject({
  joinKey: z.string().min(1).max(256),
  vmName: z.string().min(1).max(64).optional(),
  hostname: agentHostnameSchema.default(''),
});

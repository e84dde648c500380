import { z } from 'zod';

/**
 * ARM treats property names case-insensitively on input (`localIpAddress` and `localIPAddress`
 * are the same field), so every request object schema is built with `ciObject`: keys are mapped
 * to the schema's spelling before validation. Unknown keys are dropped, as ARM ignores fields it
 * does not know (newer api-versions add some).
 */
export function remapKeys(value: unknown, canonicalKeys: readonly string[]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const byLower = new Map(canonicalKeys.map((k) => [k.toLowerCase(), k]));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const canonical = byLower.get(key.toLowerCase());
    if (canonical !== undefined && !(canonical in out && key !== canonical)) out[canonical] = v;
  }
  return out;
}

/** A zod object schema whose input keys match case-insensitively. */
export function ciObject<T extends z.ZodRawShape>(shape: T) {
  const keys = Object.keys(shape);
  return z.preprocess((v) => remapKeys(v, keys), z.object(shape));
}

/** An enum whose input matches case-insensitively and comes out in the canonical spelling. */
export function ciEnum<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    return values.find((c) => c.toLowerCase() === v.trim().toLowerCase()) ?? v;
  }, z.enum(values));
}

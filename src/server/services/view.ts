import type { ResourceRecord } from '../../store/index.js';

/**
 * The API view of a stored resource: the stored body without internal fields (keys starting with
 * `_`), with id, name, type and the current etag from the record. One function, so no route can
 * leak internal state or secrets (secrets live in a separate column and never reach a body).
 */
export function resourceView<B extends object>(record: ResourceRecord<B>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record.body)) if (!k.startsWith('_')) out[k] = v;
  return { ...out, id: record.id, name: record.name, etag: record.etag };
}

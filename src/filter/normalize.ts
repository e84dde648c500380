// Validation and normalization of the filters an API request carries.
import { InvalidFilterError } from './errors.js';
import { parseFilter, parseProtocol } from './parse-filter.js';
import type { PacketCaptureFilter } from './types.js';

const CANONICAL_KEYS = ['protocol', 'localIPAddress', 'remoteIPAddress', 'localPort', 'remotePort'] as const;
type CanonicalKey = (typeof CANONICAL_KEYS)[number];
const KEY_BY_LOWER = new Map<string, CanonicalKey>(CANONICAL_KEYS.map((k) => [k.toLowerCase(), k]));

/**
 * Validate + normalize (throws InvalidFilterError). Echo strings keep the user's text (trimmed).
 * `undefined`/`null` is an empty list. Property names match case-insensitively, as everywhere in
 * ARM; unknown properties are ignored (as ARM does), a property given twice in two casings is refused.
 * @example normalizeFilters([{ Protocol: 'tcp', localPort: ' 80 ' }])
 * // [{ protocol: 'TCP', localIPAddress: '', remoteIPAddress: '', localPort: '80', remotePort: '' }]
 */
export function normalizeFilters(input: unknown): PacketCaptureFilter[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw new InvalidFilterError(-1, '', '', 'filters must be a list of filter objects');
  return input.map((item: unknown, index) => {
    const filter = normalizeOne(item, index);
    parseFilter(filter, index); // throws on bad syntax or an impossible filter
    return filter;
  });
}

function normalizeOne(item: unknown, index: number): PacketCaptureFilter {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    throw new InvalidFilterError(index, '', '', 'a filter must be an object');
  }
  const given = new Map<CanonicalKey, { key: string; value: unknown }>();
  for (const [key, value] of Object.entries(item as Record<string, unknown>)) {
    const canonical = KEY_BY_LOWER.get(key.toLowerCase());
    if (canonical === undefined) continue;
    const earlier = given.get(canonical);
    if (earlier !== undefined) {
      throw new InvalidFilterError(index, canonical, '', `given twice, as "${earlier.key}" and "${key}"`);
    }
    given.set(canonical, { key, value });
  }
  const protocolValue = given.get('protocol')?.value;
  let protocol: PacketCaptureFilter['protocol'] = 'Any';
  if (protocolValue !== undefined && protocolValue !== null) {
    const parsed = typeof protocolValue === 'string' ? parseProtocol(protocolValue) : null;
    if (parsed === null) {
      throw new InvalidFilterError(index, 'protocol', textOf(protocolValue), 'unknown protocol; use TCP, UDP or Any');
    }
    protocol = parsed;
  }
  return {
    protocol,
    localIPAddress: stringField(given.get('localIPAddress')?.value, index, 'localIPAddress', false),
    remoteIPAddress: stringField(given.get('remoteIPAddress')?.value, index, 'remoteIPAddress', false),
    localPort: stringField(given.get('localPort')?.value, index, 'localPort', true),
    remotePort: stringField(given.get('remotePort')?.value, index, 'remotePort', true),
  };
}

function stringField(value: unknown, index: number, field: string, isPort: boolean): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value.trim();
  // Hand-written JSON often has "localPort": 80; a whole number is unambiguous, so take it.
  if (isPort && typeof value === 'number' && Number.isInteger(value)) {
    if (value < 0 || value > 65535)
      throw new InvalidFilterError(index, field, String(value), `port ${value} is out of range (0-65535)`);
    return String(value);
  }
  throw new InvalidFilterError(
    index,
    field,
    textOf(value),
    isPort ? 'must be a string (or a whole number)' : 'must be a string',
  );
}

function textOf(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}

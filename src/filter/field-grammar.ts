// The grammar of one address or port field: a value, a range `a-b`, or a `;`-separated list of
// values and ranges, with one trailing `;` and spaces around items allowed.
import { parseAddress } from './address-text.js';
import type { AddressFamily } from './address-text.js';
import type { Interval } from './interval-set.js';

/** One item of an address field: a single address is a range with first = last. */
export interface AddressItem extends Interval {
  /** Family of both ends. */
  family: AddressFamily;
}

/** A field that did not parse: the offending text (an item, a range end or the whole value) and why. */
export interface FieldSyntaxError {
  ok: false;
  /** The smallest piece of the user's text that is wrong. */
  text: string;
  /** What is wrong, for the error message. */
  reason: string;
}

/** The outcome of parsing an address field. */
export type AddressFieldResult = { ok: true; items: AddressItem[] } | FieldSyntaxError;

/** The outcome of parsing a port field. */
export type PortFieldResult = { ok: true; items: Interval[] } | FieldSyntaxError;

/** Highest TCP/UDP port number. */
export const MAX_PORT = 65535;

/**
 * Parses a non-empty, trimmed address field.
 * @example parseAddressField('10.0.0.1; 10.0.1.0-10.0.1.255;') // two items
 */
export function parseAddressField(text: string): AddressFieldResult {
  const split = splitItems(text);
  if (!split.ok) return split;
  const items: AddressItem[] = [];
  for (const item of split.items) {
    const ends = splitRange(item);
    if (!ends.ok) return ends;
    const first = parseAddress(ends.first);
    if (!first.ok) return { ok: false, text: ends.first, reason: first.reason };
    if (ends.last === null) {
      items.push({ family: first.address.family, first: first.address.value, last: first.address.value });
      continue;
    }
    const last = parseAddress(ends.last);
    if (!last.ok) return { ok: false, text: ends.last, reason: last.reason };
    if (first.address.family !== last.address.family) {
      return { ok: false, text: item, reason: 'a range must not mix IPv4 and IPv6 addresses' };
    }
    if (first.address.value > last.address.value) {
      return { ok: false, text: item, reason: `range is reversed: ${ends.first} comes after ${ends.last}` };
    }
    items.push({ family: first.address.family, first: first.address.value, last: last.address.value });
  }
  return { ok: true, items };
}

/**
 * Parses a non-empty, trimmed port field (decimal 0-65535).
 * @example parsePortField('20;80;8000-8080') // three items
 */
export function parsePortField(text: string): PortFieldResult {
  const split = splitItems(text);
  if (!split.ok) return split;
  const items: Interval[] = [];
  for (const item of split.items) {
    const ends = splitRange(item);
    if (!ends.ok) return ends;
    const first = parsePort(ends.first);
    if (typeof first === 'string') return { ok: false, text: ends.first, reason: first };
    const last = ends.last === null ? first : parsePort(ends.last);
    if (typeof last === 'string') return { ok: false, text: ends.last as string, reason: last };
    if (first > last) return { ok: false, text: item, reason: `range is reversed: ${first} is greater than ${last}` };
    items.push({ first: BigInt(first), last: BigInt(last) });
  }
  return { ok: true, items };
}

function parsePort(text: string): number | string {
  if (!/^[0-9]+$/.test(text)) return 'not a port number (decimal 0-65535)';
  const value = Number(text);
  if (text.length > 10 || value > MAX_PORT) return `port ${text} is out of range (0-${MAX_PORT})`;
  return value;
}

type SplitItems = { ok: true; items: string[] } | FieldSyntaxError;

function splitItems(text: string): SplitItems {
  // Azure's portal documentation shows commas; the API's separator is ';'. Say so rather than
  // failing on the first comma-joined "address".
  if (text.includes(',')) return { ok: false, text, reason: "items are separated by ';', not ','" };
  const raw = text.split(';').map((s) => s.trim());
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop(); // one trailing ';' is allowed
  if (raw.some((s) => s === '')) {
    return { ok: false, text, reason: "empty item: a leading ';' or two ';' in a row" };
  }
  for (const item of raw) {
    if (/\s/.test(item.replace(/\s*-\s*/, '-'))) {
      return { ok: false, text: item, reason: "items are separated by ';', not spaces" };
    }
  }
  return { ok: true, items: raw };
}

type RangeEnds = { ok: true; first: string; last: string | null } | FieldSyntaxError;

function splitRange(item: string): RangeEnds {
  const ends = item.split('-').map((s) => s.trim());
  if (ends.length === 1) return { ok: true, first: ends[0] as string, last: null };
  if (ends.length > 2) return { ok: false, text: item, reason: "a range has exactly one '-'" };
  const [first, last] = ends as [string, string];
  if (first === '') return { ok: false, text: item, reason: 'the range has no first value' };
  if (last === '') return { ok: false, text: item, reason: 'the range has no last value' };
  return { ok: true, first, last };
}

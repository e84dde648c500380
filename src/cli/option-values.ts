import { OutboundPolicy, OutboundPolicyConfigError } from '../lib/index.js';
import { UsageError } from './errors.js';

/** Parsing and checking of option values, with az's (argparse's) wording. */

/**
 * An integer option within [min, max]; undefined stays undefined.
 * @example parseIntegerOption('--time-limit', '60', 0, 18000) // 60
 */
export function parseIntegerOption(
  flag: string,
  value: string | number | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  if (!/^[+-]?\d+$/.test(text)) throw new UsageError(`argument ${flag}: invalid int value: '${value}'`);
  const parsed = Number(text);
  if (parsed < min || parsed > max)
    throw new UsageError(`usage error: ${flag} must be between ${min} and ${max}, got ${parsed}`);
  return parsed;
}

/** A number of seconds (fractions allowed, for wait intervals); undefined stays undefined. */
export function parseSecondsOption(flag: string, value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(String(value).trim());
  if (String(value).trim() === '' || !Number.isFinite(parsed) || parsed < 0)
    throw new UsageError(`argument ${flag}: invalid number of seconds: '${value}'`);
  return parsed;
}

/** az's three-state boolean flags: true/false, yes/no, on/off, 1/0 (any case). */
export function parseBooleanOption(flag: string, value: string | boolean | undefined): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  const lower = value.trim().toLowerCase();
  if (['true', 'yes', 'on', '1', 'y', 't', 'enable', 'enabled'].includes(lower)) return true;
  if (['false', 'no', 'off', '0', 'n', 'f', 'disable', 'disabled'].includes(lower)) return false;
  throw new UsageError(`argument ${flag}: invalid choice: '${value}' (choose from 'true', 'false')`);
}

// The wire names of the filter fields; input keys match case-insensitively (ARM rule), so the
// seed's `remoteIPAddress` and az's own output spelling `remoteIpAddress` both work.
const FILTER_FIELDS = ['protocol', 'localIPAddress', 'localPort', 'remoteIPAddress', 'remotePort'] as const;

/**
 * The `--filters` JSON: a list of objects with protocol/localIPAddress/localPort/
 * remoteIPAddress/remotePort (string values; numbers are accepted for ports). A single object
 * is taken as a list of one. Filter semantics (ranges, lists) are checked by the server.
 */
export function parseFiltersOption(value: string | undefined): Array<Record<string, string>> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new UsageError(`argument --filters: invalid JSON: ${(error as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((item, index) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      throw new UsageError(`argument --filters: item ${index} is not a JSON object`);
    const filter: Record<string, string> = {};
    for (const [key, raw] of Object.entries(item as Record<string, unknown>)) {
      const field = FILTER_FIELDS.find((f) => f.toLowerCase() === key.toLowerCase());
      if (!field)
        throw new UsageError(
          `argument --filters: item ${index} has an unknown field '${key}' (known: ${FILTER_FIELDS.join(', ')})`,
        );
      if (raw === null || raw === undefined) continue;
      if (typeof raw !== 'string' && typeof raw !== 'number')
        throw new UsageError(`argument --filters: item ${index} field '${key}' must be a string`);
      filter[field] = String(raw);
    }
    return filter;
  });
}

/** `HOST:PORT` (IPv6 as `[::1]:8817`) into its parts. */
export function parseListenOption(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value.trim());
  if (!match) throw new UsageError(`argument --listen: expected HOST:PORT, got '${value}'`);
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535) throw new UsageError(`argument --listen: port ${port} is out of range`);
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** Makes sure a required option is present. */
export function requireOption<T>(flag: string, value: T | undefined): T {
  if (value === undefined || value === null || (typeof value === 'string' && value.length === 0)) {
    throw new UsageError(`the following arguments are required: ${flag}`);
  }
  return value;
}

/** Commander collector of a repeatable option (`--outbound-deny A --outbound-deny B`). */
export function collectOption(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * `--outbound-deny CIDR` / `--outbound-allow CIDR` (repeatable) as the server's typed setting,
 * checked here so a typo is a usage error before anything starts.
 */
export function parseOutboundOptions(
  deny: string[] | undefined,
  allow: string[] | undefined,
): { deny: string[]; allow: string[] } | undefined {
  if (!deny?.length && !allow?.length) return undefined;
  const settings = { deny: deny ?? [], allow: allow ?? [] };
  try {
    OutboundPolicy.fromSettings(settings);
  } catch (error) {
    if (error instanceof OutboundPolicyConfigError)
      throw new UsageError(`usage error: --outbound-deny/--outbound-allow: ${error.message}`);
    throw error;
  }
  return settings;
}

/** `--public-url`: an http(s) URL with a host and nothing after it (operation links, install commands and upload URLs start with it). */
export function parsePublicUrlOption(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`argument --public-url: expected a URL such as https://nw.example:8817, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`argument --public-url: expected an http or https URL, got '${value}'`);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new UsageError(
      `argument --public-url: give only scheme, host and port (no path, query or credentials), got '${value}'`,
    );
  }
  return `${url.protocol}//${url.host}`;
}

/** Whether a listen address is reachable from this host only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

/**
 * A size in bytes with an optional unit (B, kB, KiB, MB, MiB, GB, GiB; any case); undefined stays undefined.
 * @example parseSizeOption('--max-size', '256MiB') // 268435456
 */
export function parseSizeOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new UsageError(`argument ${flag}: invalid size: '${value}' (e.g. 256MiB, 1GiB, 4000000)`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`argument ${flag}: size too large: '${value}'`);
  return bytes;
}

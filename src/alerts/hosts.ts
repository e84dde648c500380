import { armIdKey, parseArmId } from '../lib/index.js';

/** What the alerts code needs to know about a host (a VM with an agent). */
export interface HostInfo {
  /** Lower-cased ARM id (store key). */
  key: string;
  /** ARM id as registered. */
  id: string;
  name: string;
  resourceGroup: string;
  subscriptionId: string;
  location: string;
  /** The VM's GUID (Azure's `vmId`; the `ResourceId` dimension of VM metrics). */
  vmId: string;
  /** Host name its agent reported, if any. */
  hostname: string | null;
}

/**
 * The hosts a metric alert scope names: a VM id names that VM; a resource group id every VM in
 * it; a subscription id every VM in it (Azure's multi-resource metric alerts).
 * @example hostsInScope(hosts, '/subscriptions/s/resourceGroups/rg1')
 */
export function hostsInScope(hosts: readonly HostInfo[], scope: string): HostInfo[] {
  return hosts.filter(scopeMatcher(scope));
}

/**
 * The test of {@link hostsInScope} for one scope, parsed once (to test many hosts one at a time,
 * as each agent's hello does).
 * @example const inRg1 = scopeMatcher('/subscriptions/s/resourceGroups/rg1'); inRg1(host)
 */
export function scopeMatcher(scope: string): (host: HostInfo) => boolean {
  const parts = scope.replace(/^\/+|\/+$/g, '').split('/');
  if (parts.length === 2 && parts[0]!.toLowerCase() === 'subscriptions') {
    const sub = parts[1]!.toLowerCase();
    return (h) => h.subscriptionId.toLowerCase() === sub;
  }
  if (
    parts.length === 4 &&
    parts[0]!.toLowerCase() === 'subscriptions' &&
    parts[2]!.toLowerCase() === 'resourcegroups'
  ) {
    const sub = parts[1]!.toLowerCase();
    const rg = parts[3]!.toLowerCase();
    return (h) => h.subscriptionId.toLowerCase() === sub && h.resourceGroup.toLowerCase() === rg;
  }
  const key = armIdKey(scope);
  return (h) => h.key === key;
}

/**
 * The hosts a rule's scopes name, each once (a host may be named by its VM id and its resource group).
 * @example hostsInScopes(hosts, rule.body.properties.scopes)
 */
export function hostsInScopes(hosts: readonly HostInfo[], scopes: readonly string[]): HostInfo[] {
  return [...new Map(scopes.flatMap((s) => hostsInScope(hosts, s)).map((h) => [h.key, h])).values()];
}

/** Whether a scope is a VM id, a resource group id or a subscription id. */
export function isValidScope(scope: string): boolean {
  const parts = scope.replace(/^\/+|\/+$/g, '').split('/');
  if (parts[0]?.toLowerCase() !== 'subscriptions' || !parts[1]) return false;
  if (parts.length === 2) return true;
  if (parts.length === 4) return parts[2]!.toLowerCase() === 'resourcegroups' && parts[3] !== '';
  const ref = parseArmId(scope);
  return (
    ref !== null &&
    ref.provider.toLowerCase() === 'microsoft.compute' &&
    ref.types.length === 1 &&
    ref.types[0]!.toLowerCase() === 'virtualmachines'
  );
}

/** How a reference to a host resolved. */
export type HostResolution =
  | { kind: 'found'; host: HostInfo }
  | { kind: 'unknown'; reference: string }
  | { kind: 'ambiguous'; reference: string; candidates: string[] };

/**
 * Finds the host a reference names: an ARM id (compared case-insensitively: Azure's common schema
 * lower-cases them), else a VM name or an agent host name, with a Prometheus `instance`'s `:port`
 * dropped. A name that fits several hosts is ambiguous, never a guess.
 * @example resolveHostReference(hosts, 'web1:9100')
 */
export function resolveHostReference(hosts: readonly HostInfo[], reference: string): HostResolution {
  const ref = reference.trim();
  if (/^\/subscriptions\//i.test(ref)) {
    const key = armIdKey(ref);
    const host = hosts.find((h) => h.key === key);
    return host ? { kind: 'found', host } : { kind: 'unknown', reference: ref };
  }
  // `host:port`, `[v6]:port`; a bare IPv6 address has several colons and no brackets.
  const bare = ref
    .replace(/^\[([^\]]+)\](?::\d+)?$/, '$1')
    .replace(/^([^:]+):\d+$/, '$1')
    .toLowerCase();
  for (const field of ['name', 'hostname'] as const) {
    // A value stored before host names were validated may be anything: it matches nothing, and breaks no one else's lookup.
    const matches = hosts.filter((h) => {
      const v: unknown = h[field];
      return typeof v === 'string' && v !== '' && v.toLowerCase() === bare;
    });
    if (matches.length === 1) return { kind: 'found', host: matches[0]! };
    if (matches.length > 1) return { kind: 'ambiguous', reference: ref, candidates: matches.map((h) => h.id) };
  }
  return { kind: 'unknown', reference: ref };
}

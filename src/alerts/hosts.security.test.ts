/**
 * Issue 9 point 4: an agent can never poison state shared by other hosts. A host name stored
 * before host names were validated (or by any path that skipped the check) must not break the
 * alert-capture lookup of every other host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveHostReference, type HostInfo } from './hosts.js';

const host = (name: string, hostname: unknown): HostInfo => ({
  key: `/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/${name}`,
  id: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`,
  name,
  resourceGroup: 'rg',
  subscriptionId: 's',
  location: 'westus',
  vmId: name,
  hostname: hostname as string | null,
});

test("a malformed host name of one host breaks no other host's lookup", () => {
  const hosts = [
    host('evil1', 42),
    host('evil2', { toLowerCase: 1 }),
    host('evil3', ''),
    host('web1', 'web1.example'),
    host('db1', null),
  ];
  const found = resolveHostReference(hosts, 'web1.example:9100');
  assert.equal(found.kind, 'found');
  assert.equal(found.kind === 'found' && found.host.name, 'web1');
  assert.equal(resolveHostReference(hosts, 'db1').kind, 'found');
  assert.equal(resolveHostReference(hosts, '').kind, 'unknown', 'an empty host name matches nothing');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildArmId, parseArmId, armIdKey, vmId } from './arm-id.js';

test('parseArmId reads a VM id and a nested id, case-insensitively on the fixed segments', () => {
  const ref = parseArmId('/SUBSCRIPTIONS/s1/resourcegroups/RG/Providers/Microsoft.Compute/virtualMachines/vm1');
  assert.deepEqual(ref, {
    subscriptionId: 's1',
    resourceGroup: 'RG',
    provider: 'Microsoft.Compute',
    types: ['virtualMachines'],
    names: ['vm1'],
  });
  const nested = parseArmId(
    buildArmId({
      subscriptionId: 's',
      resourceGroup: 'g',
      provider: 'Microsoft.Network',
      types: ['networkWatchers', 'packetCaptures'],
      names: ['nw', 'pc'],
    }),
  );
  assert.deepEqual(nested?.names, ['nw', 'pc']);
});

test('parseArmId refuses ids of the wrong shape', () => {
  for (const bad of [
    '',
    '/subscriptions/s',
    '/subscriptions/s/resourceGroups/g/providers/P/type',
    '/x/s/resourceGroups/g/providers/P/t/n',
    '/subscriptions/s/resourceGroups/g/providers/P/t//',
  ]) {
    assert.equal(parseArmId(bad), null, bad);
  }
});

test('armIdKey compares ids case-insensitively', () => {
  assert.equal(
    armIdKey(vmId('S', 'RG', 'VM')),
    armIdKey('/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm/'),
  );
});

test('parseArmId refuses names that decode to a slash, a control character or nothing valid (never throws)', () => {
  const base = '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/';
  for (const bad of ['vm%2Fextensions%2Fx', 'vm%00', 'vm%0A', '%E0%A4%A', '%', '%ED%A0%80'])
    assert.equal(parseArmId(base + bad), null, bad);
  assert.deepEqual(parseArmId(`${base}my%20vm`)?.names, ['my vm']);
});

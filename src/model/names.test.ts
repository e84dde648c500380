import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../lib/index.js';
import { assertResourceName } from './names.js';

const refused = (collection: string, name: string, target: string) =>
  assert.throws(
    () => assertResourceName(collection, name, true),
    (e: unknown) =>
      e instanceof ApiError && e.code === 'InvalidResourceName' && e.statusCode === 400 && e.target === target,
    `${collection} ${JSON.stringify(name)}`,
  );

test("the seeds' names and the server's own stay valid", () => {
  const ok: Array<[string, string]> = [
    ['packetCaptures', 'packetCaptureName'],
    ['packetCaptures', 'PSAzureFunction'],
    ['packetCaptures', 'pc-1.a_b'],
    ['metricAlerts', 'TCP_Segments_Sent_Exceeded'],
    ['metricAlerts', 'TCP segments sent > 100'.replace('>', 'gt')],
    ['resourceGroups', 'myRG'],
    ['resourceGroups', 'NetworkWatcherRG'],
    ['resourceGroups', 'netwatcher-local'],
    ['resourceGroups', 'rg(1)_ü'],
    ['networkWatchers', 'NetworkWatcher_japaneast'],
    ['networkWatchers', 'NetworkWatcher_westcentralus'],
    ['virtualMachines', 'myVM'],
    ['virtualMachines', 'host_1.lab-'],
    ['extensions', 'NetworkWatcherAgentLinux'],
    ['extensions', 'AzureNetworkWatcherExtension'],
    ['storageAccounts', 'nwlocal'],
    ['storageAccounts', 'abc'],
    ['storageAccounts', 'a'.repeat(24)],
    ['actionGroups', 'PacketCaptureGroup'],
    ['alertCaptures', 'PSAzureFunction'],
  ];
  for (const [c, n] of ok) assert.doesNotThrow(() => assertResourceName(c, n, true), `${c} ${n}`);
});

test('names outside the rules are 400 InvalidResourceName naming the field', () => {
  refused('networkWatchers', '-nw', 'networkWatcherName');
  refused('networkWatchers', 'nw.', 'networkWatcherName');
  refused('networkWatchers', 'a b', 'networkWatcherName');
  refused('networkWatchers', 'a'.repeat(81), 'networkWatcherName');
  refused('packetCaptures', 'pc;rm', 'packetCaptureName');
  refused('packetCaptures', '', 'packetCaptureName');
  refused('storageAccounts', 'Upper1', 'accountName');
  refused('storageAccounts', 'ab', 'accountName');
  refused('storageAccounts', 'a'.repeat(25), 'accountName');
  refused('storageAccounts', 'with-dash', 'accountName');
  refused('resourceGroups', 'rg.', 'resourceGroupName');
  refused('resourceGroups', 'a'.repeat(91), 'resourceGroupName');
  refused('resourceGroups', 'rg#1', 'resourceGroupName');
  refused('virtualMachines', 'vm.', 'vmName');
  refused('virtualMachines', 'a'.repeat(65), 'vmName');
  refused('metricAlerts', 'rule*', 'ruleName');
  refused('metricAlerts', 'rule.', 'ruleName');
  refused('actionGroups', 'ag:1', 'actionGroupName');
  refused('alertCaptures', 'has space', 'alertCaptureName');
});

test('no name of any type, strict or not, holds / NUL, control characters or lone surrogates', () => {
  for (const strict of [true, false]) {
    for (const name of ['nw1/packetCaptures/pc1', 'a\u0000b', 'a\nb', 'a\u007fb', 'a\u0085b', '\ud800', 'x\udc00y']) {
      for (const c of ['networkWatchers', 'metricAlerts', 'subscriptions', 'locations']) {
        assert.throws(
          () => assertResourceName(c, name, strict),
          (e: unknown) => e instanceof ApiError && e.code === 'InvalidResourceName',
          `${c} ${JSON.stringify(name)} ${strict}`,
        );
      }
    }
  }
  // A surrogate pair (an emoji) is a character, not a lone surrogate.
  assert.doesNotThrow(() => assertResourceName('resourceGroups', 'rg\u{1F600}', false));
  // Not strict: a name stored before a rule tightened stays reachable.
  assert.doesNotThrow(() => assertResourceName('networkWatchers', 'old name.', false));
});

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatJson, formatOutput, formatTable, formatTsv, parseOutputFormat } from './output.js';
import { UsageError } from './errors.js';
import { VM_EXTENSION_TABLE } from './commands/vm-extension.js';

describe('formatJson', () => {
  test('sorts keys at every depth and indents by two spaces, like az', () => {
    const text = formatJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } });
    assert.equal(
      text,
      '{\n  "a": {\n    "c": null,\n    "d": [\n      {\n        "y": 2,\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}\n',
    );
  });

  test('keeps null values and drops undefined ones', () => {
    assert.equal(formatJson({ a: null, b: undefined }), '{\n  "a": null\n}\n');
  });
});

describe('formatTable', () => {
  test('matches az vm extension list -o table (documented output)', () => {
    const text = formatTable(
      [
        {
          name: 'AzureNetworkWatcherExtension',
          provisioningState: 'Succeeded',
          publisher: 'Microsoft.Azure.NetworkWatcher',
          typeHandlerVersion: '1.4',
          autoUpgradeMinorVersion: true,
        },
      ],
      VM_EXTENSION_TABLE,
    );
    assert.equal(
      text,
      [
        'Name                          ProvisioningState    Publisher                       Version    AutoUpgradeMinorVersion',
        '----------------------------  -------------------  ------------------------------  ---------  -------------------------',
        'AzureNetworkWatcherExtension  Succeeded            Microsoft.Azure.NetworkWatcher  1.4        True',
        '',
      ].join('\n'),
    );
  });

  test('automatic columns: scalar fields only, sorted, id/type/etag skipped, first letter upper-cased', () => {
    const text = formatTable({
      name: 'pc1',
      id: '/x',
      etag: 'e',
      type: 't',
      filters: [],
      storageLocation: {},
      timeLimitInSeconds: 60,
      stopReason: null,
    });
    assert.equal(text, 'Name    TimeLimitInSeconds\n------  --------------------\npc1     60\n');
  });

  test('a list of rows takes the union of columns in first-seen order', () => {
    const text = formatTable([{ a: 'x' }, { a: 'y', b: 'z' }]);
    assert.equal(text, 'A    B\n---  ---\nx\ny    z\n');
  });

  test('nothing to show prints nothing', () => {
    assert.equal(formatTable([]), '');
    assert.equal(formatTable(null), '');
  });
});

describe('formatTsv', () => {
  test('one line per item, values in sorted key order, lists as their length', () => {
    assert.equal(formatTsv([{ b: 'two', a: 1, c: [1, 2, 3], d: { x: 1 }, e: null, f: true }]), '1\ttwo\t3\t\t\tTrue\n');
  });
});

describe('formatOutput', () => {
  test('none and undefined results print nothing', () => {
    assert.equal(formatOutput({ a: 1 }, 'none'), '');
    assert.equal(formatOutput(undefined, 'json'), '');
  });

  test('rejects an unknown format with a usage error', () => {
    assert.throws(() => parseOutputFormat('yaml2'), UsageError);
    assert.equal(parseOutputFormat('TABLE'), 'table');
    assert.equal(parseOutputFormat(undefined), 'json');
  });
});

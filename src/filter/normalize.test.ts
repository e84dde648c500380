import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidFilterError, normalizeFilters } from './index.js';
import type { PacketCaptureFilter } from './index.js';

const SEED_FILTERS = [
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '20' },
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '80' },
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '443' },
  { protocol: 'UDP' },
];

function filter(partial: Partial<PacketCaptureFilter>): PacketCaptureFilter {
  return { protocol: 'Any', localIPAddress: '', remoteIPAddress: '', localPort: '', remotePort: '', ...partial };
}

/** Asserts normalizeFilters refuses `input` naming this filter, field and text. */
function refuses(input: unknown, expected: { filterIndex: number; field: string; text: string; reason: RegExp }): void {
  assert.throws(
    () => normalizeFilters(input),
    (error: unknown) => {
      assert.ok(error instanceof InvalidFilterError, String(error));
      assert.equal(error.code, 'InvalidFilter');
      assert.equal(error.statusCode, 400);
      assert.equal(error.filterIndex, expected.filterIndex);
      assert.equal(error.field, expected.field);
      assert.equal(error.text, expected.text);
      assert.match(error.message, expected.reason);
      // The message itself names all three, for a person reading the 400.
      if (expected.filterIndex >= 0)
        assert.ok(error.message.includes(`filters[${expected.filterIndex}]`), error.message);
      if (expected.field !== '') assert.ok(error.message.includes(expected.field), error.message);
      if (expected.text !== '') assert.ok(error.message.includes(JSON.stringify(expected.text)), error.message);
      return true;
    },
  );
}

describe('normalizeFilters: accepted forms', () => {
  test("the seed's filters", () => {
    assert.deepEqual(normalizeFilters(SEED_FILTERS), [
      filter({ protocol: 'TCP', localIPAddress: '10.0.0.3', remoteIPAddress: '1.1.1.1-255.255.255', remotePort: '20' }),
      filter({ protocol: 'TCP', localIPAddress: '10.0.0.3', remoteIPAddress: '1.1.1.1-255.255.255', remotePort: '80' }),
      filter({
        protocol: 'TCP',
        localIPAddress: '10.0.0.3',
        remoteIPAddress: '1.1.1.1-255.255.255',
        remotePort: '443',
      }),
      filter({ protocol: 'UDP' }),
    ]);
  });

  test('absent, null and empty lists are empty', () => {
    assert.deepEqual(normalizeFilters(undefined), []);
    assert.deepEqual(normalizeFilters(null), []);
    assert.deepEqual(normalizeFilters([]), []);
  });

  test('property names and protocol values are case-insensitive; protocol defaults to Any', () => {
    assert.deepEqual(
      normalizeFilters([
        { PROTOCOL: 'tcp', localipaddress: '10.0.0.1', RemoteIpAddress: '10.0.0.2', LOCALPORT: '1', remoteport: '2' },
        { Protocol: 'uDp' },
        { protocol: 'ANY' },
        {},
        { protocol: '' },
        { protocol: null },
      ]),
      [
        filter({
          protocol: 'TCP',
          localIPAddress: '10.0.0.1',
          remoteIPAddress: '10.0.0.2',
          localPort: '1',
          remotePort: '2',
        }),
        filter({ protocol: 'UDP' }),
        filter({}),
        filter({}),
        filter({}),
        filter({}),
      ],
    );
  });

  test('echo keeps the user text, trimmed; null is not given; unknown properties are ignored', () => {
    assert.deepEqual(
      normalizeFilters([{ localIPAddress: '  10.0.0.1 ;10.0.0.2-10.0.0.9; ', localPort: null, comment: 'x' }]),
      [filter({ localIPAddress: '10.0.0.1 ;10.0.0.2-10.0.0.9;' })],
    );
  });

  test('whole-number ports are taken as text', () => {
    assert.deepEqual(normalizeFilters([{ localPort: 80, remotePort: 0 }]), [
      filter({ localPort: '80', remotePort: '0' }),
    ]);
  });

  const accepted: Array<[keyof PacketCaptureFilter, string]> = [
    ['localIPAddress', '10.0.0.1'],
    ['localIPAddress', '10.0.0.1-10.0.0.255'],
    ['localIPAddress', '10.0.0.1;10.0.0.5'],
    ['localIPAddress', '10.0.0.1;10.0.0.5;'],
    ['localIPAddress', '10.0.0.1 - 10.0.0.9 ; 10.1.0.0-10.1.255.255 ; 10.2.0.1'],
    ['localIPAddress', '10.0.0.1-10.0.0.1'],
    ['localIPAddress', '10;10.1;10.1.2;167772163'],
    ['remoteIPAddress', '1.1.1.1-255.255.255'],
    ['remoteIPAddress', '2001:db8::1'],
    ['remoteIPAddress', '2001:db8::-2001:db8::ffff;fe80::1'],
    ['remoteIPAddress', '::ffff:10.0.0.1'],
    ['remoteIPAddress', '10.0.0.1;2001:db8::1'],
    ['remoteIPAddress', '0.0.0.0-255.255.255.255'],
    ['remoteIPAddress', '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['localPort', '80'],
    ['localPort', '0'],
    ['localPort', '65535'],
    ['localPort', '1-65535'],
    ['localPort', '80;443;'],
    ['remotePort', '20;80;443'],
    ['remotePort', ' 20 ; 8000 - 8080 ; 443 '],
    ['remotePort', '080'],
  ];
  for (const [field, text] of accepted) {
    test(`${field} = ${JSON.stringify(text)}`, () => {
      assert.deepEqual(normalizeFilters([{ [field]: text }]), [filter({ [field]: text.trim() })]);
    });
  }
});

describe('normalizeFilters: errors name the filter, the field and the text', () => {
  test('reversed ranges', () => {
    refuses([{}, { localIPAddress: '10.0.0.9-10.0.0.1' }], {
      filterIndex: 1,
      field: 'localIPAddress',
      text: '10.0.0.9-10.0.0.1',
      reason: /reversed/,
    });
    refuses([{ remoteIPAddress: '2001:db8::2-2001:db8::1' }], {
      filterIndex: 0,
      field: 'remoteIPAddress',
      text: '2001:db8::2-2001:db8::1',
      reason: /reversed/,
    });
    refuses([{ localPort: '443-80' }], {
      filterIndex: 0,
      field: 'localPort',
      text: '443-80',
      reason: /reversed: 443 is greater than 80/,
    });
  });

  test('octets and ports out of range', () => {
    refuses([{ localIPAddress: '10.0.0.256' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: '10.0.0.256',
      reason: /256 is out of range/,
    });
    refuses([{}, {}, { remoteIPAddress: '1.1.1.1-255.255.65536' }], {
      filterIndex: 2,
      field: 'remoteIPAddress',
      text: '255.255.65536',
      reason: /out of range/,
    });
    refuses([{ remotePort: '65536' }], {
      filterIndex: 0,
      field: 'remotePort',
      text: '65536',
      reason: /65536 is out of range \(0-65535\)/,
    });
    refuses([{ remotePort: '80;99999' }], {
      filterIndex: 0,
      field: 'remotePort',
      text: '99999',
      reason: /out of range/,
    });
    refuses([{ localPort: 70000 }], { filterIndex: 0, field: 'localPort', text: '70000', reason: /out of range/ });
    refuses([{ localPort: -1 }], { filterIndex: 0, field: 'localPort', text: '-1', reason: /out of range/ });
  });

  test('bad separators', () => {
    refuses([{ remotePort: '80,443' }], {
      filterIndex: 0,
      field: 'remotePort',
      text: '80,443',
      reason: /separated by ';', not ','/,
    });
    refuses([{ localIPAddress: '10.0.0.1, 10.0.0.2' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: '10.0.0.1, 10.0.0.2',
      reason: /not ','/,
    });
    refuses([{ localPort: '80;;443' }], { filterIndex: 0, field: 'localPort', text: '80;;443', reason: /empty item/ });
    refuses([{ localPort: ';80' }], { filterIndex: 0, field: 'localPort', text: ';80', reason: /empty item/ });
    refuses([{ localPort: '80;;' }], { filterIndex: 0, field: 'localPort', text: '80;;', reason: /empty item/ });
    refuses([{ localPort: ';' }], { filterIndex: 0, field: 'localPort', text: ';', reason: /empty item/ });
    refuses([{ localPort: '80 443' }], { filterIndex: 0, field: 'localPort', text: '80 443', reason: /not spaces/ });
    refuses([{ localPort: '80-90-100' }], {
      filterIndex: 0,
      field: 'localPort',
      text: '80-90-100',
      reason: /exactly one '-'/,
    });
    refuses([{ localPort: '80-' }], { filterIndex: 0, field: 'localPort', text: '80-', reason: /no last value/ });
    refuses([{ localIPAddress: '-10.0.0.1' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: '-10.0.0.1',
      reason: /no first value/,
    });
    refuses([{ localPort: '0x50' }], { filterIndex: 0, field: 'localPort', text: '0x50', reason: /not a port number/ });
  });

  test('mixed address families inside one range', () => {
    refuses([{ localIPAddress: '10.0.0.1-::1' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: '10.0.0.1-::1',
      reason: /mix IPv4 and IPv6/,
    });
  });

  test('local and remote of different families can never match', () => {
    refuses([{ localIPAddress: '10.0.0.1', remoteIPAddress: '2001:db8::1' }], {
      filterIndex: 0,
      field: 'remoteIPAddress',
      text: '2001:db8::1',
      reason: /different IP families/,
    });
  });

  test('unknown protocol', () => {
    refuses([{ protocol: 'ICMP' }], {
      filterIndex: 0,
      field: 'protocol',
      text: 'ICMP',
      reason: /unknown protocol; use TCP, UDP or Any/,
    });
    refuses([{ protocol: 'All' }], { filterIndex: 0, field: 'protocol', text: 'All', reason: /unknown protocol/ });
    refuses([{ protocol: 6 }], { filterIndex: 0, field: 'protocol', text: '6', reason: /unknown protocol/ });
  });

  test('address syntax: short forms with octal/hex, zone ids, garbage', () => {
    refuses([{ localIPAddress: '010.0.0.1' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: '010.0.0.1',
      reason: /octal/,
    });
    refuses([{ localIPAddress: '0x0a000001' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: '0x0a000001',
      reason: /hexadecimal/,
    });
    refuses([{ localIPAddress: 'fe80::1%eth0' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: 'fe80::1%eth0',
      reason: /zone ids/,
    });
    refuses([{ localIPAddress: 'example.com' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: 'example.com',
      reason: /not an IPv4 or IPv6 address/,
    });
    refuses([{ localIPAddress: '10.0.0.0/8' }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: '10.0.0.0/8',
      reason: /not an IPv4 or IPv6/,
    });
  });

  test('wrong shapes', () => {
    refuses({ protocol: 'TCP' }, { filterIndex: -1, field: '', text: '', reason: /must be a list/ });
    refuses(['TCP'], { filterIndex: 0, field: '', text: '', reason: /must be an object/ });
    refuses([{ localIPAddress: 167772163 }], {
      filterIndex: 0,
      field: 'localIPAddress',
      text: '167772163',
      reason: /must be a string/,
    });
    refuses([{ localPort: 8.5 }], { filterIndex: 0, field: 'localPort', text: '8.5', reason: /must be a string/ });
    refuses([{ localPort: '80', LocalPort: '81' }], {
      filterIndex: 0,
      field: 'localPort',
      text: '',
      reason: /given twice, as "localPort" and "LocalPort"/,
    });
  });

  test('the error carries an ARM target', () => {
    try {
      normalizeFilters([{}, { remotePort: '1-0' }]);
      assert.fail('should throw');
    } catch (error) {
      assert.ok(error instanceof InvalidFilterError);
      assert.equal(error.target, 'properties.filters[1].remotePort');
      assert.deepEqual(error.toBody().error.code, 'InvalidFilter');
    }
  });
});

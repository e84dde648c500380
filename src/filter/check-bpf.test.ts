import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BPF_CACHE_ENTRIES,
  BPF_MAX_INSTRUCTIONS,
  bpfCheckStats,
  checkBpfExpression,
  compileFilters,
  FilterTooLargeError,
  InvalidFilterError,
  normalizeFilters,
} from './index.js';

const SEED_FILTERS = [
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '20' },
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '80' },
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '443' },
  { protocol: 'UDP' },
];

// Ranges that need the most CIDR blocks (62 each): x.0.0.1 - (x+1).255.255.254 for even x.
function worstRanges(count: number): string {
  return Array.from({ length: count }, (_, i) => `${2 * i}.0.0.1-${2 * i + 1}.255.255.254`).join(';');
}

describe('checkBpfExpression (real libpcap)', () => {
  test("the seed's filters compile, well inside the kernel limit", async () => {
    const { instructionCount } = await checkBpfExpression(compileFilters(normalizeFilters(SEED_FILTERS)));
    assert.ok(instructionCount > 400 && instructionCount < 800, `seed compiles to ${instructionCount} instructions`);
  });

  test('an empty expression is the one-instruction accept-all program', async () => {
    assert.deepEqual(await checkBpfExpression(''), { instructionCount: 1 });
  });

  test('a syntax error is InvalidFilter with libpcap message', async () => {
    await assert.rejects(checkBpfExpression('tcp and'), (error: unknown) => {
      assert.ok(error instanceof InvalidFilterError);
      assert.equal(error.code, 'InvalidFilter');
      assert.equal(error.filterIndex, -1);
      assert.equal(error.field, '');
      assert.equal(error.text, 'tcp and');
      assert.match(error.message, /libpcap cannot compile the expression: .*syntax error/);
      return true;
    });
  });

  test('a semantic error is InvalidFilter with libpcap message', async () => {
    await assert.rejects(checkBpfExpression('ip src net 10.0.0.1/8'), /non-network bits set/);
  });

  test('a set over BPF_MAXINSNS is refused with the count libpcap produced', async () => {
    const filters = normalizeFilters([{ localIPAddress: worstRanges(24) }]);
    await assert.rejects(checkBpfExpression(compileFilters(filters)), (error: unknown) => {
      assert.ok(error instanceof FilterTooLargeError, String(error));
      assert.equal(error.code, 'FilterTooLarge');
      assert.equal(error.statusCode, 400);
      assert.equal(error.limit, BPF_MAX_INSTRUCTIONS);
      assert.ok(error.instructionCount > BPF_MAX_INSTRUCTIONS, String(error.instructionCount));
      assert.match(
        error.message,
        new RegExp(`${error.instructionCount} BPF instructions, more than the kernel's limit of 4096`),
      );
      return true;
    });
  });

  test('just under the limit is accepted', async () => {
    const { instructionCount } = await checkBpfExpression(
      compileFilters(normalizeFilters([{ localIPAddress: worstRanges(6) }])),
    );
    assert.ok(instructionCount > 3000 && instructionCount <= BPF_MAX_INSTRUCTIONS, String(instructionCount));
  });

  test('a set with too many tests to fit is refused before libpcap runs', async () => {
    // 5,000 ports: at least 3 instructions each. A missing tcpdump proves libpcap never ran.
    const ports = Array.from({ length: 5000 }, (_, i) => String(2 * i)).join(';');
    await assert.rejects(
      checkBpfExpression(compileFilters(normalizeFilters([{ protocol: 'UDP', localPort: ports }])), {
        tcpdumpPath: '/nonexistent/tcpdump',
      }),
      (error: unknown) => {
        assert.ok(error instanceof FilterTooLargeError, String(error));
        assert.equal(error.instructionCount, 15000);
        assert.match(error.message, /at least 15000 BPF instructions \(5000 address and port tests\)/);
        return true;
      },
    );
  });

  test('a missing tcpdump is our failure, not an invalid filter', async () => {
    await assert.rejects(checkBpfExpression('tcp', { tcpdumpPath: '/nonexistent/tcpdump' }), (error: unknown) => {
      assert.ok(!(error instanceof InvalidFilterError));
      assert.match(String(error), /cannot run \/nonexistent\/tcpdump/);
      return true;
    });
  });
});

describe('checkBpfExpression verdict cache (issue 17: no process per request)', () => {
  const expressions = [
    compileFilters(normalizeFilters(SEED_FILTERS)),
    compileFilters(normalizeFilters([{ protocol: 'UDP', remotePort: '53' }])),
    'tcp port 80 or udp port 53',
    'tcp and',
    'ip src net 10.0.0.1/8',
  ];
  const verdict = (p: Promise<unknown>) =>
    p.then(
      (r) => ({ ok: r }),
      (e: Error) => ({ err: `${e.name}: ${e.message}` }),
    );

  test('the same answer as asking libpcap each time, and libpcap asked once per distinct expression', async () => {
    for (const e of expressions) {
      const direct = await verdict(checkBpfExpression(e, { cache: false }));
      const before = bpfCheckStats().compilesRun;
      // A fleet-wide create: 200 requests with the same filters at once, and again later.
      const parallel = await Promise.all(Array.from({ length: 200 }, () => verdict(checkBpfExpression(e))));
      const later = await verdict(checkBpfExpression(e));
      for (const v of [...parallel, later]) assert.deepEqual(v, direct, e.slice(0, 60));
      assert.ok(bpfCheckStats().compilesRun - before <= 1, 'at most one tcpdump for 201 asks');
    }
  });

  test('a failure to run tcpdump is not kept as a verdict', async () => {
    await assert.rejects(checkBpfExpression('udp', { tcpdumpPath: '/nonexistent/tcpdump' }), /cannot run/);
    await assert.rejects(checkBpfExpression('udp', { tcpdumpPath: '/nonexistent/tcpdump' }), /cannot run/);
    const before = bpfCheckStats().compilesRun;
    await assert.rejects(checkBpfExpression('udp', { tcpdumpPath: '/nonexistent/tcpdump' }), /cannot run/);
    assert.equal(bpfCheckStats().compilesRun - before, 1, 'asked again');
  });

  test('bounded: never more than BPF_CACHE_ENTRIES verdicts kept', async () => {
    // Expressions too large to need libpcap: each is its own verdict, made without a process.
    const big = Array.from(
      { length: Math.ceil(BPF_MAX_INSTRUCTIONS / 3) + 1 },
      (_, i) => `host 10.${i >> 8}.${i & 255}.1`,
    ).join(' or ');
    for (let i = 0; i < BPF_CACHE_ENTRIES + 50; i++)
      await assert.rejects(checkBpfExpression(`${big} or port ${i}`), FilterTooLargeError);
    assert.equal(bpfCheckStats().entries, BPF_CACHE_ENTRIES);
  });
});

// Asks real libpcap (through tcpdump) whether an expression compiles and how long the program is,
// before any capture starts: a capture must never begin with a filter the kernel will refuse.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BPF_MAX_INSTRUCTIONS, FilterTooLargeError, InvalidFilterError } from './errors.js';

/** Options for checkBpfExpression. */
export interface CheckBpfOptions {
  /** tcpdump binary; defaults to `tcpdump` on PATH. */
  tcpdumpPath?: string;
  /** How long libpcap may take to compile; defaults to 30 s. */
  timeoutInMs?: number;
  /** Use the verdict cache (default true); false always asks libpcap. */
  cache?: boolean;
}

/** What libpcap made of an expression. */
export interface BpfCheckResult {
  /** Classic BPF instructions in libpcap's program without its optimizer (what the kernel is given under TCPDUMP_FILTER_OPTIONS). */
  instructionCount: number;
}

// A 24-byte pcap global header (microsecond magic, v2.4, snap length 262144, LINKTYPE_ETHERNET) and
// no packets: `tcpdump -d -r` takes the link type from it, so no interface and no capture privilege
// is needed. Only offsets differ between Ethernet and the Linux cooked headers of `-i any` (SLL,
// SLL2): the program has the same length for all three.
const EMPTY_ETHERNET_PCAP = Buffer.from(
  'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '00000400' + '01000000',
  'hex',
);

/**
 * tcpdump options that must accompany a compiled expression wherever it is used (capture and check
 * alike): `-O` turns libpcap's optimizer off. The optimizer in libpcap 1.10.3 (Debian 12)
 * miscompiles filters this compiler produces, e.g. `(udp and ip host 1.2.3.4) or (ip host 1.2.3.4
 * or ip host 99.108.63.160)` drops UDP from 99.108.63.160 (found by compile.property.test.ts;
 * libpcap's tracker has a long history of such bugs, e.g. the-tcpdump-group/libpcap#33, #42, #58).
 * Unoptimized code is what gencode emits, primitive by primitive, and is what the property test proves.
 */
export const TCPDUMP_FILTER_OPTIONS: readonly string[] = ['-O'];

// Without the optimizer every primitive (host, net, port, portrange) becomes at least 3
// instructions of its own (a load of the EtherType, its test, and a load-and-test of the field),
// so more than BPF_MAXINSNS / 3 primitives cannot fit and are refused without running libpcap.
const PRIMITIVE_PATTERN = /\b(?:host|net|port|portrange)\s+[^\s()]+/g;
const MIN_INSTRUCTIONS_PER_PRIMITIVE = 3;

/** Distinct expressions whose verdict is kept (an entry is ~100 bytes: the expression is kept as its SHA-256). */
export const BPF_CACHE_ENTRIES = 4096;

/** tcpdump processes compiling at once; further distinct expressions wait (1,000 creates in parallel must not fork 1,000 processes). */
const COMPILES_AT_ONCE = 4;

type Verdict = { ok: true; result: BpfCheckResult } | { ok: false; error: () => Error };

/** Verdicts by SHA-256 of tcpdump path and expression, least recently used first; a pending entry is shared by every caller asking meanwhile. */
const verdicts = new Map<string, Promise<Verdict>>();
let compiling = 0;
const waitingToCompile: Array<() => void> = [];
let compilesRun = 0;

/** What the verdict cache holds and how many tcpdump processes ran (for tests and the scale benchmark). */
export function bpfCheckStats(): { entries: number; compilesRun: number } {
  return { entries: verdicts.size, compilesRun };
}

/**
 * Ask real libpcap (tcpdump -O -d -r on an empty Ethernet pcap) to compile the expression; returns the
 * instruction count; throws FilterTooLargeError above 4096 (BPF_MAXINSNS) or InvalidFilterError
 * (index -1, field '') with libpcap's message if it does not compile.
 *
 * The verdict depends only on the expression and the tcpdump binary, so it is kept (a bounded LRU
 * of {@link BPF_CACHE_ENTRIES}): a fleet-wide create of one filter set on 1,000 hosts, or the same
 * filters created again and again, runs tcpdump once. Callers asking while it runs share that run.
 * Not kept: failures to run tcpdump at all (missing, timed out), which say nothing about the expression.
 * @example const { instructionCount } = await checkBpfExpression(compileFilters(filters));
 */
export async function checkBpfExpression(expression: string, opts: CheckBpfOptions = {}): Promise<BpfCheckResult> {
  if (opts.cache === false) return compileWithLibpcap(expression, opts);
  const key = createHash('sha256')
    .update(opts.tcpdumpPath ?? 'tcpdump')
    .update('\0')
    .update(expression)
    .digest('base64url');
  let pending = verdicts.get(key);
  if (pending) {
    verdicts.delete(key);
    verdicts.set(key, pending);
  } else {
    pending = limitedCompile(expression, opts).then(
      (result): Verdict => ({ ok: true, result }),
      (error: unknown): Verdict => {
        // The same error for every caller: errors are never changed after they are made.
        if (error instanceof InvalidFilterError || error instanceof FilterTooLargeError)
          return { ok: false, error: () => error };
        // Not a verdict: forgotten, so the next caller asks again.
        verdicts.delete(key);
        throw error;
      },
    );
    verdicts.set(key, pending);
    if (verdicts.size > BPF_CACHE_ENTRIES) verdicts.delete(verdicts.keys().next().value!);
  }
  const verdict = await pending;
  if (verdict.ok) return { ...verdict.result };
  throw verdict.error();
}

async function limitedCompile(expression: string, opts: CheckBpfOptions): Promise<BpfCheckResult> {
  if (compiling >= COMPILES_AT_ONCE) await new Promise<void>((resolve) => waitingToCompile.push(resolve));
  else compiling++;
  try {
    compilesRun++;
    return await compileWithLibpcap(expression, opts);
  } finally {
    const next = waitingToCompile.shift();
    if (next) next();
    else compiling--;
  }
}

async function compileWithLibpcap(expression: string, opts: CheckBpfOptions): Promise<BpfCheckResult> {
  const primitives = (expression.match(PRIMITIVE_PATTERN) ?? []).length;
  const lowerBound = primitives * MIN_INSTRUCTIONS_PER_PRIMITIVE;
  if (lowerBound > BPF_MAX_INSTRUCTIONS) {
    throw new FilterTooLargeError(lowerBound, {
      detail: `at least ${lowerBound} BPF instructions (${primitives} address and port tests)`,
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'nw-bpf-'));
  try {
    const pcapPath = join(dir, 'empty.pcap');
    const expressionPath = join(dir, 'filter.txt');
    await writeFile(pcapPath, EMPTY_ETHERNET_PCAP);
    // -F: a program near the kernel limit can approach Linux's 128 KiB limit on one argument.
    await writeFile(expressionPath, expression);
    const args = [...TCPDUMP_FILTER_OPTIONS, '-d', '-r', pcapPath, '-F', expressionPath];
    const outcome = await runTcpdump(opts.tcpdumpPath ?? 'tcpdump', args, opts.timeoutInMs ?? 30_000);
    if (outcome.kind === 'failed') {
      const message = libpcapMessage(outcome.stderr);
      throw new InvalidFilterError(-1, '', expression, `libpcap cannot compile the expression: ${message}`);
    }
    const instructionCount = outcome.stdout.split('\n').filter((line) => /^\(\d+\)/.test(line)).length;
    if (instructionCount === 0) throw new Error(`tcpdump -d printed no program: ${outcome.stdout.slice(0, 200)}`);
    if (instructionCount > BPF_MAX_INSTRUCTIONS) throw new FilterTooLargeError(instructionCount);
    return { instructionCount };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type TcpdumpOutcome = { kind: 'compiled'; stdout: string } | { kind: 'failed'; stderr: string };

function runTcpdump(path: string, args: string[], timeoutInMs: number): Promise<TcpdumpOutcome> {
  return new Promise((resolve, reject) => {
    execFile(
      path,
      args,
      { timeout: timeoutInMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) return resolve({ kind: 'compiled', stdout });
        const code = (error as NodeJS.ErrnoException).code;
        // Not a verdict on the expression: tcpdump is missing or was killed. That is our fault, not the user's.
        if (typeof code === 'string')
          return reject(new Error(`cannot run ${path}: ${error.message}`, { cause: error }));
        if (error.killed)
          return reject(new Error(`${path} -d did not finish within ${timeoutInMs} ms`, { cause: error }));
        resolve({ kind: 'failed', stderr });
      },
    );
  });
}

// tcpdump prints "reading from file …" first and then "tcpdump: <libpcap's error>".
function libpcapMessage(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('tcpdump: '));
  const last = lines[lines.length - 1];
  return last === undefined ? stderr.trim() : last.slice('tcpdump: '.length);
}

// nw-capture's own contract (nw-capture.c's header and docs/capture.md): tcpdump's options and
// lines, tcpdump's files, the rotation names and exact sizes, and what it refuses. Real packets
// between two network namespaces, with tcpdump beside it as the reference.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  readlinkSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNamespace, createVethPair, UDP_SEND_SCRIPT } from '../testing/index.js';
import type { TestNamespace } from '../testing/index.js';
import { parseTcpdumpInfoLine, parseTcpdumpStats } from '../tcpdump-stderr.js';

const BINARY = fileURLToPath(new URL('../../../dist/native/nw-capture', import.meta.url));
const built = existsSync(BINARY);
// CI builds it (npm test builds dist/ first, and test.sh installs the compiler): missing there is a failure.
const skip = built ? false : process.env['CI'] === 'true' ? false : 'dist/native/nw-capture not built (npm run build)';

interface Record {
  seconds: number;
  micros: number;
  capturedLength: number;
  originalLength: number;
  data: Buffer;
}

function readRecords(path: string): { header: Buffer; records: Record[]; trailingBytes: number } {
  const buf = readFileSync(path);
  assert.ok(buf.length >= 24, `${path}: ${buf.length} bytes, no pcap header`);
  const records: Record[] = [];
  let at = 24;
  while (at + 16 <= buf.length) {
    const capturedLength = buf.readUInt32LE(at + 8);
    if (at + 16 + capturedLength > buf.length) break;
    records.push({
      seconds: buf.readUInt32LE(at),
      micros: buf.readUInt32LE(at + 4),
      capturedLength,
      originalLength: buf.readUInt32LE(at + 12),
      data: buf.subarray(at + 16, at + 16 + capturedLength),
    });
    at += 16 + capturedLength;
  }
  return { header: buf.subarray(0, 24), records, trailingBytes: buf.length - at };
}

function runBinary(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BINARY, args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('nw-capture refuses what it does not do, naming it, and says which libpcap it loaded', { skip }, () => {
  const cases: [string[], RegExp][] = [
    [['-i', 'lo', '-w', '/tmp/x', '-x'], /unknown option -x/],
    [['-i', 'lo', '-w', '/tmp/x', '-p'], /unknown option -p/],
    [['-i', 'lo'], /-w FILE/],
    [['-w', '/tmp/x'], /-i INTERFACE is required/],
    [['-i', 'lo', '-w', '-', '-C', '1'], /need -w FILE, not standard output/],
    [['-i', 'lo', '-w', '/tmp/x', '-C', '1', '--file-size-bytes', '1000'], /exclude each other/],
    [['-i', 'lo', '-w', '/tmp/x', '-s', '262145'], /invalid snapshot length 262145/],
    [['-i', 'lo', '-w', '/tmp/x', '-B', '0'], /invalid buffer size/],
    [['-i', 'lo', '-w', '/tmp/x', '-G', '1.5'], /invalid rotation interval/],
    [['-i', 'lo', '-w', '/tmp/x', '--file-size-bytes', '40'], /invalid file size \(bytes\) 40/],
    [['-i', 'lo', '-w', '/tmp/x', '-s'], /option -s needs a value/],
  ];
  for (const [args, message] of cases) {
    const r = runBinary(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  const version = runBinary(['--version']);
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout, /^nw-capture 1 \(libpcap version \d+\.\d+/);
  const noDevice = runBinary(['-i', 'nwnosuch0', '-w', join(tmpdir(), 'nw-capture-nosuch.pcap')]);
  assert.equal(noDevice.status, 1);
  assert.match(noDevice.stderr, /^nw-capture: nwnosuch0: No such device exists$/m);
  rmSync(join(tmpdir(), 'nw-capture-nosuch.pcap'), { force: true });
});

describe('nw-capture on real packets', { skip }, () => {
  let a: TestNamespace;
  let b: TestNamespace;
  let interfaceB: string;
  let dir: string;
  before(async () => {
    a = await createNamespace();
    b = await createNamespace();
    const pair = await createVethPair(a, b, { addressesA: ['10.79.0.1/24'], addressesB: ['10.79.0.2/24'] });
    interfaceB = pair.interfaceB;
    dir = mkdtempSync(join(tmpdir(), 'nw-capture-test-'));
  });
  after(async () => {
    await a?.destroy();
    await b?.destroy();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  // Starts a capture program in namespace b and resolves once it listens.
  async function start(
    program: string,
    args: string[],
    stdio: 'ignore' | number = 'ignore',
  ): Promise<{ child: ChildProcess; stderr: () => string; closed: Promise<unknown[]> }> {
    const child = spawn('ip', ['netns', 'exec', b.name, program, ...args], { stdio: ['ignore', stdio, 'pipe'] });
    const closed = once(child, 'close');
    let text = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => (text += t));
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (/listening on /.test(text)) resolve();
      };
      child.stderr!.on('data', check);
      child.once('exit', () => reject(new Error(`${program} exited: ${text}`)));
    });
    return { child, stderr: () => text, closed };
  }

  async function stop(capture: { child: ChildProcess; closed: Promise<unknown[]> }): Promise<number | null> {
    // Past the ring's block timer (200 ms here, tcpdump's 1 s), so nothing waits in an open block.
    await new Promise((r) => setTimeout(r, 1300));
    capture.child.kill('SIGTERM');
    const [code] = (await capture.closed) as [number | null];
    return code;
  }

  async function send(count: number, size: number, port = 9999): Promise<void> {
    const r = await a.runNode(UDP_SEND_SCRIPT, ['10.79.0.2', String(port), String(count), String(size)]);
    assert.equal(r.stdout.trim(), String(count), r.stderr);
  }

  test('the same packets as tcpdump beside it, in the same file format, with tcpdump counters', async () => {
    const ours = join(dir, 'ours.pcap');
    const theirs = join(dir, 'theirs.pcap');
    const filter = 'udp and (len > 600 or udp[8] = 0x61)';
    const tcpdump = await start('tcpdump', [
      '-i',
      interfaceB,
      '-n',
      '-O',
      '-s',
      '300',
      '-B',
      '4096',
      '-w',
      theirs,
      '--',
      filter,
    ]);
    const native = await start(BINARY, [
      '-i',
      interfaceB,
      '-n',
      '-O',
      '-s',
      '300',
      '-B',
      '4096',
      '-w',
      ours,
      '--',
      filter,
    ]);
    await send(200, 1400);
    await send(100, 20);
    await send(50, 2000, 9998);
    native.child.kill('SIGUSR1');
    const nativeCode = await stop(native);
    tcpdump.child.kill('SIGTERM');
    await tcpdump.closed;
    assert.equal(nativeCode, 0, native.stderr());
    const mine = readRecords(ours);
    const reference = readRecords(theirs);
    assert.deepEqual(mine.header, reference.header, 'the same pcap header (magic, version, snap length, link type)');
    assert.equal(mine.trailingBytes, 0);
    assert.ok(reference.records.length >= 350, `tcpdump kept ${reference.records.length}`);
    assert.equal(mine.records.length, reference.records.length);
    for (let i = 0; i < mine.records.length; i++) {
      const m = mine.records[i]!;
      const r = reference.records[i]!;
      assert.equal(m.capturedLength, r.capturedLength, `record ${i}`);
      assert.equal(m.originalLength, r.originalLength, `record ${i}`);
      assert.deepEqual(m.data, r.data, `record ${i}`);
      const apartInMicros = Math.abs((m.seconds - r.seconds) * 1e6 + (m.micros - r.micros));
      assert.ok(apartInMicros < 50_000, `record ${i}: stamps ${apartInMicros} µs apart`);
    }
    assert.ok(mine.records.every((r) => r.capturedLength <= 300));
    const info = native
      .stderr()
      .split('\n')
      .map(parseTcpdumpInfoLine)
      .find((l) => l !== null);
    assert.ok(info !== undefined, `a SIGUSR1 line: ${native.stderr()}`);
    const stats = parseTcpdumpStats(native.stderr());
    assert.equal(stats.packetsCaptured, mine.records.length);
    assert.equal(stats.packetsDroppedByKernel, 0);
    assert.ok((stats.packetsReceivedByFilter ?? 0) >= mine.records.length);
  });

  test('-i any: Linux cooked v2, as tcpdump 4.99 writes it, so the files merge with those of tcpdump', async () => {
    const ours = join(dir, 'any-ours.pcap');
    const theirs = join(dir, 'any-theirs.pcap');
    const tcpdump = await start('tcpdump', ['-i', 'any', '-s', '0', '-w', theirs, '--', 'udp']);
    const native = await start(BINARY, ['-i', 'any', '-s', '0', '-w', ours, '--', 'udp']);
    assert.match(native.stderr(), /link-type LINUX_SLL2 \(Linux cooked v2\)/);
    await send(20, 300);
    assert.equal(await stop(native), 0, native.stderr());
    tcpdump.child.kill('SIGTERM');
    await tcpdump.closed;
    const mine = readRecords(ours);
    const reference = readRecords(theirs);
    assert.deepEqual(mine.header, reference.header);
    assert.equal(mine.header.readUInt32LE(20), 276);
    assert.deepEqual(
      mine.records.map((r) => r.data),
      reference.records.map((r) => r.data),
    );
  });

  test('--file-size-bytes: every file as large as it may be and no larger, tcpdump -C names, in order', async () => {
    const base = join(dir, 'ring.pcap');
    const limit = 5000;
    const native = await start(BINARY, [
      '-i',
      interfaceB,
      '-s',
      '0',
      '--file-size-bytes',
      String(limit),
      '-w',
      base,
      '--',
      'udp',
    ]);
    await send(120, 900);
    assert.equal(await stop(native), 0, native.stderr());
    const names = readdirSync(dir).filter((n) => n.startsWith('ring.pcap'));
    const index = (n: string): number => (n === 'ring.pcap' ? 0 : Number(n.slice('ring.pcap'.length)));
    names.sort((x, y) => index(x) - index(y));
    assert.deepEqual(
      names.map(index),
      names.map((_, i) => i),
      'ring.pcap, ring.pcap1, ring.pcap2, …',
    );
    let total = 0;
    for (let i = 0; i < names.length; i++) {
      const path = join(dir, names[i]!);
      const { records, trailingBytes } = readRecords(path);
      const size = statSync(path).size;
      assert.equal(trailingBytes, 0, names[i]);
      assert.ok(size <= limit, `${names[i]}: ${size} bytes`);
      assert.ok(records.length >= 1, names[i]);
      total += records.length;
      if (i + 1 < names.length) {
        // The next file's first record would not have fitted.
        const next = readRecords(join(dir, names[i + 1]!)).records[0]!;
        assert.ok(size + 16 + next.capturedLength > limit, `${names[i]} ended early at ${size}`);
        // Files are created in order: each one is complete before the next exists.
        assert.ok(statSync(path).mtimeMs <= statSync(join(dir, names[i + 1]!)).mtimeMs);
      }
    }
    assert.equal(total, 120);
    for (const n of names) rmSync(join(dir, n));
  });

  test('-G with -C: strftime names per period and a count within one, as tcpdump names them', async () => {
    const sub = mkdtempSync(join(dir, 'g-'));
    const native = await start(BINARY, [
      '-i',
      interfaceB,
      '-s',
      '0',
      '-G',
      '1',
      '-C',
      '1',
      '-w',
      join(sub, 'lb-%s.pcap'),
      '--',
      'udp',
    ]);
    // ~2.4 MB within the first second: at least one -C split inside a period.
    await send(1800, 1400);
    await new Promise((r) => setTimeout(r, 1200));
    await send(10, 100);
    assert.equal(await stop(native), 0, native.stderr());
    const names = readdirSync(sub);
    assert.ok(
      names.every((n) => /^lb-\d{10}\.pcap\d*$/.test(n)),
      names.join(' '),
    );
    assert.ok(
      names.some((n) => /\.pcap\d+$/.test(n)),
      `a -C split: ${names.join(' ')}`,
    );
    assert.ok(new Set(names.map((n) => n.replace(/\.pcap\d*$/, ''))).size >= 2, `two periods: ${names.join(' ')}`);
    const total = names.reduce((sum, n) => sum + readRecords(join(sub, n)).records.length, 0);
    assert.equal(total, 1810);
  });

  test('a quiet link: one datagram is in the file within a second, while capturing', async () => {
    const path = join(dir, 'quiet.pcap');
    const fd = openSync(path, 'w');
    const native = await start(BINARY, ['-i', interfaceB, '-s', '0', '-w', '-', '--', 'udp'], fd);
    closeSync(fd);
    await send(1, 100);
    const sentAt = Date.now();
    while (statSync(path).size <= 24 && Date.now() - sentAt < 3000) await new Promise((r) => setTimeout(r, 20));
    const waitedInMs = Date.now() - sentAt;
    native.child.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(
      waitedInMs < 1000,
      `in the file after ${waitedInMs} ms (${statSync(path).size} bytes): ${native.stderr()}`,
    );
    assert.equal(readRecords(path).records.length, 1);
    assert.equal(await stop(native), 0);
  });

  test('SIGUSR2 (tcpdump: flush) writes what is held and does not end it; files are created 0640', async () => {
    const path = join(dir, 'usr2.pcap');
    const native = await start(BINARY, ['-i', interfaceB, '-s', '0', '-w', path, '--', 'udp']);
    assert.equal(statSync(path).mode & 0o777, 0o640);
    await send(3, 200);
    native.child.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 600));
    native.child.kill('SIGUSR2');
    const deadline = Date.now() + 1000;
    while (readRecords(path).records.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readRecords(path).records.length, 3);
    assert.equal(native.child.exitCode, null, 'still capturing after SIGUSR2');
    assert.equal(await stop(native), 0, native.stderr());
  });

  test('O_DIRECT on a file on disk, none with --buffered; the same records either way', async () => {
    // fdinfo's flags (octal) of the descriptor that has `path` open in process `pid`.
    const flagsOf = (pid: number, path: string): number => {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        let target = '';
        try {
          target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        if (target === path)
          return parseInt(/^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      }
      throw new Error(`${path} not open in ${pid}`);
    };
    const O_DIRECT = 0o40000;
    const direct = join(dir, 'direct.pcap');
    const buffered = join(dir, 'buffered.pcap');
    const a1 = await start(BINARY, ['-i', interfaceB, '-s', '0', '-w', direct, '--', 'udp']);
    const a2 = await start(BINARY, ['-i', interfaceB, '-s', '0', '--buffered', '-w', buffered, '--', 'udp']);
    assert.notEqual(flagsOf(a1.child.pid!, direct) & O_DIRECT, 0, 'O_DIRECT on the disk file');
    assert.equal(flagsOf(a2.child.pid!, buffered) & O_DIRECT, 0, 'no O_DIRECT with --buffered');
    await send(500, 1200);
    assert.equal(await stop(a1), 0, a1.stderr());
    assert.equal(await stop(a2), 0, a2.stderr());
    assert.equal(readRecords(direct).records.length, 500);
    assert.deepEqual(readFileSync(direct).subarray(24).length, readFileSync(buffered).subarray(24).length);
  });

  test('standard output that is a pipe, or opened for appending; a file on tmpfs (no O_DIRECT)', async () => {
    // A pipe: sequential writes.
    const viaPipe = spawn(
      'ip',
      ['netns', 'exec', b.name, BINARY, '-i', interfaceB, '-s', '0', '-w', '-', '--', 'udp'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const chunks: Buffer[] = [];
    viaPipe.stdout!.on('data', (c: Buffer) => chunks.push(c));
    let text = '';
    viaPipe.stderr!.on('data', (t: Buffer) => (text += t.toString()));
    while (!/listening on/.test(text)) await new Promise((r) => setTimeout(r, 20));
    // Appending after existing bytes: pwrite would ignore its offset there, so writes go in order.
    const appended = join(dir, 'appended.pcap');
    const fd = openSync(appended, 'a');
    const viaAppend = await start(BINARY, ['-i', interfaceB, '-s', '0', '-w', '-', '--', 'udp'], fd);
    closeSync(fd);
    const shm = mkdtempSync('/dev/shm/nw-capture-test-');
    try {
      const onTmpfs = await start(BINARY, ['-i', interfaceB, '-s', '0', '-w', join(shm, 't.pcap'), '--', 'udp']);
      await send(300, 1000);
      await send(5, 50);
      assert.equal(await stop(viaAppend), 0, viaAppend.stderr());
      assert.equal(await stop(onTmpfs), 0, onTmpfs.stderr());
      viaPipe.kill('SIGTERM');
      await once(viaPipe, 'close');
      assert.equal(readRecords(join(shm, 't.pcap')).records.length, 305);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
    const pipePath = join(dir, 'piped.pcap');
    await import('node:fs/promises').then((fs) => fs.writeFile(pipePath, Buffer.concat(chunks)));
    assert.equal(readRecords(pipePath).records.length, 305);
    assert.equal(readRecords(appended).records.length, 305);
  });

  test('a link or a FIFO at -w is refused (O_NOFOLLOW, regular files only), nothing written through it', async () => {
    const target = join(dir, 'target');
    const link = join(dir, 'link.pcap');
    symlinkSync(target, link);
    const fifo = join(dir, 'fifo.pcap');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    for (const path of [link, fifo]) {
      const child = spawn('ip', ['netns', 'exec', b.name, BINARY, '-i', interfaceB, '-w', path, '--', 'udp'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let text = '';
      child.stderr!.on('data', (t: Buffer) => (text += t.toString()));
      const [code] = (await once(child, 'close')) as [number | null];
      assert.equal(code, 1, text);
      assert.ok(text.includes(path), text);
    }
    assert.equal(existsSync(target), false);
  });

  test('a full file system: exit 1 naming the error, and the file is a valid prefix', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'nw-capture-full-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'nwcapfull', mount]);
    assert.equal(mounted.status, 0, mounted.stderr?.toString());
    try {
      const path = join(mount, 'full.pcap');
      const native = await start(BINARY, ['-i', interfaceB, '-s', '0', '-w', path, '--', 'udp']);
      await send(400, 1400);
      const code = await stop(native);
      assert.equal(code, 1, native.stderr());
      assert.match(native.stderr(), /nw-capture: write .*full\.pcap: No space left on device/);
      const { records } = readRecords(path);
      assert.ok(records.length > 0 && records.length < 400, `${records.length} records`);
    } finally {
      spawnSync('umount', [mount]);
      rmSync(mount, { recursive: true, force: true });
    }
  });

  test('-Z USER: runs as that user and still ends with its parent (the parent-death signal re-armed)', async () => {
    // The user opens its file itself, after the switch (as tcpdump -Z does): a folder it may write.
    const open = mkdtempSync(join(dir, 'z-'));
    chmodSync(dir, 0o711);
    chmodSync(open, 0o777);
    const path = join(open, 'dropped.pcap');
    // A parent that starts nw-capture under setpriv --pdeathsig and is then killed with SIGKILL.
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('node:child_process').spawn('ip', ['netns', 'exec', ${JSON.stringify(b.name)}, 'setpriv', '--pdeathsig', 'TERM', '--', ${JSON.stringify(BINARY)}, '-i', ${JSON.stringify(interfaceB)}, '-Z', 'nobody', '-w', ${JSON.stringify(path)}, '--', 'udp'], { stdio: 'inherit' }); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let text = '';
    parent.stderr!.on('data', (t: Buffer) => (text += t.toString()));
    const listening = Date.now() + 5000;
    while (!/listening on/.test(text) && Date.now() < listening) await new Promise((r) => setTimeout(r, 20));
    assert.match(text, /listening on/);
    const pid = Number(
      spawnSync('pgrep', ['-f', `^${BINARY} -i ${interfaceB} -Z nobody`], { encoding: 'utf8' }).stdout.trim(),
    );
    assert.ok(pid > 0);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
    assert.match(status, new RegExp(`^Uid:\\s+${nobody}\\s+${nobody}\\s`, 'm'));
    parent.kill('SIGKILL');
    const deadline = Date.now() + 5000;
    while (existsSync(`/proc/${pid}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(existsSync(`/proc/${pid}`), false, 'nw-capture outlived its parent');
    assert.ok(existsSync(path));
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureStreamParser } from '../../pcap/index.js';
import { dnsExchange, inTimeOrder, tcpConnection, writeCapture } from '../../analysis/testing/scenario.js';
import { CliError, UsageError } from '../errors.js';
import { createTestContext } from '../testing/canned-arm-server.js';
import { pcapAnalyze, pcapFilter, pcapPackets } from './analyze-actions.js';

describe('nw pcap analyze | packets | filter', () => {
  let dir: string;
  let file: string;
  const conn = tcpConnection({
    client: '10.0.0.1',
    clientPort: 40000,
    server: '10.0.0.2',
    serverPort: 9000,
    start: 0,
    segments: 4,
    retransmit: [1],
    reset: true,
  });
  const frames = inTimeOrder([
    ...conn.frames,
    ...dnsExchange({
      client: '10.0.0.1',
      clientPort: 33000,
      server: '10.0.0.53',
      id: 7,
      name: 'gone.example',
      start: 0.002,
      rcode: 3,
    }),
  ]);
  const bytes = writeCapture(frames, { pcapng: true });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nw-cli-analyze-'));
    file = join(dir, 'x.pcapng');
    await writeFile(file, bytes);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('analyze prints the report as JSON with the file hash, or one section as tables', async () => {
    const ctx = createTestContext('http://127.0.0.1:1');
    const report = await pcapAnalyze(file, {}, ctx);
    assert.equal(report.source.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(report.source.format, 'pcapng');
    assert.deepEqual(JSON.parse(ctx.stdout()).tcp.retransmissions, 1);
    const table = createTestContext('http://127.0.0.1:1');
    await pcapAnalyze(file, { section: 'tcp', output: 'table' }, table);
    assert.match(
      table.stdout(),
      /TCP health: 1 connections, 1 handshakes, 1 retransmissions, 0 duplicate ACKs, 0 zero windows, 1 resets/,
    );
    assert.match(table.stdout(), /10\.0\.0\.1\s+40000\s+10\.0\.0\.2\s+9000\s+reset/);
  });

  test('bad arguments and files are clear errors', async () => {
    const ctx = createTestContext('http://127.0.0.1:1');
    await assert.rejects(
      pcapAnalyze(file, { section: 'everything' }, ctx),
      (e: unknown) => e instanceof UsageError && /--section/.test(e.message),
    );
    await assert.rejects(
      pcapAnalyze(join(dir, 'missing.pcap'), {}, ctx),
      (e: unknown) => e instanceof CliError && /no such file/.test(e.message),
    );
    const notCapture = join(dir, 'notes.txt');
    await writeFile(notCapture, 'hello, this is not a capture');
    await assert.rejects(
      pcapAnalyze(notCapture, {}, ctx),
      (e: unknown) => e instanceof CliError && /not a pcap or pcapng file/.test(e.message),
    );
    await assert.rejects(
      pcapPackets(file, { filter: 'tcp.port == 80 &&' }, ctx),
      (e: unknown) => e instanceof UsageError && /column 18: expected a field or protocol at the end/.test(e.message),
    );
  });

  test('packets lists what matches; filter writes it and will not overwrite without --force', async () => {
    const ctx = createTestContext('http://127.0.0.1:1');
    const page = await pcapPackets(file, { filter: 'dns.flags.rcode == 3', output: 'table' }, ctx);
    assert.equal(page.matchingPackets, 1);
    assert.match(ctx.stdout(), /Standard query response 0x0007 NXDOMAIN A gone\.example/);
    assert.match(ctx.stdout(), new RegExp(`1 of ${frames.length} packets match`));

    const out = join(dir, 'tcp.pcapng');
    await pcapFilter(file, { filter: 'tcp', write: out }, createTestContext('http://127.0.0.1:1'));
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    let count = 0;
    const parser = new CaptureStreamParser({
      onPacket: () => {
        count++;
      },
    });
    parser.push(await readFile(out));
    assert.equal(parser.end(), 0);
    assert.equal(count, conn.frames.length);
    await assert.rejects(
      pcapFilter(file, { filter: 'tcp', write: out }, createTestContext('http://127.0.0.1:1')),
      /already exists; pass --force/,
    );
    await pcapFilter(file, { filter: 'udp', write: out, force: true }, createTestContext('http://127.0.0.1:1'));
    count = 0;
    const again = new CaptureStreamParser({
      onPacket: () => {
        count++;
      },
    });
    again.push(await readFile(out));
    assert.equal(count, 2);
  });
});

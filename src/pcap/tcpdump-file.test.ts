// Reads files written by the real tcpdump (the Debian package) and decodes their packets.
// Traffic is made inside a fresh network namespace, on its own loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createNamespace, TCP_ECHO_SCRIPT, UDP_SEND_SCRIPT } from '../capture/testing/index.js';
import type { TestNamespace } from '../capture/testing/index.js';
import { decodePacket } from './decode.js';
import { LinkType } from './format.js';
import { readPcapFile } from './read.js';

/** Starts tcpdump in `ns` and resolves once it is really capturing. */
// -Z root: Debian's tcpdump drops to user tcpdump before opening -w files, which could not
// write into our private (0700) temporary directory.
async function startTcpdump(ns: TestNamespace, args: string[]): Promise<ChildProcess> {
  const child = ns.spawn('tcpdump', args);
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${stderr}`)), 10_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`tcpdump exited: ${stderr}`)));
  });
  return child;
}

async function stopTcpdump(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

describe('files written by tcpdump -w', () => {
  let ns: TestNamespace;
  let dir: string;
  before(async () => {
    ns = await createNamespace({ prefix: 'nwpcap' });
    dir = await mkdtemp(join(tmpdir(), 'nw-pcap-tcpdump-'));
  });
  after(async () => {
    await ns?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('-i any (LINUX_SLL2) and -i lo (Ethernet) files decode to the traffic sent', async () => {
    const anyPath = join(dir, 'any.cap');
    const loPath = join(dir, 'lo.cap');
    const anyDump = await startTcpdump(ns, ['-i', 'any', '-n', '-U', '-Z', 'root', '-w', anyPath]);
    const loDump = await startTcpdump(ns, ['-i', 'lo', '-n', '-U', '-Z', 'root', '-w', loPath, 'udp']);
    try {
      const udp = await ns.runNode(UDP_SEND_SCRIPT, ['127.0.0.1', '9999', '3', '200']);
      assert.equal(udp.stdout.trim(), '3', udp.stderr);
      const tcp = await ns.runNode(TCP_ECHO_SCRIPT, ['::1', '8080', '4000']);
      assert.equal(tcp.stdout.trim(), '4000', tcp.stderr);
      // libpcap's TPACKET_V3 ring hands packets over in blocks retired after up to 1 s, and
      // tcpdump discards an unretired block on SIGTERM. (--immediate-mode would avoid the wait
      // but, on the "any" device, gives a ring of a few 256 KiB frames that drops under load.)
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      await stopTcpdump(anyDump);
      await stopTcpdump(loDump);
    }

    const any = await readPcapFile(anyPath);
    // tcpdump 4.99 with libpcap 1.10 (Debian 12) picks Linux cooked v2 for the "any" device.
    assert.equal(any.header.linkType, LinkType.LINUX_SLL2);
    assert.equal(any.header.magic, 'usec');
    assert.equal(any.header.snapLength, 262144);
    const decoded = any.records.map((r) => decodePacket(any.header.linkType, r.data));
    const udp = decoded.filter((p) => p.protocol === 'UDP' && p.destinationPort === 9999);
    assert.ok(udp.length >= 3, `expected ≥3 UDP datagrams, got ${JSON.stringify(decoded)}`);
    for (const p of udp) {
      assert.equal(p.family, 4);
      assert.equal(p.sourceAddress, '127.0.0.1');
      assert.equal(p.destinationAddress, '127.0.0.1');
      assert.ok(p.direction === 'in' || p.direction === 'out');
    }
    const tcp = decoded.filter((p) => p.protocol === 'TCP');
    assert.ok(tcp.some((p) => p.destinationPort === 8080 && p.sourceAddress === '::1' && p.family === 6));
    assert.ok(tcp.some((p) => p.sourcePort === 8080));
    const udpRecord = any.records.find((r, i) => decoded[i]?.destinationPort === 9999);
    // 20 SLL2 + 20 IPv4 + 8 UDP + 200 payload
    assert.equal(udpRecord?.originalLength, 248);
    assert.equal(udpRecord?.capturedLength, 248);

    const lo = await readPcapFile(loPath);
    assert.equal(lo.header.linkType, LinkType.ETHERNET);
    const loPackets = lo.records.map((r) => decodePacket(lo.header.linkType, r.data));
    assert.ok(loPackets.length >= 3);
    assert.ok(loPackets.every((p) => p.protocol === 'UDP' && p.destinationPort === 9999));
    assert.ok(lo.records.every((r) => r.timestampFraction < 1_000_000));
  });
});

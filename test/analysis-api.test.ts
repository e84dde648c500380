/**
 * Analysis of a stored capture through the API and the CLI: a real server on loopback with its
 * embedded database and local storage; this process plays the host's agent over the real agent
 * protocol (enrolment, WebSocket, upload grant, signed upload), so the capture's file is stored
 * exactly as an agent stores it. The file is a generated pcap with known conversations and
 * anomalies; the answers must match it, follow the published schemas, and refuse bad input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { analysisReportSchema, packetListPageSchema } from '../src/model/index.js';
import type { AgentCaptureState, AgentToServer, ServerToAgent } from '../src/model/index.js';
import { startServer, type RunningServer } from '../src/server/index.js';
import { apiCaller, connectLoopbackAgent } from '../src/server/testing/loopback-agent.js';
import { uploadFile, type UploadGrant } from '../src/storage/index.js';
import { CaptureStreamParser } from '../src/pcap/index.js';
import { dnsExchange, inTimeOrder, tcpConnection, writeCapture } from '../src/analysis/testing/scenario.js';
import { buildProgram } from '../src/cli/program.js';
import { createTestContext } from '../src/cli/testing/canned-arm-server.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
const WATCHER = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${LOC}`;
const VM_ID = `/subscriptions/${SUB}/resourceGroups/anrg/providers/Microsoft.Compute/virtualMachines/vmana`;

describe('analysis API on a stored capture', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let ws: WebSocket;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-analysis-api-'));
  const inbox: ServerToAgent[] = [];
  const conns = {
    retrans: tcpConnection({
      client: '10.9.0.1',
      clientPort: 40000,
      server: '10.9.0.2',
      serverPort: 9000,
      start: 0,
      segments: 6,
      retransmit: [1, 4],
      duplicateAcks: 2,
    }),
    reset: tcpConnection({
      client: '10.9.0.3',
      clientPort: 40001,
      server: '10.9.0.2',
      serverPort: 9000,
      start: 0.3,
      segments: 1,
      reset: true,
    }),
  };
  const frames = inTimeOrder([
    ...conns.retrans.frames,
    ...conns.reset.frames,
    ...dnsExchange({
      client: '10.9.0.1',
      clientPort: 35000,
      server: '10.9.0.53',
      id: 9,
      name: 'missing.example',
      start: 0.1,
      rcode: 3,
    }),
    ...dnsExchange({
      client: '10.9.0.1',
      clientPort: 35001,
      server: '10.9.0.53',
      id: 10,
      name: 'broken.example',
      start: 0.2,
      rcode: 2,
    }),
  ]);
  const file = writeCapture(frames);
  const filePath = join(dataDir, 'agent-file.cap');
  const sha256 = createHash('sha256').update(file).digest('hex');
  const pc = `${WATCHER}/packetCaptures/anapc`;

  const call = async (method: string, path: string, body?: unknown, token: string | null = server.adminToken) => {
    const res = await fetch(`${server.url}${path}${path.includes('?') ? '&' : '?'}api-version=2025-05-01`, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const json =
      (res.headers.get('content-type') ?? '').includes('json') && bytes.length > 0
        ? (JSON.parse(bytes.toString('utf8')) as Record<string, any>)
        : null;
    return { status: res.status, headers: res.headers, bytes, body: json! };
  };
  const send = (msg: AgentToServer) => ws.send(JSON.stringify(msg));
  const state = (captureUid: string, sequence: number, change: Partial<AgentCaptureState>): AgentCaptureState => ({
    captureUid,
    status: 'NotStarted',
    captureStartTime: null,
    stopReason: null,
    errors: [],
    errorMessage: null,
    packetsCaptured: 0,
    bytesCaptured: 0,
    kernelPacketsDropped: null,
    kernelPacketsReceived: null,
    file: null,
    sequence,
    ...change,
  });
  const waitFor = async <T>(find: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = await find();
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    writeFileSync(filePath, file);
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: LOC,
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    const agent = await connectLoopbackAgent({
      call: apiCaller(() => server),
      serverUrl: server.url,
      vmPath: VM_ID,
      hostname: 'vmana',
      onMessage: (msg) => {
        inbox.push(msg);
        if (msg.type === 'capture.start')
          send({
            type: 'capture.state',
            state: state(msg.order.captureUid, 1, { status: 'Running', captureStartTime: new Date().toISOString() }),
          });
      },
    });
    ws = agent.ws;

    const created = await call('PUT', pc, {
      properties: {
        target: VM_ID,
        storageLocation: {
          storageId: `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal`,
        },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });
  after(async () => {
    ws?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('while the capture runs there is no file to analyse: 409 FileNotAvailable', async () => {
    await waitFor(() => inbox.find((m) => m.type === 'capture.start'), 'the capture order');
    await waitFor(
      async () => (await call('POST', `${pc}/queryStatus`)).body.packetCaptureStatus === 'Running' || undefined,
      'Running',
    );
    const r = await call('GET', `${pc}/analysis`);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'FileNotAvailable');
  });

  test("once stored, the analysis has the file's exact figures, in the published shape", async () => {
    const order = inbox.find(
      (m): m is Extract<ServerToAgent, { type: 'capture.start' }> => m.type === 'capture.start',
    )!.order;
    send({
      type: 'capture.state',
      state: state(order.captureUid, 2, {
        status: 'Stopped',
        stopReason: 'Manual',
        packetsCaptured: frames.length,
        bytesCaptured: file.length,
        kernelPacketsDropped: 7,
        kernelPacketsReceived: 100,
        file: { path: filePath, sizeInBytes: file.length, sha256, stored: false },
      }),
    });
    send({ type: 'upload.request', requestId: 'up1', captureUid: order.captureUid, sizeInBytes: file.length, sha256 });
    const grant = await waitFor(
      () =>
        inbox.find(
          (m): m is Extract<ServerToAgent, { type: 'upload.grant' }> =>
            m.type === 'upload.grant' && m.requestId === 'up1',
        ),
      'the upload grant',
    );
    assert.deepEqual(
      await uploadFile(grant.grant as UploadGrant, filePath, {
        sizeInBytes: file.length,
        sha256,
        retryBudgetInMs: 5_000,
      }),
      { ok: true },
    );
    send({
      type: 'upload.done',
      requestId: 'up1-done',
      captureUid: order.captureUid,
      sizeInBytes: file.length,
      sha256,
    });
    await waitFor(
      () => inbox.find((m) => m.type === 'upload.verified' && m.requestId === 'up1-done'),
      'the upload verification',
    );
    // As an agent does: the verified file is reported stored.
    send({
      type: 'capture.state',
      state: state(order.captureUid, 3, {
        status: 'Stopped',
        stopReason: 'Manual',
        packetsCaptured: frames.length,
        bytesCaptured: file.length,
        kernelPacketsDropped: 7,
        kernelPacketsReceived: 100,
        file: { path: filePath, sizeInBytes: file.length, sha256, stored: true },
      }),
    });
    await waitFor(
      async () => (await call('POST', `${pc}/queryStatus`)).body.instances[0].file?.stored === true || undefined,
      'the file stored',
    );

    const all = await call('GET', `${pc}/analysis`);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const report = analysisReportSchema.parse(all.body);
    assert.deepEqual(report.source, {
      fileName: 'anapc.cap',
      sizeInBytes: file.length,
      sha256,
      format: 'pcap',
      instance: 'vmana',
    });
    assert.equal(report.summary!.packets, frames.length);
    assert.equal(report.summary!.kernelPacketsDropped, 7, 'the drops the capture reported');
    const row = report.conversations!.tcp.rows.find((r) => r.portA === 40000)!;
    assert.deepEqual(
      [row.addressA, row.addressB, row.packetsAToB, row.bytesAToB, row.packetsBToA, row.bytesBToA],
      [
        '10.9.0.1',
        '10.9.0.2',
        conns.retrans.clientFrames,
        conns.retrans.clientBytes,
        conns.retrans.serverFrames,
        conns.retrans.serverBytes,
      ],
    );
    assert.deepEqual([report.tcp!.retransmissions, report.tcp!.duplicateAcks, report.tcp!.resets], [2, 2, 1]);
    assert.deepEqual(report.dns!.responseCodes, { SERVFAIL: 1, NXDOMAIN: 1 });

    const one = await call('GET', `${pc}/analysis?section=conversations&top=1`);
    assert.equal(one.status, 200);
    assert.deepEqual(Object.keys(one.body).sort(), ['conversations', 'source']);
    assert.equal(one.body.conversations.tcp.rows.length, 1);
    assert.equal(one.body.conversations.tcp.totalRows, 2);
    const io = await call('GET', `${pc}/analysis?section=io&interval=0.1`);
    assert.equal(io.body.io.intervalInSeconds, 0.1);
  });

  test('packet list: pages, a display filter, exact match counts, and a filtered download', async () => {
    const page = await call('GET', `${pc}/packets?limit=5&offset=2`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    const parsed = packetListPageSchema.parse(page.body);
    assert.deepEqual(
      parsed.packets.map((p) => p.number),
      [3, 4, 5, 6, 7],
    );
    assert.equal(parsed.totalPackets, frames.length);
    const resets = await call(
      'GET',
      `${pc}/packets?filter=${encodeURIComponent('tcp.flags.reset == 1 || dns.flags.rcode == 3')}`,
    );
    assert.equal(resets.body.matchingPackets, 2);
    assert.deepEqual(resets.body.packets.map((p: { protocol: string }) => p.protocol).sort(), ['dns', 'tcp']);
    // The same page again comes from the cached count (stops after the page) with the same answer.
    const again = await call(
      'GET',
      `${pc}/packets?filter=${encodeURIComponent('tcp.flags.reset == 1 || dns.flags.rcode == 3')}`,
    );
    assert.deepEqual(again.body, resets.body);

    const download = await call('GET', `${pc}/packets/pcap?filter=${encodeURIComponent('ip.addr == 10.9.0.3')}`);
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'application/vnd.tcpdump.pcap');
    let count = 0;
    const parser = new CaptureStreamParser({
      onPacket: () => {
        count++;
      },
    });
    parser.push(download.bytes);
    assert.equal(parser.end(), 0);
    assert.equal(count, conns.reset.frames.length);
  });

  test('bad input is refused with a clear error naming what is wrong', async () => {
    const badFilter = await call(
      'GET',
      `${pc}/packets?filter=${encodeURIComponent('ip.addr == 10.9.0.1 && tcp.prot == 80')}`,
    );
    assert.equal(badFilter.status, 400);
    assert.equal(badFilter.body.error.code, 'InvalidFilter');
    assert.equal(badFilter.body.error.target, 'filter');
    assert.match(badFilter.body.error.message, /column 24: unknown field or protocol 'tcp.prot'/);
    const badPcapFilter = await call('GET', `${pc}/packets/pcap?filter=${encodeURIComponent('ip.addr = 1')}`);
    assert.equal(badPcapFilter.status, 400);
    assert.equal(badPcapFilter.body.error.code, 'InvalidFilter');
    for (const [query, target] of [
      ['section=everything', 'section'],
      ['top=0', 'top'],
      ['interval=-1', 'interval'],
    ] as const) {
      const r = await call('GET', `${pc}/analysis?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.body.error.code, 'InvalidParameter');
      assert.equal(r.body.error.target, target);
    }
    const tooFine = await call('GET', `${pc}/analysis?section=io&interval=0.000001`);
    assert.equal(tooFine.status, 400);
    assert.equal(tooFine.body.error.target, 'interval');
    assert.equal((await call('GET', `${pc}/packets?limit=1001`)).body.error.target, 'limit');
    assert.equal((await call('GET', `${pc}/analysis?instance=nohost`)).body.error.code, 'InvalidParameter');
    assert.equal((await call('GET', `${WATCHER}/packetCaptures/missing/analysis`)).status, 404);
  });

  test('every analysis route needs the bearer token', async () => {
    for (const path of [`${pc}/analysis`, `${pc}/packets`, `${pc}/packets/pcap`]) {
      for (const token of [null, 'wrong']) {
        const r = await call('GET', path, undefined, token);
        assert.equal(r.status, 401, path);
        assert.equal(r.body.error.code, 'AuthenticationFailed');
      }
    }
  });

  test('nw network watcher packet-capture analyze prints the conversations as a table', async () => {
    const ctx = createTestContext(server.url, {
      config: { server: server.url, token: server.adminToken, subscriptionId: SUB },
    });
    await buildProgram(ctx).parseAsync([
      'node',
      'nw',
      'network',
      'watcher',
      'packet-capture',
      'analyze',
      '--name',
      'anapc',
      '--location',
      LOC,
      '--section',
      'conversations',
      '-o',
      'table',
    ]);
    const out = ctx.stdout();
    assert.match(out, /TCP conversations \(2\)/);
    assert.match(
      out,
      new RegExp(
        `10\\.9\\.0\\.1\\s+40000\\s+10\\.9\\.0\\.2\\s+9000\\s+${conns.retrans.clientFrames}\\s+${conns.retrans.clientBytes}`,
      ),
    );
  });
});

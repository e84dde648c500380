/**
 * Seed 002 end to end, built in: two test hosts with agents reporting host metrics; an action
 * group whose webhooks are the alert-capture URL (common alert schema) and a test receiver (the
 * older metric-alert schema); a rule "total TCP Segments Sent > 100 over 5 s, every second" on
 * host A. Traffic from A fires the alert, the endpoint starts a capture on A, the capture
 * completes with A's traffic in storage, the completion notification arrives, and the Resolved
 * notification starts nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodePacket, readPcapBuffer } from '../src/pcap/index.js';
import { Lab, stopProcess, type LabHost } from './lab/lab.js';
import { runFlows, startResponder } from './lab/traffic.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';

/** An HTTP receiver in the test process, on the root end of the lab's link (the server namespace reaches it; nothing else does). */
async function startReceiver(
  address: string,
): Promise<{ server: Server; url: string; received: Array<{ path: string; body: any; at: number }> }> {
  const received: Array<{ path: string; body: any; at: number }> = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(text), at: Date.now() });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, resolve);
  });
  return { server, url: `http://${address}:${(server.address() as AddressInfo).port}`, received };
}

describe('alert → capture, built in (seed 002)', { timeout: 240_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const rg = `alrg${process.pid}`;
  const responders: ChildProcess[] = [];
  const vmaId = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vma`;
  let trafficOn = false;
  let traffic: Promise<void> = Promise.resolve();

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    b = await lab.addHost('b', ['10.0.0.4/24']);
    await lab.startServer();
    await lab.installAgent(a, rg, 'vma');
    await lab.installAgent(b, rg, 'vmb');
    responders.push(await startResponder(b, { tcp: [80], udp: [] }));
    receiver = await startReceiver(lab.rootAddress);
  });
  after(async () => {
    trafficOn = false;
    await traffic.catch(() => undefined);
    receiver?.server.closeAllConnections();
    receiver?.server.close();
    for (const r of responders) await stopProcess(r);
    await lab?.destroy();
  });

  const startTraffic = () => {
    trafficOn = true;
    traffic = (async () => {
      // 30 short TCP conversations A → B:80 per round: well over 100 segments sent by A in 5 s.
      while (trafficOn)
        await runFlows(
          a,
          Array.from({ length: 30 }, () => ({ proto: 'tcp' as const, host: '10.0.0.4', port: 80 })),
        );
    })();
  };
  const waitForPost = async (what: string, pick: (r: { path: string; body: any }) => boolean, timeoutInMs: number) => {
    await lab.waitFor(async () => receiver.received.some(pick), timeoutInMs, what);
    return receiver.received.find(pick)!;
  };

  test('fires on A, captures A, notifies completion; Resolved starts nothing', async () => {
    const endpoint = await lab.nwJson([
      'network',
      'watcher',
      'alert-capture',
      'create',
      '--name',
      'seed002',
      '--capture-name',
      'PSAzureFunction',
      '--time-limit',
      '4',
      '--session-limit',
      '10',
      '--storage-account',
      'nwlocal',
      '--notify-url',
      `${receiver.url}/completed`,
    ]);
    const url = String(endpoint.url);
    assert.match(url, /^http:\/\/10\.0\.0\.1:8817\/alert-capture\/v1\/.+\?code=[A-Za-z0-9_-]{43}$/);
    const shown = await lab.nwJson(['network', 'watcher', 'alert-capture', 'show', '--name', 'seed002']);
    assert.equal(shown.url, undefined, 'the key is shown once, at creation');

    const group = await lab.nwJson([
      'monitor',
      'action-group',
      'create',
      '--name',
      'AG',
      '--resource-group',
      rg,
      '--action',
      'webhook',
      'capture',
      url,
      'usecommonalertschema',
      '--action',
      'webhook',
      'observer',
      `${receiver.url}/alerts`,
    ]);
    assert.equal((group.webhookReceivers as unknown[]).length, 2);
    const rule = await lab.nwJson([
      'monitor',
      'metrics',
      'alert',
      'create',
      '--name',
      'TCP_Segments_Sent_Exceeded',
      '--resource-group',
      rg,
      '--scopes',
      vmaId,
      '--condition',
      'total TCP Segments Sent > 100',
      '--window-size',
      '5s',
      '--evaluation-frequency',
      '1s',
      '--action',
      'AG',
      '--description',
      'TCP segments sent exceeded the threshold',
    ]);
    assert.equal(rule.windowSize, 'PT5S');
    assert.equal(rule.evaluationFrequency, 'PT1S');

    // Quiet hosts (the agents' own reports are a few segments a second) do not fire.
    await sleep(3000);
    assert.equal(receiver.received.length, 0, 'no alert without traffic');

    startTraffic();
    const fired = await waitForPost(
      'the Fired notification',
      (r) => r.path === '/alerts' && r.body.data?.status === 'Activated',
      30_000,
    );
    assert.equal(fired.body.schemaId, 'AzureMonitorMetricAlert');
    assert.equal(fired.body.data.context.resourceId, vmaId);
    assert.equal(fired.body.data.context.name, 'TCP_Segments_Sent_Exceeded');
    assert.ok(fired.body.data.context.condition.allOf[0].metricValue > 100);

    const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];
    let status: Record<string, unknown> = {};
    await lab.waitFor(
      async () => {
        const r = await lab.nw(pc('show-status', '--name', 'PSAzureFunction', '--location', LOC));
        if (r.code !== 0) return false;
        status = JSON.parse(r.stdout);
        return status.packetCaptureStatus === 'Running' || status.packetCaptureStatus === 'Stopped';
      },
      15_000,
      'the alert-triggered capture to run on A',
    );
    const shownCapture = await lab.nwJson(pc('show', '--name', 'PSAzureFunction', '--location', LOC));
    assert.equal(String(shownCapture.target).toLowerCase(), vmaId.toLowerCase());
    assert.equal(shownCapture.timeLimitInSeconds, 4);

    const done = await waitForPost('the completion notification', (r) => r.path === '/completed', 40_000);
    trafficOn = false;
    assert.equal(done.body.schemaId, 'netwatcherAlertCaptureCompleted');
    assert.equal(done.body.data.captureId, shownCapture.id);
    assert.equal(done.body.data.packetCaptureStatus, 'Stopped');
    assert.equal(done.body.data.stopReason, 'TimeExceeded');
    assert.match(String(done.body.data.storagePath), /\/network-watcher-logs\/.+\.cap$/);
    assert.ok(done.body.data.packetsCaptured > 0);
    assert.equal(done.body.data.trigger.schema, 'azureMonitorCommonAlertSchema');

    // The file is in storage and holds A's traffic to B.
    const file = join(lab.workDir, 'alert.cap');
    const dl = await lab.nw(pc('download', '--name', 'PSAzureFunction', '--location', LOC, '--file', file, '--force'));
    assert.equal(dl.code, 0, dl.stderr);
    const pcap = readPcapBuffer(readFileSync(file));
    const packets = pcap.records.map((r) => decodePacket(pcap.header.linkType, r.data));
    assert.ok(
      packets.some(
        (p) =>
          p.protocol === 'TCP' &&
          p.sourceAddress === '10.0.0.3' &&
          p.destinationAddress === '10.0.0.4' &&
          p.destinationPort === 80,
      ),
      'A → B:80 segments are in the file',
    );

    // Traffic stopped: the alert resolves; the endpoint gets Resolved and starts nothing.
    await traffic;
    const resolved = await waitForPost(
      'the Resolved notification',
      (r) => r.path === '/alerts' && r.body.data?.status === 'Resolved',
      30_000,
    );
    assert.equal(resolved.body.data.context.resourceId, vmaId);
    let runs: Array<Record<string, unknown>> = [];
    await lab.waitFor(
      async () => {
        runs = (await lab.nwJson([
          'network',
          'watcher',
          'alert-capture',
          'list-runs',
          '--name',
          'seed002',
        ])) as unknown as Array<Record<string, unknown>>;
        return runs.some((r) => r.state === 'ignored');
      },
      10_000,
      'the endpoint to record the Resolved notification',
    );
    assert.deepEqual(runs.map((r) => r.state).sort(), ['completed', 'ignored']);
    const captures = (await lab.nwJson(pc('list', '--location', LOC))) as unknown as Array<Record<string, unknown>>;
    assert.equal(captures.length, 1);
    assert.equal(captures[0]!.id, shownCapture.id, 'the capture was not replaced');

    // Alert history, metrics and the Prometheus endpoint tell the same story.
    let history: Array<Record<string, any>> = [];
    // Deliveries are recorded when both webhooks of a notification have answered.
    await lab.waitFor(
      async () => {
        history = (await lab.nwJson([
          'monitor',
          'metrics',
          'alert',
          'history',
          '--name',
          'TCP_Segments_Sent_Exceeded',
          '--resource-group',
          rg,
        ])) as unknown as Array<Record<string, any>>;
        return history[0]?.netwatcher.notifications.length === 4;
      },
      15_000,
      'the Resolved deliveries to be recorded',
    );
    assert.equal(history.length, 1);
    assert.equal(history[0]!.monitorCondition, 'Resolved');
    assert.equal(String(history[0]!.targetResource).toLowerCase(), vmaId.toLowerCase());
    assert.equal(history[0]!.netwatcher.notifications.length, 4, 'Fired and Resolved to both webhooks');
    assert.ok(history[0]!.netwatcher.notifications.every((n: { outcome: string }) => n.outcome === 'Succeeded'));
    const metrics = (await lab.nwJson([
      'monitor',
      'metrics',
      'list',
      '--resource',
      vmaId,
      '--metric',
      'TCP Segments Sent',
      '--interval',
      'PT1M',
      '--aggregation',
      'Total',
    ])) as any;
    const total = metrics.value[0].timeseries[0].data.reduce((s: number, d: { total: number }) => s + d.total, 0);
    assert.ok(total > 100, `TCP Segments Sent total ${total}`);
    const prom = await fetch(`${lab.serverUrl}/metrics`, {
      headers: { Authorization: `Bearer ${lab.adminToken}` },
    }).then((r) => r.text());
    assert.match(prom, /nw_alerts_total\{monitor_condition="Fired"\} 1/);
    assert.match(prom, /nw_alert_capture_triggers_total\{outcome="started"\} 1/);
    assert.match(
      prom,
      new RegExp(`nw_host_tcp_segments_sent_total\\{vm="${vmaId.toLowerCase().replace(/[/.]/g, '\\$&')}"\\} \\d+`),
    );
    assert.equal(
      (await fetch(`${lab.serverUrl}/metrics`)).status,
      401,
      "the server's Prometheus endpoint needs the admin token",
    );
    assert.ok(
      !receiver.received.some((r) => r.path === '/alerts' && r.body.data?.context?.resourceName === 'vmb'),
      'nothing fired on B',
    );
    assert.doesNotMatch(lab.serverOutput, new RegExp(url.split('code=')[1]!), 'the key never reaches the log');
  });
});

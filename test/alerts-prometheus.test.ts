/**
 * The alert-capture endpoint driven by real Prometheus and Alertmanager (Debian's `prometheus`
 * and `prometheus-alertmanager`, run from this test with temporary configuration and data in the
 * lab's server namespace): Prometheus scrapes the agents' `/metrics` (node_exporter's names), a
 * rule on A's `rate(node_netstat_Tcp_OutSegs[5s])` fires, Alertmanager posts its webhook
 * to the endpoint, which starts a capture on A; the resolved webhook starts nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePacket, readPcapBuffer } from '../src/pcap/index.js';
import { Lab, stopProcess, type LabHost } from './lab/lab.js';
import { runFlows, startResponder } from './lab/traffic.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
const PROMETHEUS = '/usr/bin/prometheus';
const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const AGENT_METRICS_PORT = 9100;

const missing = [PROMETHEUS, ALERTMANAGER].filter((p) => !existsSync(p));
const required = process.env.CI === 'true';
if (missing.length > 0 && !required)
  console.log(
    `# skipped: ${missing.join(', ')} not installed (Debian packages prometheus, prometheus-alertmanager; test.sh installs them)`,
  );

describe(
  'alert-capture driven by Prometheus and Alertmanager',
  { timeout: 240_000, skip: missing.length > 0 && !required },
  () => {
    let lab: Lab;
    let a: LabHost;
    let b: LabHost;
    const rg = `amrg${process.pid}`;
    const children: ChildProcess[] = [];
    const logs = new Map<string, string>();
    let receiver: Server;
    let receiverUrl = '';
    const completed: any[] = [];
    let trafficOn = false;
    let traffic: Promise<void> = Promise.resolve();

    /** Installs an agent as installAgent does, with its Prometheus listener on the host's lab address. */
    const installAgentWithMetrics = (host: LabHost, vm: string, address: string) =>
      lab.installAgent(host, rg, vm, ['--metrics-listen', `${address}:${AGENT_METRICS_PORT}`]);
    const spawnInServerNs = (name: string, command: string, args: string[]) => {
      const child = lab.srv.spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      logs.set(name, '');
      const keep = (d: Buffer) => logs.set(name, (logs.get(name)! + d.toString()).slice(-20_000));
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      children.push(child);
      return child;
    };

    before(async () => {
      lab = await Lab.create();
      a = await lab.addHost('a', ['10.0.0.3/24']);
      b = await lab.addHost('b', ['10.0.0.4/24']);
      await lab.startServer();
      await installAgentWithMetrics(a, 'vma', '10.0.0.3');
      await installAgentWithMetrics(b, 'vmb', '10.0.0.4');
      children.push(await startResponder(b, { tcp: [80], udp: [] }));
      receiver = createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => {
          text += c.toString();
        });
        req.on('end', () => {
          completed.push(JSON.parse(text));
          res.writeHead(204).end();
        });
      });
      const rootAddress = lab.rootAddress;
      await new Promise<void>((resolve, reject) => {
        receiver.once('error', reject);
        receiver.listen(0, rootAddress, resolve);
      });
      receiverUrl = `http://${rootAddress}:${(receiver.address() as AddressInfo).port}/completed`;
    });
    after(async () => {
      trafficOn = false;
      await traffic.catch(() => undefined);
      receiver?.closeAllConnections();
      receiver?.close();
      for (const c of children) await stopProcess(c);
      await lab?.destroy();
    });

    test("the agent serves node_exporter's host counters and its own", async () => {
      // The first report goes out one interval (1 s) after the agent's first reading: wait for it.
      const scrape = () =>
        a.ns.runNode(
          `fetch('http://10.0.0.3:${AGENT_METRICS_PORT}/metrics').then(async (r) => { console.log(r.status); console.log(await r.text()); })`,
        );
      let r = await scrape();
      for (let i = 0; i < 50 && !/^nw_agent_metric_reports_total\{outcome="sent"\} [1-9]/m.test(r.stdout); i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        r = await scrape();
      }
      assert.match(r.stdout, /^200\n/);
      assert.match(r.stdout, /^node_netstat_Tcp_OutSegs \d+$/m);
      assert.match(r.stdout, /^node_netstat_Udp_InDatagrams \d+$/m);
      assert.match(r.stdout, /^node_network_transmit_bytes_total\{device="[^"]+"\} \d+$/m);
      assert.match(r.stdout, /^nw_agent_connected 1$/m);
      assert.match(
        r.stdout,
        new RegExp(
          `^nw_agent_info\\{vm_id="/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vma",version="[^"]+"\\} 1$`,
          'm',
        ),
      );
      assert.match(r.stdout, /^nw_agent_capture_kernel_packets_dropped 0$/m);
      assert.match(r.stdout, /^nw_agent_metric_reports_total\{outcome="sent"\} [1-9]\d*$/m);
    });

    test('Prometheus → Alertmanager → alert-capture endpoint → capture on A; resolved starts nothing', async () => {
      const endpoint = await lab.nwJson([
        'network',
        'watcher',
        'alert-capture',
        'create',
        '--name',
        'am',
        '--capture-name',
        'am-{vm}',
        '--time-limit',
        '3',
        '--notify-url',
        receiverUrl,
      ]);
      const url = String(endpoint.url);

      const dir = join(lab.workDir, 'prom');
      mkdirSync(join(dir, 'prometheus-data'), { recursive: true });
      mkdirSync(join(dir, 'alertmanager-data'), { recursive: true });
      writeFileSync(
        join(dir, 'rules.yml'),
        [
          'groups:',
          '  - name: netwatcher',
          '    rules:',
          '      - alert: HighTcpOutSegs',
          // B answers A's connections and so sends as much: the rule watches A, as the seed's rule does.
          '        expr: rate(node_netstat_Tcp_OutSegs{vm="vma"}[5s]) > 30',
          '        labels: { severity: warning }',
          '        annotations: { summary: "TCP segments sent rate high on {{ $labels.vm }}" }',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global: { scrape_interval: 1s, evaluation_interval: 1s }',
          'alerting:',
          '  alertmanagers: [ { static_configs: [ { targets: ["127.0.0.1:9093"] } ] } ]',
          'rule_files: [ rules.yml ]',
          'scrape_configs:',
          '  - job_name: netwatcher-agents',
          '    static_configs:',
          `      - { targets: ["10.0.0.3:${AGENT_METRICS_PORT}"], labels: { vm: vma } }`,
          `      - { targets: ["10.0.0.4:${AGENT_METRICS_PORT}"], labels: { vm: vmb } }`,
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'alertmanager.yml'),
        [
          'route:',
          '  receiver: capture',
          '  group_by: [alertname, vm]',
          '  group_wait: 1s',
          '  group_interval: 1s',
          '  repeat_interval: 1h',
          'receivers:',
          '  - name: capture',
          '    webhook_configs:',
          `      - { url: "${url}", send_resolved: true }`,
        ].join('\n'),
      );
      spawnInServerNs('alertmanager', ALERTMANAGER, [
        `--config.file=${join(dir, 'alertmanager.yml')}`,
        `--storage.path=${join(dir, 'alertmanager-data')}`,
        '--web.listen-address=127.0.0.1:9093',
        '--cluster.listen-address=',
        '--log.level=warn',
      ]);
      spawnInServerNs('prometheus', PROMETHEUS, [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
        '--web.listen-address=127.0.0.1:9090',
        '--log.level=warn',
      ]);

      const runs = async () =>
        (await lab.nwJson(['network', 'watcher', 'alert-capture', 'list-runs', '--name', 'am'])) as unknown as Array<
          Record<string, any>
        >;
      trafficOn = true;
      traffic = (async () => {
        while (trafficOn)
          await runFlows(
            a,
            Array.from({ length: 30 }, () => ({ proto: 'tcp' as const, host: '10.0.0.4', port: 80 })),
          );
      })();
      const diagnostics = () => [...logs].map(([n, l]) => `--- ${n} ---\n${l.slice(-3000)}`).join('\n');
      try {
        await lab.waitFor(
          async () => (await runs()).some((r) => r.state === 'running' || r.state === 'completed'),
          60_000,
          'Alertmanager to trigger a capture',
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${diagnostics()}`);
      }
      const started = (await runs()).find((r) => r.state === 'running' || r.state === 'completed')!;
      assert.equal(started.schema, 'AlertmanagerWebhookV4');
      assert.equal(started.hostReference, 'vma');
      assert.equal(started.captureName, 'am-vma');
      assert.equal(started.ruleName, 'HighTcpOutSegs');

      await lab.waitFor(async () => completed.length > 0, 40_000, 'the completion notification');
      trafficOn = false;
      const done = completed[0];
      assert.equal(done.data.packetCaptureStatus, 'Stopped');
      assert.equal(done.data.stopReason, 'TimeExceeded');
      assert.equal(done.data.captureName, 'am-vma');
      const file = join(lab.workDir, 'am.cap');
      const dl = await lab.nw([
        'network',
        'watcher',
        'packet-capture',
        'download',
        '--name',
        'am-vma',
        '--location',
        LOC,
        '--file',
        file,
        '--force',
      ]);
      assert.equal(dl.code, 0, dl.stderr);
      const pcap = readPcapBuffer(readFileSync(file));
      assert.ok(
        pcap.records
          .map((r) => decodePacket(pcap.header.linkType, r.data))
          .some((p) => p.sourceAddress === '10.0.0.3' && p.destinationPort === 80),
        "A's traffic is in the file",
      );

      await traffic;
      try {
        await lab.waitFor(
          async () => (await runs()).some((r) => r.state === 'ignored' && r.schema === 'AlertmanagerWebhookV4'),
          60_000,
          'the resolved webhook',
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${diagnostics()}`);
      }
      const all = await runs();
      assert.equal(
        all.filter((r) => r.state === 'running' || r.state === 'completed').length,
        1,
        'one capture, however often Alertmanager posted',
      );
      assert.ok(
        all.every((r) => r.hostReference === 'vma'),
        'only A was alerted on',
      );
      const captures = (await lab.nwJson([
        'network',
        'watcher',
        'packet-capture',
        'list',
        '--location',
        LOC,
      ])) as unknown as unknown[];
      assert.equal(captures.length, 1);
    });
  },
);

/**
 * Look-back through the real server, agent and tcpdump (issue 13 §2): a host's buffer is turned on
 * with `nw vm lookback enable`; sequence-numbered UDP traffic runs; a capture created with
 * `--lookback 10` holds the datagrams from 10 s before its creation, then the live ones, with no
 * datagram lost or repeated at the seam, and only those its filter keeps; a capture asking more
 * than the buffer holds says how far back it really reaches; an alert-triggered capture with
 * look-back holds packets stamped before the alert fired; `disable` deletes the buffer on the host
 * and a capture asking for the past is then refused, naming the property.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readPcapBuffer } from '../src/pcap/index.js';
import { Lab, type LabHost } from './lab/lab.js';
import { sequencedDatagramsOf, sequencedUdp } from './lab/traffic.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
const PORT_KEPT = 9731;
const PORT_OTHER = 9732;
const fixture = (name: string): string =>
  readFileSync(new URL(`../src/alerts/fixtures/${name}.json`, import.meta.url), 'utf8');

describe('look-back: a rolling buffer on the host', { timeout: 180_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let dataDir = '';
  let traffic: Promise<unknown> = Promise.resolve();
  const files: string[] = [];
  const uniqueFile = (name: string) => {
    const f = `/var/captures/nwtest-lookback-${process.pid}-${name}.cap`;
    files.push(f);
    return f;
  };
  const statusOf = async (name: string) => {
    const r = await lab.api(
      'POST',
      `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${LOC}/packetCaptures/${name}/queryStatus?api-version=2022-01-01`,
    );
    return r.body as Record<string, any>;
  };
  const waitStopped = async (name: string) => {
    await lab.waitFor(
      async () => (await statusOf(name)).packetCaptureStatus === 'Stopped',
      30_000,
      `capture ${name} to stop`,
    );
    return statusOf(name);
  };
  const datagramsIn = (path: string) => sequencedDatagramsOf(readPcapBuffer(readFileSync(path)).records);

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    b = await lab.addHost('b', ['10.0.0.4/24']);
    await lab.startServer();
    // The alert fixtures name vm1 in rg1; the agent's data folder is this lab's own.
    const ext = await lab.nwJson([
      'vm',
      'extension',
      'set',
      '--resource-group',
      'rg1',
      '--vm-name',
      'vm1',
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '--name',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);
    const argv = String(ext.installCommand).split(/\s+/).filter(Boolean);
    dataDir = join(lab.workDir, 'agent-vm1');
    argv[argv.indexOf('--data-dir') + 1] = dataDir;
    lab.startAgentProcess(a, argv);
    await lab.waitForAgent('rg1', 'vm1');
  });
  after(async () => {
    await traffic.catch(() => undefined);
    await lab?.destroy();
    for (const f of files) rmSync(f, { force: true });
  });

  test('enable, capture with --lookback 10: the 10 s before creation, then live, no gap or duplicate at the seam, filters applied', async () => {
    const enabled = await lab.nwJson([
      'vm',
      'lookback',
      'enable',
      '-g',
      'rg1',
      '--vm-name',
      'vm1',
      '--seconds',
      '20',
      '--max-size',
      '64MiB',
    ]);
    assert.equal((enabled.properties as Record<string, unknown>).enabled, true);
    assert.equal((enabled.properties as Record<string, unknown>).maxSizeInBytes, 64 * 1024 * 1024);
    await lab.waitFor(
      async () => {
        const shown = await lab.nwJson(['vm', 'lookback', 'show', '-g', 'rg1', '--vm-name', 'vm1']);
        return (shown.properties as { status?: { running?: boolean } }).status?.running === true;
      },
      20_000,
      'the buffer to run on the host',
    );
    // 50 datagrams/s to the port the captures keep, and as many to another port.
    traffic = Promise.all([
      sequencedUdp(b, '10.0.0.3', PORT_KEPT, 20, 40_000),
      sequencedUdp(b, '10.0.0.3', PORT_OTHER, 20, 40_000),
    ]);
    await sleep(12_000);

    const file = uniqueFile('ten');
    const before = Date.now();
    await lab.nwJson([
      'network',
      'watcher',
      'packet-capture',
      'create',
      '-g',
      'rg1',
      '--vm',
      'vm1',
      '-n',
      'lbten',
      '--file-path',
      file,
      '--time-limit',
      '4',
      '--lookback',
      '10',
      '--filters',
      JSON.stringify([{ protocol: 'UDP', localPort: String(PORT_KEPT) }]),
    ]);
    const status = await waitStopped('lbten');
    const requested = Date.parse(status.lookbackRequestedStartTime);
    assert.ok(requested >= before - 10_000 - 50 && requested <= Date.now() - 10_000, 'asked for 10 s before creation');
    assert.equal(
      status.lookbackStartTime,
      status.lookbackRequestedStartTime,
      `the buffer held all 10 s: ${status.lookbackReason}`,
    );
    assert.equal(status.lookbackReason, null);
    const got = datagramsIn(file);
    assert.ok(
      got.every((d) => d.port === PORT_KEPT),
      'the filter applies to buffered packets too',
    );
    for (let i = 1; i < got.length; i++)
      assert.equal(got[i]!.seq, got[i - 1]!.seq + 1, `no gap or duplicate (at ${i} of ${got.length})`);
    const first = got[0]!.timeInMs;
    assert.ok(
      first >= requested && first <= requested + 100,
      `the file begins ${(Date.parse(status.captureStartTime) - first) / 1000} s before the live start, at the requested instant`,
    );
    const instance = status.instances[0];
    const lastBuffered = got[instance.lookbackPacketsCaptured - 1]!;
    assert.ok(
      lastBuffered.timeInMs - first >= 9_500,
      `the buffered part spans the 10 s up to the live start (${(lastBuffered.timeInMs - first) / 1000} s, ${instance.lookbackPacketsCaptured} datagrams)`,
    );
    assert.ok(got[got.length - 1]!.timeInMs - lastBuffered.timeInMs >= 3_000, 'then about 4 s of live datagrams');
    assert.equal(readPcapBuffer(readFileSync(file)).records.length, instance.packetsCaptured);
  });

  test('a capture asking more than the buffer holds: lookbackStartTime says how far back it really reaches', async () => {
    const file = uniqueFile('sixty');
    await lab.nwJson([
      'network',
      'watcher',
      'packet-capture',
      'create',
      '-g',
      'rg1',
      '--vm',
      'vm1',
      '-n',
      'lbsixty',
      '--file-path',
      file,
      '--time-limit',
      '2',
      '--lookback',
      '60',
      '--filters',
      JSON.stringify([{ protocol: 'UDP', localPort: String(PORT_KEPT) }]),
    ]);
    const status = await waitStopped('lbsixty');
    const requested = Date.parse(status.lookbackRequestedStartTime);
    const reached = Date.parse(status.lookbackStartTime);
    assert.ok(
      reached - requested >= 35_000,
      `the buffer keeps 20 s, not 60 (reached ${(reached - requested) / 1000} s later than asked)`,
    );
    assert.match(String(status.lookbackReason), /held .* of the 60 s asked/);
    const got = datagramsIn(file);
    assert.ok(got[0]!.timeInMs >= reached - 1, 'nothing older than lookbackStartTime');
    for (let i = 1; i < got.length; i++) assert.equal(got[i]!.seq, got[i - 1]!.seq + 1, 'no gap or duplicate');
  });

  test('an alert-triggered capture with look-back holds packets stamped before the alert fired', async () => {
    const endpoint = await lab.nwJson([
      'network',
      'watcher',
      'alert-capture',
      'create',
      '--name',
      'onset',
      '--capture-name',
      'lbalert',
      '--time-limit',
      '2',
      '--lookback',
      '8',
      '--file-path',
      uniqueFile('alert'),
      '--filters',
      JSON.stringify([{ protocol: 'UDP', localPort: String(PORT_KEPT) }]),
    ]);
    const url = String(endpoint.url).replace('http://10.0.0.1:8817', lab.serverUrl);
    const firedAt = Date.now();
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: fixture('azure-common-alert-schema.fired'),
    });
    const body = (await res.json()) as { alerts: Array<{ outcome: string }> };
    assert.equal(res.status, 202, JSON.stringify(body));
    assert.equal(body.alerts[0]!.outcome, 'started');
    const status = await waitStopped('lbalert');
    const got = datagramsIn(files[files.length - 1]!);
    assert.ok(got.length > 0, JSON.stringify(status));
    assert.ok(
      got[0]!.timeInMs <= firedAt - 7_000,
      `the first packet is ${(firedAt - got[0]!.timeInMs) / 1000} s before the alert fired`,
    );
    // Counted back from the capture's creation, a moment after the alert reached the endpoint.
    assert.ok(
      Date.parse(status.lookbackStartTime) <= firedAt - 7_000,
      `lookbackStartTime ${status.lookbackStartTime}, fired ${new Date(firedAt).toISOString()}`,
    );
  });

  test('disable deletes the buffer on the host; a capture asking for the past is then refused, naming the property', async () => {
    assert.ok(readdirSync(join(dataDir, 'lookback')).length > 0, "the buffer lives under the agent's data folder");
    const disabled = await lab.nwJson(['vm', 'lookback', 'disable', '-g', 'rg1', '--vm-name', 'vm1']);
    assert.equal((disabled.properties as Record<string, unknown>).enabled, false);
    await lab.waitFor(
      async () => !existsSync(join(dataDir, 'lookback')),
      10_000,
      'the buffer to be deleted on the host',
    );
    const refused = await lab.nw([
      'network',
      'watcher',
      'packet-capture',
      'create',
      '-g',
      'rg1',
      '--vm',
      'vm1',
      '-n',
      'lbnone',
      '--file-path',
      uniqueFile('none'),
      '--time-limit',
      '2',
      '--lookback',
      '5',
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /lookbackInSeconds/);
    assert.match(refused.stderr, /nw vm lookback enable/);
    const gone = await lab.api(
      'GET',
      `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${LOC}/packetCaptures/lbnone?api-version=2022-01-01`,
    );
    assert.equal(gone.status, 404, 'the refused request changed nothing');
    const bad = await lab.nw([
      'vm',
      'lookback',
      'enable',
      '-g',
      'rg1',
      '--vm-name',
      'vm1',
      '--seconds',
      '20',
      '--max-size',
      '1MiB',
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /maxSizeInBytes/);
  });
});

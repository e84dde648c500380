/**
 * Fleet capture end to end (issue 14): three test hosts join one scale set with a join key, as a
 * cloud-init would (`nw agent --join-key`); one capture with `--include 0 2` under traffic on all
 * three holds, per instance, exactly that host's matching packets, in Azure's scale-set blob
 * layout; instance 1 runs nothing; the merged download holds both hosts' packets in time order,
 * each host named; stop and delete reach both. An instance that is offline when a
 * capture starts is reported as such and does not block the others.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodePacket, readPcapBuffer } from '../src/pcap/index.js';
import { Lab, runCommand, stopProcess, type LabAgent, type LabHost } from './lab/lab.js';
import { runFlows, startResponder } from './lab/traffic.js';

const LOC = 'westcentralus';
const SUB = '00000000-0000-0000-0000-000000000000';

describe('a capture across a scale set of hosts that joined with a join key', { timeout: 180_000 }, () => {
  let lab: Lab;
  const rg = `fleetrg${process.pid}`;
  const hosts: LabHost[] = [];
  const agents: LabAgent[] = [];
  const dataDirs: string[] = [];
  let joinKey = '';
  let responder: ChildProcess | null = null;
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];
  const instances = async () =>
    (
      await lab.api(
        'GET',
        `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines`,
      )
    ).body as {
      value: Array<{
        instanceId: string;
        properties: { osProfile: { computerName: string }; netwatcher: { agentConnected: boolean } };
      }>;
    };
  const connected = async (instanceId: string) =>
    (await instances()).value.find((i) => i.instanceId === instanceId)?.properties.netwatcher.agentConnected === true;
  const startJoiningAgent = (i: number) =>
    lab.startAgentProcess(hosts[i]!, [
      'nw',
      'agent',
      '--server',
      lab.agentServerUrl,
      '--join-key',
      joinKey,
      '--vm-name',
      `host${i}`,
      '--data-dir',
      dataDirs[i]!,
    ]);
  const status = async (name: string) =>
    lab.nwJson<
      Record<string, unknown> & {
        packetCaptureStatus: string;
        additionalProperties: { instances: Array<Record<string, unknown>> };
      }
    >(pc('show-status', '--name', name, '--location', LOC));

  before(async () => {
    lab = await Lab.create();
    for (let i = 0; i < 3; i++) {
      hosts.push(await lab.addHost(`f${i}`, [`10.0.0.${3 + i}/24`]));
      dataDirs.push(join(lab.workDir, `agent${i}`));
    }
    const peer = await lab.addHost('fr', ['10.0.0.9/24']);
    responder = await startResponder(peer, { tcp: [], udp: [7000, 7001] });
    await lab.startServer();
  });
  after(async () => {
    await stopProcess(responder);
    await lab?.destroy();
  });

  test('three hosts join the scale set in order with one join key; a fourth join past max uses is refused', async () => {
    await lab.nwJson(['vmss', 'create', '-g', rg, '-n', 'web']);
    const key = await lab.nwJson<{ joinKey: string; id: string }>([
      'vm',
      'join-key',
      'create',
      '-g',
      rg,
      '--vmss',
      'web',
      '--max-uses',
      '3',
      '--expires-in',
      '1h',
    ]);
    joinKey = key.joinKey;
    assert.match(joinKey, /^nwj_/);
    for (let i = 0; i < 3; i++) {
      agents.push(startJoiningAgent(i));
      // One after the other, so the instance ids follow the join order.
      await lab.waitFor(() => connected(String(i)), 30_000, `instance ${i} to join and connect`);
    }
    const list = await lab.nwJson<Array<{ instanceId: string; osProfile: { computerName: string } }>>([
      'vmss',
      'list-instances',
      '-g',
      rg,
      '-n',
      'web',
    ]);
    assert.deepEqual(
      list.map((i) => [i.instanceId, i.osProfile.computerName]),
      [
        ['0', 'host0'],
        ['1', 'host1'],
        ['2', 'host2'],
      ],
    );
    const keys = await lab.nwJson<Array<{ id: string; uses: number; state: string }>>([
      'vm',
      'join-key',
      'list',
      '-g',
      rg,
    ]);
    assert.deepEqual(
      keys.map((k) => [k.id, k.uses, k.state]),
      [[key.id, 3, 'UsedUp']],
    );
    assert.equal(JSON.stringify(keys).includes(joinKey), false, 'the key is never listed');
    assert.equal(lab.serverOutput.includes(joinKey), false, 'the key is never logged');
    const extra = await lab.nw(
      [
        'agent',
        '--server',
        lab.serverUrl,
        '--join-key',
        joinKey,
        '--vm-name',
        'host3',
        '--data-dir',
        join(lab.workDir, 'agent3'),
      ],
      { timeoutInMs: 20_000 },
    );
    assert.notEqual(extra.code, 0);
    assert.match(extra.stderr, /maxUses 3/);
  });

  test('--include 0 2: each instance holds exactly its own matching packets, in the scale-set blob layout; instance 1 runs nothing; stop and delete reach both', async () => {
    const created = await lab.nwJson<Record<string, unknown>>(
      pc(
        'create',
        '-g',
        rg,
        '--target',
        'web',
        '--target-type',
        'AzureVMSS',
        '--include',
        '0',
        '2',
        '-n',
        'fleetpc',
        '--storage-account',
        'nwlocal',
        '--filters',
        '[{"protocol":"UDP","remotePort":"7000"}]',
      ),
    );
    assert.equal(created.targetType, 'AzureVMSS');
    assert.match(String(created.target), /virtualMachineScaleSets\/web$/);
    let s = await status('fleetpc');
    assert.equal(s.packetCaptureStatus, 'Running');
    assert.deepEqual(
      s.additionalProperties.instances.map((i) => [i.instanceId, i.packetCaptureStatus]),
      [
        ['0', 'Running'],
        ['2', 'Running'],
      ],
    );

    // Traffic on all three hosts: 5 matching exchanges (UDP 7000) and 3 that must not be kept (UDP 7001) each.
    await Promise.all(
      hosts.map((h) =>
        runFlows(h, [
          ...Array.from({ length: 5 }, () => ({ proto: 'udp' as const, host: '10.0.0.9', port: 7000 })),
          ...Array.from({ length: 3 }, () => ({ proto: 'udp' as const, host: '10.0.0.9', port: 7001 })),
        ]),
      ),
    );
    await lab.waitFor(
      async () =>
        (await status('fleetpc')).additionalProperties.instances.every((i) => Number(i.packetsCaptured) >= 10),
      20_000,
      'both instances to count their packets',
    );
    assert.equal((await lab.nw(pc('stop', '--name', 'fleetpc', '--location', LOC))).code, 0);
    s = await status('fleetpc');
    assert.equal(s.packetCaptureStatus, 'Stopped');
    assert.deepEqual(
      s.additionalProperties.instances.map((i) => [i.instanceId, i.packetCaptureStatus, i.stopReason]),
      [
        ['0', 'Stopped', 'Manual'],
        ['2', 'Stopped', 'Manual'],
      ],
    );
    for (const i of s.additionalProperties.instances) {
      assert.match(
        String(i.storagePath),
        new RegExp(
          `/providers/microsoft\\.compute/virtualmachinescalesets/web/virtualMachines/${String(i.instanceId)}/\\d{4}/\\d{2}/\\d{2}/packetcapture_[\\d_]+\\.cap$`,
        ),
      );
    }

    for (const [instance, address] of [
      ['0', '10.0.0.3'],
      ['2', '10.0.0.5'],
    ] as const) {
      const out = join(lab.workDir, `fleet-${instance}.cap`);
      await lab.waitFor(
        async () =>
          (
            await lab.nw(
              pc('download', '--name', 'fleetpc', '--location', LOC, '--instance', instance, '--file', out, '--force'),
            )
          ).code === 0,
        30_000,
        `instance ${instance}'s file to be stored`,
      );
      const file = readPcapBuffer(readFileSync(out));
      const packets = file.records.map((r) => decodePacket(file.header.linkType, r.data));
      assert.equal(packets.length, 10, `instance ${instance}: 5 requests and 5 answers`);
      for (const p of packets) {
        assert.equal(p.protocol, 'UDP');
        assert.ok(
          [p.sourceAddress, p.destinationAddress].includes(address),
          `instance ${instance} holds a packet of another host: ${p.sourceAddress} → ${p.destinationAddress}`,
        );
        assert.ok(p.sourcePort === 7000 || p.destinationPort === 7000);
      }
    }
    const none = await lab.nw(
      pc(
        'download',
        '--name',
        'fleetpc',
        '--location',
        LOC,
        '--instance',
        '1',
        '--file',
        join(lab.workDir, 'fleet-1.cap'),
        '--force',
      ),
    );
    assert.notEqual(none.code, 0, 'instance 1 has no capture');
    assert.match(none.stderr, /no host '1'/);
    // Instance 1's agent never heard of it.
    const bookkeeping = (dir: string) =>
      existsSync(join(dir, 'captures'))
        ? readdirSync(join(dir, 'captures'))
            .map((f) => readFileSync(join(dir, 'captures', f), 'utf8'))
            .filter((t) => t.includes('"fleetpc"'))
        : [];
    assert.equal(bookkeeping(dataDirs[1]!).length, 0);
    assert.ok(bookkeeping(dataDirs[0]!).length > 0 && bookkeeping(dataDirs[2]!).length > 0, 'both instances ran it');

    // One merged file: both hosts' packets in time order, each host its own named interface.
    const all = join(lab.workDir, 'fleet-all.pcapng');
    const merged = await lab.nw(
      pc('download', '--name', 'fleetpc', '--location', LOC, '--merge', '--file', all, '--force'),
    );
    assert.equal(merged.code, 0, merged.stderr);
    const rows = (
      await runCommand('tshark', [
        '-r',
        all,
        '-T',
        'fields',
        '-e',
        'frame.interface_name',
        '-e',
        'frame.time_epoch',
        '-e',
        'ip.src',
        '-e',
        'ip.dst',
      ])
    ).stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    assert.equal(rows.length, 20, "both hosts' packets");
    const times = rows.map((r) => Number(r[1]));
    assert.deepEqual(
      times,
      [...times].sort((x, y) => x - y),
      'in time order',
    );
    for (const [iface, , src, dst] of rows)
      assert.ok(
        (iface === 'host0' && [src, dst].includes('10.0.0.3')) ||
          (iface === 'host2' && [src, dst].includes('10.0.0.5')),
        `${iface}: ${src} → ${dst}`,
      );
    assert.match(
      (await runCommand('capinfos', ['-k', all])).stdout,
      /port 7000|7000/,
      'the filter is in the section comment',
    );
    const classic = join(lab.workDir, 'fleet-all.pcap');
    assert.equal(
      (
        await lab.nw(
          pc(
            'download',
            '--name',
            'fleetpc',
            '--location',
            LOC,
            '--merge',
            '--format',
            'pcap',
            '--file',
            classic,
            '--force',
          ),
        )
      ).code,
      0,
    );
    const classicInfo = (await runCommand('capinfos', ['-c', '-t', classic])).stdout;
    assert.match(classicInfo, /File type:.*nanosecond pcap/);
    assert.match(classicInfo, /Number of packets:\s+20\b/);

    assert.equal((await lab.nw(pc('delete', '--name', 'fleetpc', '--location', LOC))).code, 0);
    assert.notEqual((await lab.nw(pc('show', '--name', 'fleetpc', '--location', LOC))).code, 0);
    // The forget reached both hosts: their bookkeeping of the capture is gone.
    await lab.waitFor(
      async () => bookkeeping(dataDirs[0]!).length === 0 && bookkeeping(dataDirs[2]!).length === 0,
      10_000,
      'both agents to forget the capture',
    );
  });

  test('an instance offline when a capture starts is reported as such and does not block the others', async () => {
    await stopProcess(agents[1]!);
    await lab.waitFor(async () => !(await connected('1')), 15_000, 'instance 1 to disconnect');
    await lab.nwJson(
      pc(
        'create',
        '-g',
        rg,
        '--target',
        'web',
        '--target-type',
        'AzureVMSS',
        '-n',
        'withoffline',
        '--storage-account',
        'nwlocal',
        '--time-limit',
        '60',
      ),
    );
    const s = await status('withoffline');
    assert.equal(s.packetCaptureStatus, 'Running', JSON.stringify(s));
    const byId = new Map(s.additionalProperties.instances.map((i) => [String(i.instanceId), i]));
    assert.equal(byId.get('0')!.packetCaptureStatus, 'Running');
    assert.equal(byId.get('2')!.packetCaptureStatus, 'Running');
    assert.equal(byId.get('1')!.packetCaptureStatus, 'Error');
    assert.match(String(byId.get('1')!.errorMessage), /AgentNotConnected.*instance 1/);
    // It comes back: it is not given the capture late, and the capture still stops and goes.
    agents[1] = startJoiningAgent(1);
    await lab.waitFor(() => connected('1'), 20_000, 'instance 1 to reconnect with its saved credential');
    await sleep(500);
    assert.equal(
      (await status('withoffline')).additionalProperties.instances.find((i) => i.instanceId === '1')!
        .packetCaptureStatus,
      'Error',
    );
    assert.equal((await lab.nw(pc('stop', '--name', 'withoffline', '--location', LOC))).code, 0);
    assert.equal((await status('withoffline')).packetCaptureStatus, 'Stopped');
    assert.equal((await lab.nw(pc('delete', '--name', 'withoffline', '--location', LOC))).code, 0);
  });
});

// The whole product as a contestant: `nw server` and an agent installed by its install command on
// the capture host, captures created, stopped and read back through the `nw` CLI — what a user
// runs, not just the engine inside it.
import type { ChildProcess } from 'node:child_process';
import { readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NW_BIN } from '../../test/lab/lab.js';
import { idleCpuRate } from './capturers.js';
import type { TrialResult } from './capturers.js';
import { countPcapRecords } from './count-records.js';
import { findTcpdumpPid, processCpuSeconds } from './cpu.js';
import type { FidelityLab, Load } from './lab.js';

const PORT = 18_817;
const RG = 'benchrg';
const VM = 'benchvm';
const LOCATION = 'bench';

/** A server and an agent running on the capture host, and the CLI pointed at them. */
export interface Product {
  nw(args: string[]): Promise<string>;
  close(): Promise<void>;
  /** Pid of `nw server` (`ip netns exec` execs it in place). */
  serverPid: number | null;
  /** Pid of the agent. */
  agentPid: number | null;
  /** The storage account each capture also goes to (--product-storage), or null: the host file only. */
  storageAccount: string | null;
  /** The agent's data folder (its saved capture records, `captures/{uid}.json`). */
  agentDataDir: string;
}

/** The agent's saved record of the capture named `name` (src/agent/capture-records.ts), if it has one. */
async function agentRecordOf(
  agentDataDir: string,
  name: string,
): Promise<{ state: { file: { stored: boolean } | null; errorMessage: string | null } } | null> {
  const folder = join(agentDataDir, 'captures');
  for (const entry of await readdir(folder).catch(() => [] as string[])) {
    if (!entry.endsWith('.json')) continue;
    const record = JSON.parse(await readFile(join(folder, entry), 'utf8').catch(() => 'null')) as {
      order: { captureName: string };
      state: { file: { stored: boolean } | null; errorMessage: string | null };
    } | null;
    if (record?.order.captureName === name) return record;
  }
  return null;
}

/** Options of {@link startProduct}. */
export interface ProductOptions {
  /** 'local': register a local storage account (nw up's default kind) and store every capture there. */
  storage: 'local' | null;
}

const STORAGE_ACCOUNT = 'benchstore';
// A 1.5 GB capture's upload and verify on a loaded 2-core machine: a minute is plenty, five is a hang.
const STORED_TIMEOUT_IN_MS = 300_000;

/** Starts `nw server` on the capture host (loopback), installs the agent there on the capture interface. */
export async function startProduct(
  lab: FidelityLab,
  dir: string,
  opts: ProductOptions = { storage: null },
): Promise<Product> {
  const dataDir = join(dir, 'nw-server');
  const config = join(dir, 'nw-cli.json');
  const processes: ChildProcess[] = [];
  const nw = async (args: string[]): Promise<string> => {
    const r = await lab.server.exec('env', [`NW_CONFIG=${config}`, process.execPath, NW_BIN, ...args], {
      timeoutInMs: 120_000,
    });
    if (r.exitCode !== 0) throw new Error(`nw ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const close = async (): Promise<void> => {
    for (const p of processes.reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000).then(() => p.kill('SIGKILL'))]);
    }
  };
  try {
    await lab.server.exec('ip', ['link', 'set', 'lo', 'up']);
    processes.push(
      lab.server.spawn(
        process.execPath,
        [
          NW_BIN,
          'server',
          '--listen',
          `127.0.0.1:${PORT}`,
          '--data-dir',
          dataDir,
          '--location',
          LOCATION,
          '--log-level',
          'warn',
        ],
        { stdio: 'ignore' },
      ),
    );
    for (let i = 0; ; i++) {
      const token = await readFile(join(dataDir, 'admin-token'), 'utf8').catch(() => '');
      if (token) {
        await writeFile(
          config,
          JSON.stringify({
            server: `http://127.0.0.1:${PORT}`,
            token: token.trim(),
            subscriptionId: '00000000-0000-0000-0000-000000000000',
          }),
        );
        if (
          await nw(['storage', 'account', 'list']).then(
            () => true,
            () => false,
          )
        )
          break;
      }
      if (i > 1200) throw new Error('nw server did not start'); // 2 min: a shared, loaded machine
      await sleep(100);
    }
    const extension = JSON.parse(
      await nw([
        'vm',
        'extension',
        'set',
        '--resource-group',
        RG,
        '--vm-name',
        VM,
        '--publisher',
        'Microsoft.Azure.NetworkWatcher',
        '--name',
        'NetworkWatcherAgentLinux',
        '--version',
        '1.4',
      ]),
    ) as { installCommand: string };
    const argv = extension.installCommand.split(/\s+/).slice(1);
    const agentDataDir = join(dir, 'nw-agent');
    argv[argv.indexOf('--data-dir') + 1] = agentDataDir;
    processes.push(
      lab.server.spawn(process.execPath, [NW_BIN, ...argv, '--interface', lab.serverInterface], { stdio: 'ignore' }),
    );
    const [serverProcess, agentProcess] = processes;
    for (
      let i = 0;
      !/"agentConnected":\s*true/.test(await nw(['vm', 'show', '--resource-group', RG, '--name', VM]));
      i++
    ) {
      if (i > 1200) throw new Error('the agent did not connect');
      await sleep(100);
    }
    if (opts.storage === 'local')
      await nw(['storage', 'account', 'create', '--name', STORAGE_ACCOUNT, '--resource-group', RG, '--kind', 'local']);
    return {
      nw,
      close,
      serverPid: serverProcess?.pid ?? null,
      agentPid: agentProcess?.pid ?? null,
      storageAccount: opts.storage === null ? null : STORAGE_ACCOUNT,
      agentDataDir,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** One trial through the product: create (returns once tcpdump runs on the host), load, stop, read the host file. */
export async function runProductTrial(
  product: Product,
  load: Load,
  snapLengthInBytes: number,
  durationInSeconds: number,
  lab: FidelityLab,
  byteBudget: number,
): Promise<Omit<TrialResult, 'repetition'>> {
  const name = `fid-${load.name}-${snapLengthInBytes}-${Date.now()}`;
  const filePath = `/var/captures/nw-bench-${process.pid}-${name}.cap`;
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];
  try {
    const idleRate = product.agentPid === null ? null : await idleCpuRate(() => processCpuSeconds(product.agentPid!));
    await product.nw(
      pc(
        'create',
        '--resource-group',
        RG,
        '--vm',
        VM,
        '--name',
        name,
        ...(product.storageAccount !== null ? ['--storage-account', product.storageAccount] : []),
        '--file-path',
        filePath,
        '--capture-size',
        String(snapLengthInBytes),
        '--capture-limit',
        String(byteBudget),
        '--time-limit',
        '0',
      ),
    );
    const cpuOf = async (pid: number | null): Promise<number | null> =>
      pid === null ? null : await processCpuSeconds(pid);
    const tcpdumpPid = await findTcpdumpPid(lab.serverInterface);
    const atStart = await Promise.all([cpuOf(tcpdumpPid), cpuOf(product.agentPid), cpuOf(product.serverPid)]);
    const windowStarted = Date.now();
    const loadResult = await lab.runLoad(load, durationInSeconds);
    const atEnd = await Promise.all([cpuOf(tcpdumpPid), cpuOf(product.agentPid), cpuOf(product.serverPid)]);
    const windowInSeconds = (Date.now() - windowStarted) / 1000;
    const delta = (i: number): number | null =>
      atStart[i] == null || atEnd[i] == null ? null : atEnd[i]! - atStart[i]!;
    const stopStarted = Date.now();
    // A capture that reached its byte budget has stopped itself; the stop then has nothing to do.
    await product.nw(pc('stop', '--name', name, '--location', LOCATION)).catch((error: unknown) => error);
    const stopInMs = Date.now() - stopStarted;
    const agentAfterStop = await cpuOf(product.agentPid);
    const status = JSON.parse(await product.nw(pc('show-status', '--name', name, '--location', LOCATION))) as {
      packetCaptureStatus: string;
      stopReason: string;
      additionalProperties: {
        instances: Array<{
          kernelPacketsReceived: number | null;
          kernelPacketsDropped: number | null;
          packetsCaptured: number;
          file: { sizeInBytes: number } | null;
        }>;
      };
    };
    const instance = status.additionalProperties.instances[0]!;
    if (
      status.packetCaptureStatus !== 'Stopped' ||
      (status.stopReason !== 'Manual' && status.stopReason !== 'SizeExceeded')
    )
      throw new Error(`capture ended ${status.packetCaptureStatus}/${status.stopReason}`);
    // With a storage account: the agent uploads once the file is complete and the server verifies
    // the stored copy; the CPU of both from the complete file to `stored` is the storing's.
    let store: { agent: number | null; server: number | null; seconds: number } | null = null;
    if (product.storageAccount !== null && (instance.file?.sizeInBytes ?? 0) > 0) {
      const storeStarted = Date.now();
      // The server from the end of the load: its receiving may start before the stop's answer is
      // read here; the stop and status requests it also answers in that time cost it a few ms.
      const serverAtStop = atEnd[2] ?? null;
      // Watched in the agent's own saved record, not with `show-status`: each status request
      // costs the server tens of ms (CLI auth, the database), which would count as storing.
      for (;;) {
        const saved = await agentRecordOf(product.agentDataDir, name);
        if (saved?.state.file?.stored === true) break;
        if (Date.now() - storeStarted > STORED_TIMEOUT_IN_MS)
          throw new Error(
            `the capture was not stored within ${STORED_TIMEOUT_IN_MS} ms: ${saved?.state.errorMessage ?? ''}`,
          );
        await sleep(100);
      }
      const [agentStored, serverStored] = await Promise.all([cpuOf(product.agentPid), cpuOf(product.serverPid)]);
      store = {
        agent: agentStored === null || agentAfterStop === null ? null : agentStored - agentAfterStop,
        server: serverStored === null || serverAtStop === null ? null : serverStored - serverAtStop,
        seconds: (Date.now() - storeStarted) / 1000,
      };
    }
    const count = await countPcapRecords(filePath);
    if (count.records !== instance.packetsCaptured)
      throw new Error(`the status says ${instance.packetsCaptured} packets but the file holds ${count.records}`);
    return {
      capturer: 'netwatcher',
      load: load.name,
      snapLengthInBytes,
      loadResult,
      kernelReceived: instance.kernelPacketsReceived,
      kernelDropped: instance.kernelPacketsDropped,
      captured: count.records,
      fileSizeInBytes: instance.file?.sizeInBytes ?? 0,
      // Includes starting the `nw` CLI process and the stop operation's round trips.
      stopInMs,
      cpu: {
        captureProcess: delta(0),
        agent: delta(1),
        server: delta(2),
        agentAfterStop: agentAfterStop === null || atEnd[1] == null ? null : agentAfterStop - atEnd[1],
        agentIdle: idleRate === null ? null : idleRate * windowInSeconds,
        ...(store !== null ? { agentStore: store.agent, serverStore: store.server, storeSeconds: store.seconds } : {}),
      },
      durationInSeconds,
      capped: status.stopReason === 'SizeExceeded',
    };
  } finally {
    // --delete-files: the stored copy goes too (a 1.5 GB blob per trial would fill the disk).
    await product
      .nw(
        pc(
          'delete',
          '--name',
          name,
          '--location',
          LOCATION,
          ...(product.storageAccount !== null ? ['--delete-files'] : []),
        ),
      )
      .catch(() => '');
    await rm(filePath, { force: true });
  }
}

/**
 * The seed-000 sequence with the real Azure CLI (Debian's az 2.45) against `nw up --tls`, timed
 * per command, against the same sequence with `nw` in the same run (DESIGN §11: "the seed-000
 * sequence with the real az within a small factor of the same with nw"). Also reports the share
 * of az's time spent waiting between long-running-operation polls (Retry-After × polls, counted
 * from az --debug's request log).
 *
 * Runs on loopback in the root namespace: `nw up --tls --interface lo` (needs root for tcpdump);
 * az's outbound traffic is confined as in the tests (test/az/az-env.ts).
 *
 * Usage: node --import tsx bench/az-seed/run.ts [--rounds N] [--retry-after S]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AZ_BIN, AzEnvironment, azLoginCommands, runTimed, type AzResult } from '../../test/az/az-env.js';
import { startNwUp } from '../../test/az/nw-up.js';
import { NW_BIN } from '../../test/lab/lab.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isFinite(v) && v >= 0 ? v : fallback;
};
const rounds = Math.max(1, Math.floor(option('--rounds', 2)));
const retryAfterInSeconds = option('--retry-after', 1);
const SUB = '00000000-0000-0000-0000-000000000000';
const RG = 'netwatcher-local';
const VM = 'benchvm';
const LOC = 'local';
const FILTERS =
  '[{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"20"},{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"80"},{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"443"},{"protocol":"UDP"}]';

/** Seed 000's commands in order, without the leading `az`/`nw` (placeholders filled). */
const SEQUENCE: Array<{ label: string; args: string[] }> = [
  {
    label: 'vm extension set',
    args: [
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
    ],
  },
  {
    label: 'vm extension show',
    args: [
      'vm',
      'extension',
      'show',
      '--resource-group',
      RG,
      '--vm-name',
      VM,
      '--name',
      'AzureNetworkWatcherExtension',
    ],
  },
  { label: 'storage account list', args: ['storage', 'account', 'list'] },
  {
    label: 'packet-capture create',
    args: [
      'network',
      'watcher',
      'packet-capture',
      'create',
      '--resource-group',
      RG,
      '--vm',
      VM,
      '--name',
      'packetCaptureName',
      '--storage-account',
      'nwlocal',
      '--filters',
      FILTERS,
    ],
  },
  {
    label: 'packet-capture show-status',
    args: ['network', 'watcher', 'packet-capture', 'show-status', '--name', 'packetCaptureName', '--location', LOC],
  },
  {
    label: 'packet-capture stop',
    args: ['network', 'watcher', 'packet-capture', 'stop', '--name', 'packetCaptureName', '--location', LOC],
  },
  {
    label: 'packet-capture delete',
    args: ['network', 'watcher', 'packet-capture', 'delete', '--name', 'packetCaptureName', '--location', LOC],
  },
];

/** Operation-status polls in az --debug's request log: azure-core sleeps Retry-After before each. */
const pollsIn = (stderr: string) => (stderr.match(/Request URL: '[^']*\/operations\/[^']*'/g) ?? []).length;

const dir = mkdtempSync(join(tmpdir(), 'nw-bench-az-'));
const up = await startNwUp({
  dataDir: join(dir, 'data'),
  configPath: join(dir, 'config.json'),
  listen: '127.0.0.1:0',
  vmName: VM,
  resourceGroup: RG,
  location: LOC,
  interfaceName: 'lo',
  extraArgs: ['--retry-after', String(retryAfterInSeconds)],
});
const az = await AzEnvironment.create({ caBundle: up.certPath });
try {
  const token = readFileSync(up.adminTokenPath, 'utf8').trim();
  for (const login of azLoginCommands(up.url, token, SUB)) {
    const r = await runTimed(AZ_BIN, login, az.env);
    if (r.code !== 0) throw new Error(`az ${login[0]} failed: ${r.stderr}`);
  }
  const azTimes = new Map<string, number[]>();
  const nwTimes = new Map<string, number[]>();
  let azPolls = 0;
  let azTotalInMs = 0;
  let nwTotalInMs = 0;
  const check = (tool: string, label: string, r: AzResult) => {
    if (r.code !== 0) throw new Error(`${tool} ${label} failed (${r.code}): ${r.stderr.slice(-3000)}`);
  };
  for (let round = 0; round < rounds; round++) {
    for (const step of SEQUENCE) {
      const r = await runTimed(AZ_BIN, [...step.args, '--debug'], az.env);
      check('az', step.label, r);
      azPolls += pollsIn(r.stderr);
      azTotalInMs += r.durationInMs;
      azTimes.set(step.label, [...(azTimes.get(step.label) ?? []), r.durationInMs]);
    }
    for (const step of SEQUENCE) {
      const r = await runTimed(process.execPath, [NW_BIN, ...step.args], up.cliEnv);
      check('nw', step.label, r);
      nwTotalInMs += r.durationInMs;
      nwTimes.set(step.label, [...(nwTimes.get(step.label) ?? []), r.durationInMs]);
    }
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const s = (ms: number) => `${(ms / 1000).toFixed(2).padStart(6)} s`;
  console.log(`seed-000 sequence, ${rounds} round(s), Retry-After ${retryAfterInSeconds} s; mean per command:`);
  console.log(`${'command'.padEnd(28)}${'az'.padStart(9)}${'nw'.padStart(9)}${'az/nw'.padStart(8)}`);
  for (const step of SEQUENCE) {
    const a = mean(azTimes.get(step.label)!);
    const n = mean(nwTimes.get(step.label)!);
    console.log(`${step.label.padEnd(28)}${s(a).padStart(9)}${s(n).padStart(9)}${(a / n).toFixed(1).padStart(7)}x`);
  }
  const azPerRound = azTotalInMs / rounds;
  const nwPerRound = nwTotalInMs / rounds;
  const pollWaitInMs = (azPolls / rounds) * retryAfterInSeconds * 1000;
  console.log(
    `${'whole sequence'.padEnd(28)}${s(azPerRound).padStart(9)}${s(nwPerRound).padStart(9)}${(azPerRound / nwPerRound).toFixed(1).padStart(7)}x`,
  );
  console.log(
    `az polling: ${(azPolls / rounds).toFixed(1)} operation polls per sequence, ${s(pollWaitInMs).trim()} waiting = ${((100 * pollWaitInMs) / azPerRound).toFixed(0)}% of az's time`,
  );
} finally {
  await up.stop();
  az.destroy();
  rmSync(dir, { recursive: true, force: true });
}

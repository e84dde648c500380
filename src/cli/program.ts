import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CliError, describeCause } from './errors.js';
import { collectOption } from './option-values.js';
import type { CliContext } from './context.js';
import type { ServiceStarters } from './services.js';
import { vmExtensionDelete, vmExtensionList, vmExtensionSet, vmExtensionShow } from './commands/vm-extension.js';
import { vmDelete, vmList, vmShow, vmUpdate } from './commands/vm.js';
import { vmLookbackDisable, vmLookbackEnable, vmLookbackShow } from './commands/vm-lookback.js';
import {
  vmssCreate,
  vmssDelete,
  vmssExtensionList,
  vmssExtensionSet,
  vmssList,
  vmssListInstances,
  vmssShow,
} from './commands/vmss.js';
import { joinKeyCreate, joinKeyList, joinKeyRevoke } from './commands/join-key.js';
import {
  storageAccountCreate,
  storageAccountDelete,
  storageAccountList,
  storageAccountShow,
} from './commands/storage-account.js';
import { watcherConfigure, watcherList } from './commands/network-watcher.js';
import {
  packetCaptureCreate,
  packetCaptureDelete,
  packetCaptureList,
  packetCaptureShow,
  packetCaptureShowStatus,
  packetCaptureStop,
} from './commands/packet-capture.js';
import { packetCaptureWait } from './commands/packet-capture-wait.js';
import { packetCaptureDownload, packetCaptureDownloadAll } from './commands/packet-capture-download.js';
import { packetCaptureAnalyze, pcapAnalyze, pcapFilter, pcapPackets } from './commands/analyze.js';
import { login } from './commands/login.js';
import {
  createForRbac,
  servicePrincipalCredentialReset,
  servicePrincipalDelete,
  servicePrincipalList,
} from './commands/ad-sp.js';
import { runServer, DEFAULT_LISTEN } from './commands/server.js';
import { agentCredentialRevoke, rotateAdminTokenCommand } from './commands/credentials.js';
import { runAgent } from './commands/agent.js';
import { up } from './commands/up.js';
import { printAzRecipe } from './commands/az-recipe.js';
import { registerAlertCaptureCommands, registerMonitorCommands } from './commands/monitor-commands.js';
import { withAgentMetrics } from './commands/monitor-agent-metrics.js';

/** What long-running commands need beyond the context. */
export interface RunOptions {
  /** Aborts `nw server`, `nw agent` and `nw up` (main.ts wires SIGINT/SIGTERM to it). */
  stop?: AbortSignal;
  /** Server/agent starters (default: imported from src/server and src/agent on demand). */
  starters?: ServiceStarters;
}

type Options = Record<string, unknown>;

// Commander turns `--no-wait` into `wait: false`; the command functions take `noWait`.
function withNoWait(options: Options): Options {
  const { wait, autoUpgrade, ...rest } = options;
  const out: Options = { ...rest };
  if (wait === false) out['noWait'] = true;
  if (autoUpgrade === false) out['noAutoUpgrade'] = true;
  return out;
}

/** An action whose result was printed already: commander wants Promise<void>. */
function act(command: (options: Options) => Promise<unknown>): (options: Options) => Promise<void> {
  return async (options) => {
    await command(options);
  };
}

function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => (l.startsWith('#') ? `  ${l}` : `    ${l}`)).join('\n')}\n`;
}

/** az's global arguments, on every leaf command. */
function addCommonOptions(command: Command): Command {
  return command
    .option('-o, --output <format>', 'output format: json, jsonc, table, tsv, none', 'json')
    .option('--debug', 'print HTTP requests and responses on stderr (secrets redacted)')
    .option('--subscription <id>', 'subscription id (default: the configured one)')
    .option('--only-show-errors', 'accepted for az compatibility');
}

/** Options shared by the packet-capture commands that name an existing capture. */
function addWatcherOptions(command: Command): Command {
  return command
    .option(
      '-l, --location <location>',
      'location of the network watcher (az style: the watcher is looked up by location)',
    )
    .option('--watcher <name>', 'name of the network watcher, instead of --location')
    .option('--watcher-resource-group <rg>', 'resource group of --watcher (also -g)')
    .option('-g, --resource-group <rg>', 'resource group of --watcher');
}

/**
 * `--database-url`, bound to NW_DATABASE_URL on the option itself: commander only reads the
 * environment for options that carry their variable when they are added (help shows "(env: …)").
 */
function databaseUrlOption(): Option {
  return new Option('--database-url <url>', 'PostgreSQL URL (default: embedded database in the data folder)').env(
    'NW_DATABASE_URL',
  );
}

/**
 * Builds the `nw` command tree. Every action calls a plain command function with the parsed
 * options and the context.
 */
export function buildProgram(ctx: CliContext, run: RunOptions = {}): Command {
  const stop = run.stop ?? new AbortController().signal;
  const program = new Command('nw');
  program
    .description('netwatcher: packet capture for fleets of Linux hosts, with the az network watcher commands')
    .version(packageVersion(), '-v, --version', 'print the version')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out.write(s), writeErr: (s) => ctx.err.write(s) })
    .showHelpAfterError('(add --help for usage)');

  const leaf = (parent: Command, name: string, description: string, lines: string[]): Command =>
    addCommonOptions(parent.command(name).description(description).addHelpText('after', examples(lines)));

  // ---- nw vm -------------------------------------------------------------------------------
  const vm = program.command('vm').description('hosts (virtual machines) and their agent extension');
  leaf(vm, 'list', 'list the hosts the server knows, with their agent state', ['nw vm list -o table'])
    .option('-g, --resource-group <rg>', 'only this resource group')
    .action(act((o) => vmList(o, ctx)));
  leaf(vm, 'show', 'show one host', ['nw vm show -g netwatcher-local -n myhost'])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('-n, --name <vm>', 'name of the VM')
    .action(act((o) => vmShow(o, ctx)));
  leaf(
    vm,
    'delete',
    "remove a host: revokes its agent's credential and disconnects it at once; refused while captures run on it unless --force; prints nothing",
    ['nw vm delete -g myRG -n web1 --yes', 'nw vm delete -g myRG -n web1 --yes --force'],
  )
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('-n, --name <vm>', 'name of the VM')
    .option('-y, --yes', 'do not ask for confirmation')
    .option(
      '--force, --force-deletion',
      'also when captures run on it (they are recorded as stopped and the agent is told to stop them)',
    )
    .action(act((o) => vmDelete(o, ctx)));

  const lookback = vm
    .command('lookback')
    .description(
      "the host's look-back buffer: its recent packets, kept on the host, so a capture can begin in the past (docs/continuous.md)",
    );
  leaf(
    lookback,
    'enable',
    "keep a rolling buffer of the host's recent packets, bounded by --seconds and --max-size (off by default; the buffer never leaves the host unless a capture asks)",
    [
      'nw vm lookback enable -g myRG --vm-name web1 --seconds 120 --max-size 256MiB',
      'nw vm lookback enable -g myRG --vm-name web1 --seconds 300 --max-size 1GiB --snap-length 128',
    ],
  )
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('--vm-name <vm>', 'name of the VM')
    .requiredOption('--seconds <n>', 'keep no packet older than this many seconds (1-3600)')
    .requiredOption('--max-size <size>', 'keep at most this much on the host, e.g. 256MiB, 1GiB (at least 4MiB)')
    .option('--snap-length <bytes>', 'bytes kept per packet, 0 = whole packets (default 0)')
    .action(act((o) => vmLookbackEnable(o, ctx)));
  leaf(lookback, 'show', "show the host's buffer: its bounds and what it holds (size, time span, kernel drops)", [
    'nw vm lookback show -g myRG --vm-name web1 -o table',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('--vm-name <vm>', 'name of the VM')
    .action(act((o) => vmLookbackShow(o, ctx)));
  leaf(lookback, 'disable', "turn the host's buffer off; the host deletes its files", [
    'nw vm lookback disable -g myRG --vm-name web1',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('--vm-name <vm>', 'name of the VM')
    .action(act((o) => vmLookbackDisable(o, ctx)));
  leaf(vm, 'update', "change a host's tags, which capture target selectors match", [
    'nw vm update -g myRG -n web1 --set tags.role=web',
    'nw vm update -g myRG -n web1 --set tags.role=web tags.tier=front --remove tags.old',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('-n, --name <vm>', 'name of the VM')
    .option('--set <items...>', 'tags.KEY=VALUE to set')
    .option('--remove <items...>', 'tags.KEY to remove (tags: all)')
    .action(act((o) => vmUpdate(o, ctx)));

  const agentCredential = vm.command('agent-credential').description("a host's agent credential");
  leaf(
    agentCredential,
    'revoke',
    "revoke a host's agent credential and close its live agent connection at once (re-install with 'nw vm extension set')",
    ['nw vm agent-credential revoke -g myRG --vm-name web1'],
  )
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('--vm-name <vm>', 'name of the VM')
    .action(act((o) => agentCredentialRevoke(o, ctx)));

  const extension = vm.command('extension').description('the agent extension (NetworkWatcherAgentLinux)');
  leaf(extension, 'set', 'install the agent extension on a host; prints the command to run on the host (shown once)', [
    'nw vm extension set --resource-group myRG --vm-name myVM --publisher Microsoft.Azure.NetworkWatcher --name NetworkWatcherAgentLinux --version 1.4',
    '# then run the printed installCommand on the host, e.g.:',
    'nw agent --server https://nw.example:8817 --token <one-time token> --data-dir /var/lib/netwatcher/agent',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('--vm-name <vm>', 'name (or id) of the VM; created on the server if new')
    .requiredOption('-n, --name <type>', 'extension type: NetworkWatcherAgentLinux')
    .option('--publisher <publisher>', 'extension publisher', 'Microsoft.Azure.NetworkWatcher')
    .option('--version <version>', 'typeHandlerVersion', '1.4')
    .option(
      '--extension-instance-name <name>',
      'instance name, when it differs from --name (e.g. AzureNetworkWatcherExtension)',
    )
    .option('-l, --location <location>', "location of a new VM (default: the server's default location)")
    .option('--settings <json>', 'public settings (JSON)')
    .option('--protected-settings <json>', 'protected settings (JSON)')
    .option('--no-auto-upgrade', 'set autoUpgradeMinorVersion to false')
    .option('--force-update', 'set a new forceUpdateTag')
    .option('--no-wait', 'print the first response without waiting')
    .action(act((o) => vmExtensionSet(withNoWait(o), ctx)));
  leaf(extension, 'show', 'show an extension of a host', [
    'nw vm extension show --resource-group myRG --vm-name myVM --name AzureNetworkWatcherExtension',
    'nw vm extension show -g myRG --vm-name myVM -n NetworkWatcherAgentLinux -o table',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('--vm-name <vm>', 'name of the VM')
    .requiredOption('-n, --name <name>', 'extension instance name')
    .option('--instance-view', 'accepted for az compatibility')
    .action(act((o) => vmExtensionShow(o, ctx)));
  leaf(extension, 'list', 'list the extensions of a host', ['nw vm extension list -g myRG --vm-name myVM -o table'])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('--vm-name <vm>', 'name of the VM')
    .action(act((o) => vmExtensionList(o, ctx)));
  leaf(extension, 'delete', "remove the agent extension (revokes the host's credential); prints nothing", [
    'nw vm extension delete -g myRG --vm-name myVM -n NetworkWatcherAgentLinux',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the VM')
    .requiredOption('--vm-name <vm>', 'name of the VM')
    .requiredOption('-n, --name <name>', 'extension instance name')
    .option('--no-wait', 'do not wait for the operation')
    .action(act((o) => vmExtensionDelete(withNoWait(o), ctx)));

  const joinKey = vm
    .command('join-key')
    .description('reusable keys with which hosts register and enrol themselves (cloud-init, Ansible)');
  leaf(
    joinKey,
    'create',
    'create a join key (printed once): hosts run nw agent --join-key KEY to join the resource group, or a scale set as its next instances',
    [
      'nw vm join-key create -g myRG --expires-in 7d',
      'nw vm join-key create -g myRG --vmss web --expires-in 1d --max-uses 20',
      '# then on each host (cloud-init runcmd, an Ansible task):',
      'nw agent --server https://nw.example:8817 --join-key nwj_… --data-dir /var/lib/netwatcher/agent',
    ],
  )
    .requiredOption('-g, --resource-group <rg>', 'resource group the hosts join')
    .option('--vmss <name>', 'scale set the hosts join, each as its next instance')
    .option('--expires-in <duration>', 'lifetime: seconds, or 30m, 12h, 7d (default 7d; at most 366d)')
    .option('--max-uses <n>', 'how many hosts may join with it (default: no limit)')
    .option('--description <text>', 'what the key is for')
    .option('-l, --location <location>', "location of the VMs it creates (default: the scale set's, or the server's)")
    .action(act((o) => joinKeyCreate(o, ctx)));
  leaf(joinKey, 'list', 'list join keys: state, uses, expiry (never the keys)', [
    'nw vm join-key list -g myRG -o table',
  ])
    .option('-g, --resource-group <rg>', 'only this resource group')
    .action(act((o) => joinKeyList(o, ctx)));
  leaf(joinKey, 'revoke', 'revoke a join key: no new host can join with it; hosts that joined keep working', [
    'nw vm join-key revoke -g myRG --id 3f2c…',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the key')
    .requiredOption('--id <id>', 'id of the key (nw vm join-key list)')
    .action(act((o) => joinKeyRevoke(o, ctx)));

  // ---- nw vmss -----------------------------------------------------------------------------
  const vmss = program
    .command('vmss')
    .description('scale sets: groups of hosts that join as instances 0, 1, …; one capture covers them');
  leaf(vmss, 'create', 'create a scale set', [
    'nw vmss create -g myRG -n web',
    'nw vmss create -g myRG -n web --location westeurope',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group')
    .requiredOption('-n, --name <name>', 'name of the scale set')
    .option('-l, --location <location>', "location (default: the server's)")
    .option('--tags <tags...>', 'KEY=VALUE tags')
    .action(act((o) => vmssCreate(o, ctx)));
  leaf(vmss, 'list', 'list scale sets', ['nw vmss list -o table', 'nw vmss list -g myRG'])
    .option('-g, --resource-group <rg>', 'only this resource group')
    .action(act((o) => vmssList(o, ctx)));
  leaf(vmss, 'show', 'show a scale set', ['nw vmss show -g myRG -n web'])
    .requiredOption('-g, --resource-group <rg>', 'resource group')
    .requiredOption('-n, --name <name>', 'name of the scale set')
    .action(act((o) => vmssShow(o, ctx)));
  leaf(
    vmss,
    'delete',
    "delete a scale set: its join keys and every instance's credential are revoked; refused while a capture runs on it; prints nothing",
    ['nw vmss delete -g myRG -n web'],
  )
    .requiredOption('-g, --resource-group <rg>', 'resource group')
    .requiredOption('-n, --name <name>', 'name of the scale set')
    .action(act((o) => vmssDelete(o, ctx)));
  leaf(vmss, 'list-instances', 'list the instances of a scale set (in join order) with their agent state', [
    'nw vmss list-instances -g myRG -n web -o table',
  ])
    .requiredOption('-g, --resource-group <rg>', 'resource group')
    .requiredOption('-n, --name <name>', 'name of the scale set')
    .action(act((o) => vmssListInstances(o, ctx)));
  const vmssExtension = vmss.command('extension').description('the agent extension of a scale set');
  leaf(
    vmssExtension,
    'set',
    'install the agent on a scale set; prints the install command (shown once) that enrols each host running it as the next instance',
    [
      'nw vmss extension set -g myRG --vmss-name web --name NetworkWatcherAgentLinux --publisher Microsoft.Azure.NetworkWatcher --version 1.4',
      '# then run the printed installCommand on every host (cloud-init, an image), e.g.:',
      'nw agent --server https://nw.example:8817 --join-key nwj_… --data-dir /var/lib/netwatcher/agent',
    ],
  )
    .requiredOption('-g, --resource-group <rg>', 'resource group of the scale set')
    .requiredOption('--vmss-name <name>', 'name of the scale set')
    .requiredOption('-n, --name <type>', 'extension type: NetworkWatcherAgentLinux')
    .option('--publisher <publisher>', 'extension publisher', 'Microsoft.Azure.NetworkWatcher')
    .option('--version <version>', 'typeHandlerVersion', '1.4')
    .option('--extension-instance-name <name>', 'instance name, when it differs from --name')
    .option('--no-auto-upgrade', 'set autoUpgradeMinorVersion to false')
    .option('--no-wait', 'print the first response without waiting')
    .action(act((o) => vmssExtensionSet(withNoWait(o), ctx)));
  leaf(vmssExtension, 'list', 'list the extensions of a scale set', ['nw vmss extension list -g myRG --vmss-name web'])
    .requiredOption('-g, --resource-group <rg>', 'resource group of the scale set')
    .requiredOption('--vmss-name <name>', 'name of the scale set')
    .action(act((o) => vmssExtensionList(o, ctx)));

  // ---- nw storage account ------------------------------------------------------------------
  const storage = program.command('storage').description('storage targets for capture files');
  const account = storage
    .command('account')
    .description('storage accounts: a local folder of the server, Azure Blob, or S3');
  leaf(account, 'list', 'list the storage accounts', ['nw storage account list', 'nw storage account list -o table'])
    .option('-g, --resource-group <rg>', 'only this resource group')
    .action(act((o) => storageAccountList(o, ctx)));
  leaf(account, 'show', 'show a storage account', ['nw storage account show -n nwlocal'])
    .requiredOption('-n, --name <name>', 'account name')
    .option('-g, --resource-group <rg>', 'resource group (default: found by name)')
    .action(act((o) => storageAccountShow(o, ctx)));
  leaf(account, 'create', 'register a storage account', [
    'nw storage account create -n captures -g storageRG --kind local',
    'AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=…" nw storage account create -n blobcaps -g storageRG --kind azureBlob',
    'nw storage account create -n s3caps -g storageRG --kind s3 --endpoint http://127.0.0.1:9000 --region us-east-1 --bucket captures --access-key-id AKIA… --secret-access-key … --path-style true',
  ])
    .requiredOption('-n, --name <name>', 'account name')
    .requiredOption('-g, --resource-group <rg>', 'resource group')
    .option('-l, --location <location>', 'location', 'local')
    .option('--kind <kind>', 'backend: local, azureBlob or s3 (az account kinds such as StorageV2 mean local)')
    .option('--backend <type>', 'same as --kind with a backend name')
    // Secrets from the environment keep them out of shell history (az reads the first one too).
    .addOption(
      new Option('--connection-string <text>', 'azureBlob: connection string').env('AZURE_STORAGE_CONNECTION_STRING'),
    )
    .option('--account-name <name>', 'azureBlob: account name, with --account-key (instead of --connection-string)')
    .option('--account-key <key>', 'azureBlob: account key, with --account-name')
    .option(
      '--blob-endpoint <url>',
      'azureBlob: blob endpoint (default https://ACCOUNT.blob.core.windows.net), with --account-name',
    )
    .option('--endpoint <url>', 's3: endpoint URL')
    .option('--region <region>', 's3: region')
    .option('--bucket <bucket>', 's3: bucket')
    .addOption(new Option('--access-key-id <id>', 's3: access key id').env('AWS_ACCESS_KEY_ID'))
    .addOption(new Option('--secret-access-key <key>', 's3: secret access key').env('AWS_SECRET_ACCESS_KEY'))
    .option('--path-style <bool>', 's3: path-style addressing (true for most S3-compatible servers)')
    .option('--sku <sku>', 'accepted for az compatibility')
    .action(act((o) => storageAccountCreate(o, ctx)));
  leaf(account, 'delete', 'unregister a storage account (its files stay); prints nothing', [
    'nw storage account delete -n captures -g storageRG --yes',
  ])
    .requiredOption('-n, --name <name>', 'account name')
    .option('-g, --resource-group <rg>', 'resource group (default: found by name)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act((o) => storageAccountDelete(o, ctx)));

  // ---- nw network watcher ------------------------------------------------------------------
  const network = program.command('network').description('network watcher');
  const watcher = network
    .command('watcher')
    .description('network watchers (one per location) and their packet captures');
  leaf(watcher, 'list', 'list the network watchers', ['nw network watcher list -o table']).action(
    act((o) => watcherList(o, ctx)),
  );
  leaf(watcher, 'configure', 'enable (create NetworkWatcher_LOCATION) or disable network watchers for locations', [
    'nw network watcher configure --locations westcentralus --resource-group NetworkWatcherRG --enabled true',
    'nw network watcher configure -l westus eastus --enabled false',
  ])
    .requiredOption('-l, --locations <locations...>', 'locations (space-separated)')
    .option('-g, --resource-group <rg>', 'resource group for new watchers')
    .option('--enabled <bool>', 'true: create missing watchers; false: delete them')
    .option('--tags <tags...>', 'KEY=VALUE tags')
    .action(act((o) => watcherConfigure(o, ctx)));

  const capture = watcher.command('packet-capture').description('packet captures');
  leaf(capture, 'create', 'start a packet capture on a VM (or scale set) and wait until its agent has accepted it', [
    'nw network watcher packet-capture create --resource-group myRG --vm myVM --name packetCaptureName --storage-account nwlocal \\',
    '  --filters "[{\\"protocol\\":\\"TCP\\", \\"remoteIPAddress\\":\\"1.1.1.1-255.255.255\\",\\"localIPAddress\\":\\"10.0.0.3\\", \\"remotePort\\":\\"20\\"},{\\"protocol\\":\\"UDP\\"}]"',
    'nw network watcher packet-capture create -g myRG --vm myVM -n pc1 --file-path /var/captures/pc1.cap --time-limit 60 --capture-size 128',
    'nw network watcher packet-capture create -g myRG --target myScaleSet --target-type AzureVMSS --include 0 1 -n pc2 --storage-account nwlocal',
    "# begin 30 s in the past, from the host's look-back buffer (nw vm lookback enable):",
    'nw network watcher packet-capture create -g myRG --vm myVM -n pc3 --storage-account nwlocal --time-limit 60 --lookback 30',
    'nw network watcher packet-capture create -n pc3 --target-selector "resourceGroup=myRG,tags.role=web" --location westus --storage-account nwlocal',
    'nw network watcher packet-capture create -g myRG --vm myVM -n ring1 --storage-account nwlocal --continuous-capture true \\',
    '  --capture-settings fileCount=3 fileSizeInBytes=1048576 sessionTimeLimitInSeconds=600 --local-path /var/captures/ring.cap',
  ])
    .option('-g, --resource-group <rg>', 'resource group of the target (not needed with --target-selector or an id)')
    .option('--vm <vm>', 'name or id of the VM to capture on')
    .requiredOption('-n, --name <name>', 'name of the capture')
    .option('--storage-account <name-or-id>', 'storage account for the .cap file')
    .option('--storage-path <url>', 'container URL in the storage account')
    .option('--file-path <path>', 'local path on the host, ending in .cap (under /var/captures)')
    .option('--capture-size <bytes>', 'bytes captured per packet (0 = whole packet)')
    .option(
      '--capture-limit <bytes>',
      'maximum bytes per session (default 1073741824; 0 = the maximum, 4294967295, which the capture then shows)',
    )
    .option(
      '--time-limit <seconds>',
      'maximum duration in seconds (default and maximum 18000; 0 = the maximum, which the capture then shows)',
    )
    .option(
      '--lookback <seconds>',
      "begin the file this many seconds before creation with the packets of the host's look-back buffer that pass the filters (netwatcher's own; needs nw vm lookback enable)",
    )
    .option(
      '--filters <json>',
      'JSON list of filters: protocol, localIPAddress, localPort, remoteIPAddress, remotePort',
    )
    .option(
      '--continuous-capture <bool>',
      'true: a ring of files (--capture-settings) instead of one file; true or false: the host path is --local-path (docs/continuous.md)',
    )
    .option(
      '--capture-settings <settings...>',
      "the ring, as KEY=VALUE: fileCount (default 10, at most 10000), fileSizeInBytes (default 104857600, at least 24 + 16 + snap length: 262184 with whole packets), sessionTimeLimitInSeconds (default 86400, at most 604800); az's file-count=… spelling works too",
    )
    .option(
      '--local-path <path>',
      'with --continuous-capture: local path on the host, ending in .cap (under /var/captures); ring files are NAME-000001.cap, …',
    )
    .option('-l, --location <location>', "location of the watcher (default: the target's)")
    .option('--target <name-or-id>', 'scale set to capture on (with --target-type AzureVMSS)')
    .option('--target-type <type>', 'AzureVM (default) or AzureVMSS')
    .option('--include <instances...>', 'scale-set instances to capture')
    .option('--exclude <instances...>', 'scale-set instances to skip')
    .option(
      '--target-selector <selector>',
      'every VM of a resource group and/or with tags, resolved now: "resourceGroup=RG,tags.role=web" (with --location)',
    )
    .option('--watcher <name>', 'name of the network watcher, instead of looking it up by location')
    .option('--watcher-resource-group <rg>', 'resource group of --watcher')
    .option('--no-wait', 'do not wait for the capture to start')
    .action(act((o) => packetCaptureCreate(withNoWait(o), ctx)));
  addWatcherOptions(
    leaf(capture, 'show', 'show a packet capture', [
      'nw network watcher packet-capture show --name packetCaptureName --location westcentralus',
    ]),
  )
    .requiredOption('-n, --name <name>', 'name of the capture')
    .action(act((o) => packetCaptureShow(o, ctx)));
  addWatcherOptions(
    leaf(capture, 'show-status', 'show the status of a packet capture (queryStatus)', [
      'nw network watcher packet-capture show-status --name packetCaptureName --location westcentralus',
    ]),
  )
    .requiredOption('-n, --name <name>', 'name of the capture')
    .action(act((o) => packetCaptureShowStatus(o, ctx)));
  addWatcherOptions(
    leaf(capture, 'stop', 'stop a running packet capture; prints nothing', [
      'nw network watcher packet-capture stop --name packetCaptureName --location westcentralus',
    ]),
  )
    .requiredOption('-n, --name <name>', 'name of the capture')
    .option('--no-wait', 'do not wait for the capture to stop')
    .action(act((o) => packetCaptureStop(withNoWait(o), ctx)));
  addWatcherOptions(
    leaf(capture, 'delete', 'delete a packet capture (its files stay unless --delete-files); prints nothing', [
      'nw network watcher packet-capture delete --name packetCaptureName --location westcentralus',
      'nw network watcher packet-capture delete --name packetCaptureName --location westcentralus --delete-files',
    ]),
  )
    .requiredOption('-n, --name <name>', 'name of the capture')
    .option('--delete-files', 'also delete the capture files')
    .option('--no-wait', 'do not wait for the deletion')
    .action(act((o) => packetCaptureDelete(withNoWait(o), ctx)));
  addWatcherOptions(
    leaf(capture, 'list', 'list the packet captures of a location', [
      'nw network watcher packet-capture list --location westcentralus -o table',
    ]),
  ).action(act((o) => packetCaptureList(o, ctx)));
  addWatcherOptions(
    leaf(capture, 'wait', 'wait until a packet capture reaches a state; prints nothing', [
      'nw network watcher packet-capture wait --name pc1 --location westcentralus --created',
      'nw network watcher packet-capture wait --name pc1 --location westcentralus --stopped --interval 2',
      `nw network watcher packet-capture wait --name pc1 --location westcentralus --custom "provisioningState=='Succeeded'"`,
      'nw network watcher packet-capture wait --name pc1 --location westcentralus --deleted --timeout 60',
    ]),
  )
    .requiredOption('-n, --name <name>', 'name of the capture')
    .option('--created', "until it exists with provisioningState 'Succeeded'")
    .option('--updated', "until provisioningState is 'Succeeded'")
    .option('--exists', 'until it exists')
    .option('--deleted', 'until it is deleted')
    .option('--custom <expression>', 'until a JMESPath-style condition holds, e.g. "provisioningState==\'Succeeded\'"')
    .option('--stopped', 'until its status is Stopped or Error (queryStatus)')
    .option('--interval <seconds>', 'polling interval (default 30; 5 with --stopped)')
    .option('--timeout <seconds>', 'maximum wait (default 3600; none with --stopped)')
    .action(act((o) => packetCaptureWait(o, ctx)));
  addWatcherOptions(
    leaf(capture, 'download', "download a capture's .cap file, checking its SHA-256", [
      'nw network watcher packet-capture download --name packetCaptureName --location westcentralus',
      'nw network watcher packet-capture download --name pc2 --location westcentralus --instance myScaleSet_1 --file pc2-1.cap --force',
      'nw network watcher packet-capture download --name pc2 --location westcentralus --merge --file all.pcapng',
      'nw network watcher packet-capture download --name ring1 --location westcentralus --ring-file ring-000004.cap',
      'nw network watcher packet-capture download --name ring1 --location westcentralus --all-files --dir ./ring1',
    ]),
  )
    .requiredOption('-n, --name <name>', 'name of the capture')
    .option('-f, --file <path>', "where to write (default NAME.cap, or the ring file's name)")
    .option('--ring-file <name>', 'continuous capture: the ring file to download (a name from show-status files[])')
    .option('--all-files', 'continuous capture: download every ring file kept (into --dir)')
    .option('--dir <folder>', 'with --all-files: the folder to write into (default .)')
    .option('--force', 'overwrite an existing file')
    .option('--instance <vm>', 'host whose file to fetch, for captures with several (a scale set: its instance id)')
    .option('--merge', "one time-ordered file of every host's packets (pcapng: one interface per host, named)")
    .option('--format <format>', 'with --merge: pcapng (default) or pcap')
    .option('--progress', 'show progress even when stderr is not a terminal')
    .action(act((o) => (o.allFiles ? packetCaptureDownloadAll(o, ctx) : packetCaptureDownload(o, ctx))));

  addWatcherOptions(
    leaf(
      capture,
      'analyze',
      "analyse a stored capture's file on the server: summary, protocols, conversations, endpoints, TCP health, DNS, TLS, I/O",
      [
        'nw network watcher packet-capture analyze --name packetCaptureName --location westcentralus',
        'nw network watcher packet-capture analyze --name pc1 --location westcentralus --section conversations -o table',
      ],
    ),
  )
    .requiredOption('-n, --name <name>', 'name of the capture')
    .option('--section <section>', 'summary, protocols, conversations, endpoints, tcp, dns, tls or io (default: all)')
    .option('--instance <vm>', 'host whose file to analyse, for captures with several')
    .option('--interval <seconds>', 'I/O bucket width (default: at most 500 buckets)')
    .option('--top <n>', 'rows per table (default 100)')
    .action(act((o) => packetCaptureAnalyze(o, ctx)));

  registerAlertCaptureCommands(watcher, ctx, leaf);

  // ---- nw pcap (local files from anywhere: tcpdump, Wireshark) -------------------------------
  const pcap = program.command('pcap').description('analyse local pcap and pcapng files (no server needed)');
  leaf(
    pcap,
    'analyze',
    'summary, protocol hierarchy, conversations, endpoints, TCP health, DNS, TLS and I/O of a local file',
    ['nw pcap analyze capture.pcapng', 'nw pcap analyze capture.cap --section tcp -o table'],
  )
    .argument('<file>', 'a pcap or pcapng file')
    .option('--section <section>', 'summary, protocols, conversations, endpoints, tcp, dns, tls or io (default: all)')
    .option('--interval <seconds>', 'I/O bucket width (default: at most 500 buckets)')
    .option('--top <n>', 'rows per table (default 100)')
    .action(async (file: string, o: Options) => {
      await pcapAnalyze(file, o, ctx);
    });
  leaf(pcap, 'packets', 'decoded packets of a local file, with a display filter (docs/analysis.md)', [
    "nw pcap packets capture.pcap --filter 'ip.addr==10.0.0.1 && tcp.port==80' -o table",
    "nw pcap packets capture.pcapng --filter 'dns.flags.rcode==3' --limit 20",
  ])
    .argument('<file>', 'a pcap or pcapng file')
    .option('--filter <expression>', 'display filter')
    .option('--offset <n>', 'matching packets to skip', '0')
    .option('--limit <n>', 'packets to show (max 1000)', '100')
    .action(async (file: string, o: Options) => {
      await pcapPackets(file, o, ctx);
    });
  leaf(pcap, 'filter', 'write the packets of a local file that match a display filter to a new file', [
    "nw pcap filter capture.pcap --filter 'tcp.flags.reset' --write resets.pcap",
  ])
    .argument('<file>', 'a pcap or pcapng file')
    .requiredOption('--filter <expression>', 'display filter')
    .requiredOption('-w, --write <file>', 'the file to write (same format as the input)')
    .option('--force', 'overwrite an existing file')
    .action(async (file: string, o: Options) => {
      await pcapFilter(file, o, ctx);
    });

  // ---- nw monitor (seed 002) ---------------------------------------------------------------
  registerMonitorCommands(program, ctx, leaf);

  // ---- nw ad sp (docs/access.md) -------------------------------------------------------------
  const ad = program.command('ad').description('principals of this server (service principals)');
  const sp = ad.command('sp').description('service principals: API clients with an app id and a secret');
  leaf(
    sp,
    'create-for-rbac',
    'create a service principal, optionally with a role at some scopes; prints its password once',
    [
      'nw ad sp create-for-rbac --name ci-bot --role "Network Contributor" --scopes /subscriptions/S/resourceGroups/rg1',
      'nw ad sp create-for-rbac --name oncall --role Reader --scopes /subscriptions/S',
    ],
  )
    .option('-n, --name <name>', 'display name (unique on this server)')
    .option(
      '--role <role>',
      'role to assign (name or id): Reader, Network Contributor, Contributor, Owner, Packet Capture Operator, Packet Capture Data Reader',
    )
    .option(
      '--scopes <scope...>',
      'scopes of the role: /subscriptions/S or /subscriptions/S/resourceGroups/RG (one or more)',
    )
    .action(act((o) => createForRbac(o, ctx)));
  leaf(sp, 'list', 'list the service principals (ids and names; never a secret)', ['nw ad sp list -o table'])
    .option('--all', 'accepted for az compatibility (every principal is listed)')
    .action(act((o) => servicePrincipalList(o, ctx)));
  leaf(sp, 'delete', 'delete a service principal: its secret, access tokens and role assignments stop at once', [
    'nw ad sp delete --id APPID',
  ])
    .option('--id <appId>', 'app id, object id or name')
    .action(act((o) => servicePrincipalDelete(o, ctx)));
  const spCredential = sp.command('credential').description("a service principal's secret");
  leaf(
    spCredential,
    'reset',
    'replace its secret by a new one, printed once; the old one and its access tokens stop working at once',
    ['nw ad sp credential reset --id APPID'],
  )
    .option('--id <appId>', 'app id, object id or name')
    .action(act((o) => servicePrincipalCredentialReset(o, ctx)));

  // ---- nw login / server / agent / up ------------------------------------------------------
  leaf(
    program,
    'login',
    "save the server URL and token (or a service principal's secret) for the next commands (checks it first)",
    [
      'nw login --server https://nw.example:8817 --token "$(cat /var/lib/netwatcher/admin-token)"',
      'nw login --server https://nw.example:8817 --token TOKEN --ca-file ca.pem',
      'nw login --server https://nw.example:8817 --service-principal -u APPID -p "$SECRET"   # as a service principal (docs/access.md)',
    ],
  )
    .requiredOption('--server <url>', 'server URL')
    .option('--token <token>', 'bearer token (the admin token)')
    .option('--service-principal', 'log in as a service principal: -u APPID -p SECRET')
    .option('-u, --username <appId>', 'app id of the service principal (with --service-principal)')
    .option('-p, --password <secret>', 'secret of the service principal (with --service-principal)')
    .option('--ca-file <file>', "CA certificate (PEM) of the server's private certificate")
    .action(act((o) => login(o, ctx)));

  program
    .command('server')
    .description('run the netwatcher server (control plane) until Ctrl-C')
    .option('--listen <host:port>', 'address to listen on', DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'data folder (default ~/.netwatcher)')
    .addOption(databaseUrlOption())
    .option(
      '--public-url <url>',
      "URL agents and clients reach this server at: operation links, storagePath and install commands start with it (default: the listen address; for 0.0.0.0, this host's name)",
    )
    .option(
      '--trust-proxy',
      'behind a reverse proxy: build those URLs from X-Forwarded-Proto/-Host and Host (never trusted otherwise)',
    )
    .option('-l, --location <location>', 'location of hosts enrolled without one', 'local')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--log-level <level>', 'log level (info, debug, warn …)')
    .option('--subscription <id>', "subscription id of the server's own resources")
    .option(
      '--session-limit <count>',
      'parallel capture sessions allowed per location and subscription (default 10000)',
    )
    .option('--tls-self-signed', 'serve https with a self-signed certificate for this host, kept in DATA_DIR/tls/')
    .option('--metrics-retention-days <days>', 'how long host metrics are kept (default 7)')
    .addOption(
      new Option(
        '--secret-key-file <file>',
        'key that encrypts credentials in the database (default DATA_DIR/secret-key; the same file on every replica)',
      ).env('NW_SECRET_KEY_FILE'),
    )
    .option(
      '--outbound-deny <cidr>',
      'never connect to this range for webhooks, notifications or storage endpoints (repeatable; link-local and cloud metadata are always denied unless allowed)',
      collectOption,
    )
    .option(
      '--outbound-allow <cidr>',
      'allow this range even inside a denied one (repeatable; the most specific range wins)',
      collectOption,
    )
    .option(
      '--retry-after <seconds>',
      'Retry-After of long-running answers for az and the Python SDK (0 = never; default 1)',
    )
    .option(
      '--activity-log-retention-days <days>',
      'how long activity-log events (changes, refusals, packet reads) are kept (default 90)',
    )
    .option(
      '--oidc-issuer <url>',
      "single sign-on: accept access tokens of this OpenID Connect provider (its issuer URL, exactly as in its tokens' iss)",
    )
    .option(
      '--oidc-audience <aud>',
      "the audience (aud) the provider's access tokens for this API carry (required with --oidc-issuer)",
    )
    .option(
      '--oidc-client-id <id>',
      "the portal's client id at the provider: users sign in to the portal through it (authorization code with PKCE)",
    )
    .option('--oidc-groups-claim <claim>', "claim that lists the user's groups (default groups)")
    .addHelpText(
      'after',
      examples([
        'nw server --listen 0.0.0.0:8817 --data-dir /var/lib/netwatcher --tls-cert cert.pem --tls-key key.pem',
        'nw server --oidc-issuer https://login.example.com/realms/ops --oidc-audience api://netwatcher --oidc-client-id netwatcher-portal',
        'NW_DATABASE_URL=postgres://nw@db/netwatcher nw server --listen 0.0.0.0:8817 --data-dir /var/lib/netwatcher',
      ]),
    )
    .action(act((o) => runServer(o, ctx, stop, run.starters)));
  const serverCommand = program.commands.find((c) => c.name() === 'server')!;
  leaf(
    serverCommand,
    'rotate-admin-token',
    'replace the admin token by a new one (printed once, written to DATA_DIR/admin-token); the old one stops working at once',
    [
      'nw server rotate-admin-token --data-dir /var/lib/netwatcher     # the embedded database: stop the server first',
      'nw server rotate-admin-token --data-dir ~/.netwatcher             # the data folder of nw up',
      'NW_DATABASE_URL=postgres://nw@db/netwatcher nw server rotate-admin-token --data-dir /var/lib/netwatcher',
      'nw server rotate-admin-token                                      # through the API of the logged-in server; saves the new token in the CLI config',
    ],
  )
    .option('--data-dir <dir>', 'data folder of the server or of nw up')
    .addOption(databaseUrlOption())
    .action(act((o) => rotateAdminTokenCommand(o, ctx)));
  serverCommand
    .command('az-recipe')
    .description(
      'print the commands that let the real Azure CLI (az) use this server: CA trust, cloud registration, login',
    )
    .option('--server <url>', "the server's https URL as az reaches it (default: the CLI config's)")
    .option(
      '--data-dir <dir>',
      "the server's data folder (default ~/.netwatcher): admin token and self-signed certificate",
    )
    .option('--ca-file <file>', "the certificate az must trust (default: the CLI config's, or DATA_DIR/tls/cert.pem)")
    .option('--subscription <id>', "the server's subscription id")
    .addHelpText(
      'after',
      examples([
        'nw server az-recipe',
        'nw server az-recipe --server https://nw.example:8817 --data-dir /var/lib/netwatcher',
      ]),
    )
    .action(act((o) => printAzRecipe(o, ctx)));

  program
    .command('agent')
    .description('run the capture agent on this host until Ctrl-C')
    .requiredOption(
      '--server <url>',
      'server URL; repeat it (or give a comma list) for several replicas: the agent rotates between them when one fails',
      collectOption,
    )
    .option('--token <token>', "one-time enrolment token from 'nw vm extension set' (not needed once enrolled)")
    .option(
      '--join-key <key>',
      "reusable join key from 'nw vm join-key create' or 'nw vmss extension set': registers this host and enrols it (ignored once joined)",
    )
    .option('--vm-name <name>', 'name this host joins as, with --join-key (default: its host name)')
    .option('--data-dir <dir>', 'data folder (default ~/.netwatcher/agent)')
    .option('--interface <name>', 'interface to capture on', 'any')
    .option('--capture-root <dir>', 'folder local capture files live under (default /var/captures)')
    .option('--ca-file <file>', "CA certificate (PEM) of the server's private certificate")
    .option(
      '--ca-sha256 <fingerprint>',
      "SHA-256 of a self-signed server's CA: fetched from the server into --ca-file (default DATA_DIR/server-ca.pem) and trusted only if it matches",
    )
    .option(
      '--upload-retry-budget-ms <ms>',
      'how long an upload may keep failing before the capture reports StorageFailed (default 300000); the file is kept and retried after',
    )
    .option('--upload-retry-interval-ms <ms>', 'interval between upload retries after a StorageFailed (default 60000)')
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics here (off by default)')
    .option('--metrics-interval <seconds>', 'seconds between host-metric reports to the server (default 1)')
    .option('--log-level <level>', 'log level')
    .addHelpText(
      'after',
      examples([
        'nw agent --server https://nw.example:8817 --token <one-time token> --data-dir /var/lib/netwatcher/agent',
        'nw agent --server https://nw.example:8817 --data-dir /var/lib/netwatcher/agent --metrics-listen 0.0.0.0:9100',
        '# several server replicas (or one load-balanced address, docs/deploy.md):',
        'nw agent --server https://nw1.example:8817 --server https://nw2.example:8817 --data-dir /var/lib/netwatcher/agent',
        "# any number of hosts (cloud-init, Ansible) with one join key; a scale set's key adds each as its next instance:",
        'nw agent --server https://nw.example:8817 --join-key nwj_… --data-dir /var/lib/netwatcher/agent',
        'nw agent --server https://nw.example:8817 --join-key nwj_… --vm-name web7 --data-dir /var/lib/netwatcher/agent',
        '# a server with a self-signed certificate (the install command carries the pin):',
        'nw agent --server https://nw.example:8817 --token <token> --data-dir /var/lib/netwatcher/agent --ca-file /var/lib/netwatcher/agent/server-ca.pem --ca-sha256 <64 hex digits>',
      ]),
    )
    .action(act((o) => runAgent(o, ctx, stop, withAgentMetrics(o, run.starters))));

  program
    .command('up')
    .description(
      'run a server and an agent for this host in one process, and configure the CLI: the first command to try',
    )
    .option('--data-dir <dir>', 'data folder (default ~/.netwatcher)')
    .option('--listen <host:port>', 'address to listen on', DEFAULT_LISTEN)
    .option('-l, --location <location>', 'location of this host', 'local')
    .option('--vm-name <name>', "this host's VM name (default: the host name)")
    .option('-g, --resource-group <rg>', "this host's resource group", 'netwatcher-local')
    .option('--interface <name>', 'interface to capture on (default any)')
    .option('--capture-root <dir>', 'folder local capture files live under (default /var/captures)')
    .option(
      '--tls',
      'serve https with a self-signed certificate for this host, kept in DATA_DIR/tls/ (the CLI config trusts it); the default when listening beyond loopback',
    )
    .option('--no-tls', 'serve plain http even when listening beyond loopback')
    .option(
      '--public-url <url>',
      'URL other hosts reach this server at (install commands and links start with it; its host goes into the certificate)',
    )
    .option(
      '--trust-proxy',
      'behind a reverse proxy: build URLs from X-Forwarded-Proto/-Host and Host (never trusted otherwise)',
    )
    .addOption(databaseUrlOption())
    .option('--log-level <level>', 'log level')
    .option(
      '--outbound-deny <cidr>',
      'never connect to this range for webhooks, notifications or storage endpoints (repeatable)',
      collectOption,
    )
    .option(
      '--outbound-allow <cidr>',
      'allow this range even inside a denied one (repeatable; the most specific range wins)',
      collectOption,
    )
    .option(
      '--retry-after <seconds>',
      'Retry-After of long-running answers for az and the Python SDK (0 = never; default 1)',
    )
    .addHelpText(
      'after',
      examples([
        'sudo nw up',
        'nw up --data-dir ./nw-data --listen 127.0.0.1:9000',
        '# reachable from other hosts (https with a self-signed certificate, pinned by the install commands):',
        'sudo nw up --listen 0.0.0.0:8817 --public-url https://HOST:8817',
      ]),
    )
    .action(async (o: Options) => {
      await up(o, ctx, stop, run.starters);
    });

  return program;
}

/**
 * Runs `nw` with the given arguments (without node and script) and returns the exit code:
 * 0 on success, 2 on usage errors, 1 on API and other errors, each printed az-style on stderr.
 * @example process.exitCode = await runCli(process.argv.slice(2), ctx);
 */
export async function runCli(argv: string[], ctx: CliContext, run: RunOptions = {}): Promise<number> {
  const program = buildProgram(ctx, run);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed its message already; help and version are successes, as in az.
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return 0;
      return 2;
    }
    if (error instanceof CliError) {
      ctx.err.write(error.render() + '\n');
      return error.exitCode;
    }
    ctx.err.write(`ERROR: ${describeCause(error)}\n`);
    if (argv.includes('--debug') && error instanceof Error && error.stack) ctx.err.write(error.stack + '\n');
    return 1;
  }
}

import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { buildCommandTree, traitsOf, type CommandTraits, type Declaration } from './command-declaration.js';
import { CliError, describeCause } from './errors.js';
import type { CliContext } from './context.js';
import type { ServiceStarters } from './services.js';
import { AD_SP_COMMANDS } from './commands/ad-sp.js';
import { AGENT_COMMANDS } from './commands/agent.js';
import { ALERT_CAPTURE_COMMANDS } from './commands/alert-capture.js';
import { PACKET_CAPTURE_ANALYZE_COMMANDS, PCAP_COMMANDS } from './commands/analyze.js';
import { AZ_RECIPE_COMMANDS } from './commands/az-recipe.js';
import { ADMIN_TOKEN_COMMANDS, AGENT_CREDENTIAL_COMMANDS } from './commands/credentials.js';
import { JOIN_KEY_COMMANDS } from './commands/join-key.js';
import { LOGIN_COMMANDS } from './commands/login.js';
import { MONITOR_COMMANDS } from './commands/monitor-commands.js';
import { NETWORK_WATCHER_COMMANDS } from './commands/network-watcher.js';
import { PACKET_CAPTURE_COMMANDS } from './commands/packet-capture.js';
import { PACKET_CAPTURE_DOWNLOAD_COMMANDS } from './commands/packet-capture-download.js';
import { PACKET_CAPTURE_WAIT_COMMANDS } from './commands/packet-capture-wait.js';
import { SERVER_COMMANDS } from './commands/server.js';
import { STORAGE_ACCOUNT_COMMANDS } from './commands/storage-account.js';
import { UP_COMMANDS } from './commands/up.js';
import { VM_COMMANDS } from './commands/vm.js';
import { VM_EXTENSION_COMMANDS } from './commands/vm-extension.js';
import { VMSS_COMMANDS } from './commands/vmss.js';

/** What long-running commands need beyond the context. */
export interface RunOptions {
  /** Aborts `nw server`, `nw agent` and `nw up` (main.ts wires SIGINT/SIGTERM to it). */
  stop?: AbortSignal;
  /** Server/agent starters (default: imported from src/server and src/agent on demand). */
  starters?: ServiceStarters;
}

/**
 * Every command of `nw`, as its own file declares it, in the order `--help` lists them (a
 * group before what it holds).
 */
export const COMMANDS: readonly Declaration[] = [
  ...VM_COMMANDS,
  ...AGENT_CREDENTIAL_COMMANDS,
  ...VM_EXTENSION_COMMANDS,
  ...JOIN_KEY_COMMANDS,
  ...VMSS_COMMANDS,
  ...STORAGE_ACCOUNT_COMMANDS,
  ...NETWORK_WATCHER_COMMANDS,
  ...PACKET_CAPTURE_COMMANDS,
  ...PACKET_CAPTURE_WAIT_COMMANDS,
  ...PACKET_CAPTURE_DOWNLOAD_COMMANDS,
  ...PACKET_CAPTURE_ANALYZE_COMMANDS,
  ...ALERT_CAPTURE_COMMANDS,
  ...PCAP_COMMANDS,
  ...MONITOR_COMMANDS,
  ...AD_SP_COMMANDS,
  ...LOGIN_COMMANDS,
  ...SERVER_COMMANDS,
  ...ADMIN_TOKEN_COMMANDS,
  ...AZ_RECIPE_COMMANDS,
  ...AGENT_COMMANDS,
  ...UP_COMMANDS,
];

/** The program's own flags, which run without the CLI config (help and version). */
const HELP_FLAGS = ['-h', '--help'];
const VERSION_FLAGS = ['-v', '--version'];

/**
 * How main.ts treats the command argv names (from the declarations; the help and version flags
 * need no config either): undefined for an unknown command, which commander then refuses.
 * @example cliTraits(['server', '--listen', '0.0.0.0:8817']) // { service: true, worksWithoutConfig: true }
 */
export function cliTraits(argv: readonly string[]): CommandTraits | undefined {
  if ([...HELP_FLAGS, ...VERSION_FLAGS].includes(argv[0] ?? '')) return { service: false, worksWithoutConfig: true };
  return traitsOf(argv, COMMANDS);
}

function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Builds the `nw` command tree from COMMANDS. Every action calls a plain command function with
 * the parsed options and the context.
 */
export function buildProgram(ctx: CliContext, run: RunOptions = {}): Command {
  const stop = run.stop ?? new AbortController().signal;
  const program = new Command('nw');
  program
    .description('netwatcher: packet capture for fleets of Linux hosts, with the az network watcher commands')
    .version(packageVersion(), VERSION_FLAGS.join(', '), 'print the version')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out.write(s), writeErr: (s) => ctx.err.write(s) })
    .showHelpAfterError('(add --help for usage)');
  buildCommandTree(program, COMMANDS, { ctx, stop, ...(run.starters ? { starters: run.starters } : {}) });
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

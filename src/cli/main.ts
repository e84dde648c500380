/**
 * Entry of the `nw` command (bin/nw.js loads it). The only place that reads the process:
 * environment, home folder, terminals, signals; everything else gets a CliContext.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { createCaFetch } from './ca-fetch.js';
import { loadCliConfig, resolveConfigPath, DEFAULT_SUBSCRIPTION_ID, type CliConfig } from './config.js';
import type { CliContext, FetchFunction } from './context.js';
import { CliError, ConfigFileError } from './errors.js';
import { cliTraits, runCli } from './program.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  // What the command needs comes from its declaration (program.ts's COMMANDS), not a list here.
  const traits = cliTraits(argv);
  const configPath = resolveConfigPath(process.env, homedir());
  let config: CliConfig;
  try {
    config = await loadCliConfig(configPath, process.env);
  } catch (error) {
    // A broken config file must not stop the commands that do not need it (login rewrites it).
    if (!(error instanceof ConfigFileError)) throw error;
    if (!traits?.worksWithoutConfig) {
      process.stderr.write(error.render() + '\n');
      return error.exitCode;
    }
    config = { subscriptionId: process.env['NW_SUBSCRIPTION'] || DEFAULT_SUBSCRIPTION_ID };
  }

  let fetchFn: FetchFunction = globalThis.fetch;
  if (config.caFile) {
    try {
      fetchFn = createCaFetch(readFileSync(config.caFile));
    } catch (error) {
      const problem = new ConfigFileError(
        configPath,
        `caFile ${config.caFile} cannot be read: ${(error as Error).message}`,
      );
      process.stderr.write(problem.render() + '\n');
      return problem.exitCode;
    }
  }

  const stopController = new AbortController();
  // Only the services shut down gracefully; a client command (wait, download …) stops at once.
  const isService = Boolean(traits?.service);
  let signals = 0;
  const onSignal = () => {
    signals++;
    // A second Ctrl-C while shutting down means "now".
    if (!isService || signals > 1) process.exit(130);
    stopController.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const ctx: CliContext = {
    config,
    configPath,
    out: process.stdout,
    err: process.stderr,
    fetch: fetchFn,
    errIsTty: Boolean(process.stderr.isTTY),
    stdinIsTty: Boolean(process.stdin.isTTY),
    prompt: async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
  try {
    return await runCli(argv, ctx, { stop: stopController.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `ERROR: ${error instanceof CliError ? error.message : String((error as Error)?.stack ?? error)}\n`,
    );
    process.exitCode = 1;
  },
);

import type { Writable } from 'node:stream';
import type { COMMON_OPTIONS, OptionValues } from './command-declaration.js';
import type { CliConfig } from './config.js';
import { UsageError } from './errors.js';

/** The fetch function the CLI uses (global fetch, or one that trusts a given CA). */
export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Everything a command needs from the outside world. main.ts builds it from the process;
 * tests build it with buffers and a fetch pointed at a local server.
 */
export interface CliContext {
  /** Server, token, subscription (file + environment overrides). */
  config: CliConfig;
  /** Where JSON/table output goes (stdout). */
  out: Writable;
  /** Where errors, warnings, debug lines and progress go (stderr). */
  err: Writable;
  /** HTTP. */
  fetch: FetchFunction;
  /** Path of the config file (`nw login` and `nw up` write it). */
  configPath?: string;
  /** Whether stderr is a terminal (download shows progress only then, unless --progress). */
  errIsTty?: boolean;
  /** Whether stdin is a terminal (confirmation prompts). */
  stdinIsTty?: boolean;
  /** Default interval between polls of long-running operations; 500 ms unless a test sets it. */
  pollIntervalInMs?: number;
  /** Asks the user a question on the terminal (absent when there is none). */
  prompt?: (question: string) => Promise<string>;
}

/** Options every leaf command accepts (az's global arguments), from their flag table. */
export type CommonOptions = OptionValues<typeof COMMON_OPTIONS>;

/** Writes a line to a stream. */
export function writeLine(stream: Writable, text: string): void {
  stream.write(text.endsWith('\n') ? text : text + '\n');
}

/**
 * az's confirmation before a delete: true to go on (`--yes`, or the user typed y/yes), false when
 * the user declined. Without a terminal to ask on, a UsageError says to pass --yes, as az does.
 * @example if (!(await confirmOperation(ctx, options.yes))) return;
 */
export async function confirmOperation(ctx: CliContext, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!ctx.prompt || !ctx.stdinIsTty)
    throw new UsageError('Unable to prompt for confirmation as no tty available. Use --yes.');
  const answer = await ctx.prompt('Are you sure you want to perform this operation? (y/n): ');
  return /^y(es)?$/i.test(answer.trim());
}

import { Command, Option } from 'commander';
import type { CliContext, CommonOptions } from './context.js';
import { collectOption } from './option-values.js';
import type { ServiceStarters } from './services.js';

/**
 * The declaration a command file exports for each of its commands: path, help, flags (with their
 * environment bindings) and action. The commander tree, the action's option type and main.ts's
 * view of the commands all come from these objects, so a flag is written down once.
 */

/** One flag of a command, as commander takes it. */
export interface OptionDeclaration {
  /** Commander's flag spelling: `-g, --resource-group <rg>`, `--tags <tags...>`, `--debug`, `--no-wait`. */
  readonly flags: string;
  /** Help text. */
  readonly description: string;
  /** Commander's requiredOption (the command functions check again: tests call them directly). */
  readonly required?: boolean;
  /** Default value (help shows it). */
  readonly default?: string;
  /**
   * The environment variable commander reads when the flag is absent (help shows "(env: …)").
   * Declared here because commander binds a variable only on the option itself.
   */
  readonly env?: string;
  /** Repeatable (`--outbound-deny A --outbound-deny B`): the value is the list of every occurrence. */
  readonly repeatable?: boolean;
  /**
   * What the command function parses the text into; a caller (a test, another command) may pass
   * that instead of text: `--time-limit 60` or `timeLimit: 60`, `--enabled false` or `enabled: false`.
   */
  readonly parsed?: 'number' | 'boolean';
}

/**
 * A command's flags by the name its action reads them under: commander's attribute name
 * (`--resource-group` → `resourceGroup`), or `noX` for a lone `--no-x` (true when given).
 * buildCommandTree checks the names against the flags.
 */
export type OptionTable = Readonly<Record<string, OptionDeclaration>>;

/** The value type a flag spelling gives: `<x...>` a list, `<x>` a string, `[x]` a string or true, none a boolean. */
type FlagValue<D extends OptionDeclaration> = D extends { readonly repeatable: true }
  ? string[]
  : D extends { readonly parsed: 'number' }
    ? string | number
    : D extends { readonly parsed: 'boolean' }
      ? string | boolean
      : D['flags'] extends `${string}...>` | `${string}...]`
        ? string[]
        : D['flags'] extends `${string}[${string}]`
          ? string | boolean
          : D['flags'] extends `${string}<${string}>`
            ? string
            : boolean;

/** `noX` of a `--no-x` whose `--x` is declared too: the pair is one boolean under `x` (false: `--no-x`). */
type TwinKey<T extends OptionTable, K> = K extends `no${infer P}`
  ? Uncapitalize<P> extends keyof T
    ? K
    : never
  : never;

/**
 * The options an action receives, derived from its table (every one optional: the command
 * functions are also called directly, and check their required ones themselves).
 * @example type VmShowOptions = OptionValues<typeof VM_SHOW_OPTIONS>; // { resourceGroup?: string; name?: string }
 */
export type OptionValues<T extends OptionTable> = {
  -readonly [K in keyof T as K extends TwinKey<T, K> ? never : K]?: FlagValue<T[K]>;
};

/** az's global arguments, on every leaf command that talks to the server. */
export const COMMON_OPTIONS = {
  output: {
    flags: '-o, --output <format>',
    description: 'output format: json, jsonc, table, tsv, none',
    default: 'json',
  },
  debug: { flags: '--debug', description: 'print HTTP requests and responses on stderr (secrets redacted)' },
  subscription: { flags: '--subscription <id>', description: 'subscription id (default: the configured one)' },
  onlyShowErrors: { flags: '--only-show-errors', description: 'accepted for az compatibility' },
} as const satisfies OptionTable;

/** What actions get beyond their options. */
export interface CommandRuntime {
  ctx: CliContext;
  /** Aborts the long-running commands (`nw server`, `nw agent`, `nw up`). */
  stop: AbortSignal;
  /** Server/agent starters (default: loaded on demand). */
  starters?: ServiceStarters;
}

/** How main.ts treats a top-level command and everything under it. */
export interface CommandTraits {
  /** Runs until stopped: the first Ctrl-C shuts it down gracefully, the second exits. */
  service?: boolean;
  /** Runs even when the CLI config file is broken (it does not read it, or rewrites it). */
  worksWithoutConfig?: boolean;
}

/** A command with az's common options, or without them (`commonOptions: false`: server, agent, up). */
interface CommandShape<O extends OptionTable> extends CommandTraits {
  /** Words after `nw`: `['vm', 'show']`. Groups on the way are made by their own declarations, in order. */
  readonly path: readonly string[];
  readonly description: string;
  /** Lines of the "Examples:" block after the help (a line starting with # is a comment). */
  readonly examples?: readonly string[];
  /** Whether the command takes az's global arguments (COMMON_OPTIONS); default true. */
  readonly commonOptions?: boolean;
  readonly options?: O;
  /** A positional argument (`nw pcap analyze <file>`). */
  readonly argument?: { readonly name: string; readonly description: string };
}

/** A group: a command that only holds others (`nw vm`, `nw network watcher`). */
export interface GroupDeclaration extends CommandTraits {
  readonly path: readonly string[];
  readonly description: string;
}

/** A command as defineCommand takes it: its action typed by its own table. */
export interface TypedCommandDeclaration<O extends OptionTable> extends CommandShape<O> {
  /** The action: options as declared (plus the common ones), the runtime, the positional arguments. */
  readonly run: (options: OptionValues<O> & CommonOptions, runtime: CommandRuntime, args: string[]) => Promise<unknown>;
}

/** A command as the tree builder sees it (its option type erased). */
export interface CommandDeclaration extends CommandShape<OptionTable> {
  readonly run: (options: Record<string, unknown>, runtime: CommandRuntime, args: string[]) => Promise<unknown>;
}

/** What a command file exports: its groups and commands, in help order. */
export type Declaration = GroupDeclaration | CommandDeclaration;

/**
 * Declares a command; its action's option type comes from its option table.
 * @example defineCommand({ path: ['vm', 'show'], description: 'show one host', options: { name: { flags: '-n, --name <vm>', description: 'name' } }, run: (o, { ctx }) => vmShow(o, ctx) })
 */
export function defineCommand<const O extends OptionTable>(
  declaration: TypedCommandDeclaration<O>,
): CommandDeclaration {
  // The builder hands the action exactly the keys of its table (valuesFor), so the erased view is sound.
  return declaration as unknown as CommandDeclaration;
}

/** Declares a group of commands. */
export function defineGroup(declaration: GroupDeclaration): GroupDeclaration {
  return declaration;
}

/** Whether a declaration has an action (a command rather than a group). */
export function isCommand(declaration: Declaration): declaration is CommandDeclaration {
  return 'run' in declaration;
}

function examplesText(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => (l.startsWith('#') ? `  ${l}` : `    ${l}`)).join('\n')}\n`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function makeOption(key: string, declaration: OptionDeclaration, path: readonly string[]): Option {
  const option = new Option(declaration.flags, declaration.description);
  const expected = option.negate ? `no${capitalize(option.attributeName())}` : option.attributeName();
  if (key !== expected)
    throw new Error(
      `nw ${path.join(' ')}: option ${declaration.flags} is declared as '${key}', expected '${expected}'`,
    );
  if (declaration.required) option.makeOptionMandatory();
  if (declaration.default !== undefined) option.default(declaration.default);
  if (declaration.env) option.env(declaration.env);
  if (declaration.repeatable) option.argParser(collectOption);
  return option;
}

/** The options of a command's table, by key, as commander made them. */
function optionsOf(declaration: CommandDeclaration): Array<[string, OptionDeclaration]> {
  return [
    ...(declaration.commonOptions === false ? [] : Object.entries(COMMON_OPTIONS)),
    ...Object.entries(declaration.options ?? {}),
  ];
}

/**
 * The action's options from commander's: each declared key from its attribute; a lone `--no-x`
 * as `noX: true` when given (commander stores `x: false`); a `--no-x` beside `--x` stays in `x`.
 */
function valuesFor(
  table: Array<[string, OptionDeclaration]>,
  made: Map<string, Option>,
  parsed: Record<string, unknown>,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const positives = new Set([...made.values()].filter((o) => !o.negate).map((o) => o.attributeName()));
  for (const [key] of table) {
    const option = made.get(key)!;
    const value = parsed[option.attributeName()];
    if (option.negate) {
      if (!positives.has(option.attributeName()) && value === false) values[key] = true;
    } else if (value !== undefined) values[key] = value;
  }
  return values;
}

function findChild(parent: Command, name: string): Command | undefined {
  return parent.commands.find((c) => c.name() === name);
}

/**
 * Adds the declarations to the program, in order: each under its parent (declared before it).
 * @example buildCommandTree(program, [...VM_COMMANDS], { ctx, stop });
 */
export function buildCommandTree(
  program: Command,
  declarations: readonly Declaration[],
  runtime: CommandRuntime,
): void {
  for (const declaration of declarations) {
    const parentPath = declaration.path.slice(0, -1);
    let parent = program;
    for (const word of parentPath) {
      const next = findChild(parent, word);
      if (!next)
        throw new Error(`nw ${declaration.path.join(' ')}: its group nw ${parentPath.join(' ')} is declared after it`);
      parent = next;
    }
    const name = declaration.path.at(-1)!;
    if (findChild(parent, name)) throw new Error(`nw ${declaration.path.join(' ')} is declared twice`);
    const command = parent.command(name).description(declaration.description);
    if (!isCommand(declaration)) continue;
    if (declaration.examples) command.addHelpText('after', examplesText(declaration.examples));
    const table = optionsOf(declaration);
    const made = new Map<string, Option>();
    for (const [key, option] of table) {
      const commanderOption = makeOption(key, option, declaration.path);
      made.set(key, commanderOption);
      command.addOption(commanderOption);
    }
    if (declaration.argument) command.argument(`<${declaration.argument.name}>`, declaration.argument.description);
    command.action(async (...actionArgs: unknown[]) => {
      // Commander calls an action with the positional arguments, its options and the command.
      const parsed = actionArgs.at(-2) as Record<string, unknown>;
      const args = actionArgs.slice(0, -2) as string[];
      await declaration.run(valuesFor(table, made, parsed), runtime, args);
    });
  }
}

/**
 * The traits of the command argv names (its top-level word decides, so `nw server
 * rotate-admin-token` is treated as `nw server`); undefined for no declared command.
 * @example traitsOf(['up', '--listen', '0.0.0.0:8817'], declarations) // { service: true, worksWithoutConfig: true }
 */
export function traitsOf(argv: readonly string[], declarations: readonly Declaration[]): CommandTraits | undefined {
  const word = argv[0];
  const top = declarations.find((d) => d.path.length === 1 && d.path[0] === word);
  if (!top) return undefined;
  return {
    service: Boolean(top.service),
    worksWithoutConfig: Boolean(top.worksWithoutConfig),
  };
}

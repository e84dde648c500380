import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ServerConfig } from '../server/index.js';
import { loadCliConfig, resolveConfigPath } from './config.js';
import { buildProgram, runCli } from './program.js';
import type { ServiceStarters } from './services.js';
import { createTestContext } from './testing/canned-arm-server.js';

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

test('every option bound to a variable says so once in its help (commander adds "(env: …)")', () => {
  const program = buildProgram(createTestContext('http://127.0.0.1:1'));
  let bound = 0;
  for (const command of allCommands(program)) {
    for (const option of command.options) {
      if (option.envVar) bound++;
      assert.doesNotMatch(
        option.description,
        /\benv\b/i,
        `${command.name()} ${option.long}: the variable belongs in .env(), not the text`,
      );
    }
    const help = command.helpInformation();
    for (const name of help.match(/\(env:\s+[A-Z_]+\)/g) ?? [])
      assert.equal(help.split(name).length - 1, 1, `${command.name()}: ${name} once`);
  }
  assert.ok(bound >= 5, 'NW_DATABASE_URL (server, up) and the storage secrets are bound');
});

test('NW_DATABASE_URL reaches nw server (a binding added after the option was never read)', async () => {
  const seen: ServerConfig[] = [];
  const starters: ServiceStarters = {
    startServer: async (config) => {
      seen.push(config);
      return { url: 'http://127.0.0.1:1', adminToken: 't', close: async () => {} };
    },
    startAgent: async () => {
      throw new Error('not used');
    },
    adminTokenFile: 'admin-token',
    defaultStorageAccountName: 'nwlocal',
    defaultResourceGroup: 'NetworkWatcherRG',
  };
  const stop = new AbortController();
  stop.abort();
  const saved = process.env.NW_DATABASE_URL;
  process.env.NW_DATABASE_URL = 'postgres://nw@db.example/netwatcher';
  try {
    const ctx = createTestContext('http://127.0.0.1:1');
    const code = await runCli(
      ['server', '--listen', '127.0.0.1:0', '--data-dir', `/tmp/nw-env-options-${process.pid}`],
      ctx,
      { stop: stop.signal, starters },
    );
    assert.equal(code, 0, ctx.stderr());
    assert.equal(seen[0]?.databaseUrl, 'postgres://nw@db.example/netwatcher');
    // The flag wins over the variable.
    await runCli(
      [
        'server',
        '--listen',
        '127.0.0.1:0',
        '--data-dir',
        `/tmp/nw-env-options-${process.pid}`,
        '--database-url',
        'postgres://nw@other/x',
      ],
      ctx,
      { stop: stop.signal, starters },
    );
    assert.equal(seen[1]?.databaseUrl, 'postgres://nw@other/x');
  } finally {
    if (saved === undefined) delete process.env.NW_DATABASE_URL;
    else process.env.NW_DATABASE_URL = saved;
  }
});

/** `nw server rotate-admin-token` → the command of the tree (undefined when there is none). */
function findCommand(program: Command, words: readonly string[]): Command | undefined {
  let command: Command | undefined = program;
  for (const word of words) command = command?.commands.find((c) => c.name() === word);
  return command;
}

/**
 * The bindings docs/cli.md promises: its configuration table (`VAR` | `nw … --flag`, …) and
 * the option tables of each `nw …` section (`--flag …` | … env `VAR` …).
 */
function documentedBindings(markdown: string): {
  bindings: Array<{ variable: string; words: string[]; flag: string; where: string }>;
  configVariables: string[];
} {
  const bindings: Array<{ variable: string; words: string[]; flag: string; where: string }> = [];
  const configVariables: string[] = [];
  let section: string[] | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^#{2,3} `nw ([a-z -]+)`/.exec(line);
    if (heading) section = heading[1]!.trim().split(/\s+/);
    else if (/^#{1,3} /.test(line)) section = undefined;
    if (!line.startsWith('|')) continue;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1);
    if (cells.length < 2) continue;
    const variables = [...cells[0]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
    if (variables.length > 0) {
      // A configuration-table row: the commands and flags it names, or the config file it overrides.
      const targets = [...cells[1]!.matchAll(/`nw ([a-z -]+?) (--[a-z-]+)`/g)];
      if (targets.length === 0) configVariables.push(...variables);
      for (const variable of variables)
        for (const t of targets)
          bindings.push({ variable, words: t[1]!.split(' '), flag: t[2]!, where: `configuration: ${variable}` });
      continue;
    }
    const flag = /^\s*`(--[a-z-]+)/.exec(cells[0]!)?.[1];
    const env = /\benv `([A-Z][A-Z0-9_]+)`/.exec(cells.slice(1).join('|'))?.[1];
    if (flag && env && section)
      bindings.push({ variable: env, words: section, flag, where: `nw ${section.join(' ')}` });
  }
  return { bindings, configVariables };
}

test("every environment binding docs/cli.md promises is declared on the command's option, and none other", async () => {
  const markdown = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  const { bindings, configVariables } = documentedBindings(markdown);
  const program = buildProgram(createTestContext('http://127.0.0.1:1'));
  const promised = new Set<string>();
  for (const { variable, words, flag, where } of bindings) {
    const command = findCommand(program, words);
    assert.ok(command, `${where}: docs name nw ${words.join(' ')}, which does not exist`);
    const option = command.options.find((o) => o.long === flag);
    assert.ok(option, `${where}: nw ${words.join(' ')} has no ${flag}`);
    assert.equal(option.envVar, variable, `${where}: nw ${words.join(' ')} ${flag} is bound to ${variable}`);
    promised.add(`${words.join(' ')} ${flag}`);
  }
  for (const expected of ['server --database-url', 'up --database-url', 'server rotate-admin-token --database-url'])
    assert.ok(promised.has(expected), `docs promise NW_DATABASE_URL for nw ${expected}`);
  // Every binding the CLI has is one the docs promise (so the docs stay true).
  const visit = (command: Command, words: string[]): void => {
    for (const option of command.options)
      if (option.envVar)
        assert.ok(
          promised.has(`${words.join(' ')} ${option.long}`),
          `nw ${words.join(' ')} ${option.long} reads ${option.envVar}: docs/cli.md's configuration table must say so`,
        );
    for (const sub of command.commands) visit(sub, [...words, sub.name()]);
  };
  visit(program, []);
  // The rows without a flag are read by the config loader, not by an option.
  assert.deepEqual(configVariables.sort(), ['NW_CONFIG', 'NW_SERVER', 'NW_SUBSCRIPTION', 'NW_TOKEN']);
  assert.equal(resolveConfigPath({ NW_CONFIG: '/tmp/nw-cli-config.json' }, '/home/x'), '/tmp/nw-cli-config.json');
  const config = await loadCliConfig(`/tmp/nw-env-options-missing-${process.pid}.json`, {
    NW_SERVER: 'http://nw.example:8817/',
    NW_TOKEN: 't0k',
    NW_SUBSCRIPTION: '11111111-1111-1111-1111-111111111111',
  });
  assert.deepEqual(
    { server: config.server, token: config.token, subscriptionId: config.subscriptionId },
    { server: 'http://nw.example:8817', token: 't0k', subscriptionId: '11111111-1111-1111-1111-111111111111' },
  );
});

test('NW_DATABASE_URL reaches nw up', async () => {
  const seen: ServerConfig[] = [];
  const starters: ServiceStarters = {
    startServer: async (config) => {
      seen.push(config);
      throw new Error('stop here: the configuration was seen');
    },
    startAgent: async () => {
      throw new Error('not used');
    },
    adminTokenFile: 'admin-token',
    defaultStorageAccountName: 'nwlocal',
    defaultResourceGroup: 'NetworkWatcherRG',
  };
  const saved = process.env.NW_DATABASE_URL;
  process.env.NW_DATABASE_URL = 'postgres://nw@db.example/up';
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-env-options-up-'));
  try {
    const ctx = createTestContext('http://127.0.0.1:1', { configPath: join(dataDir, 'config.json') });
    const code = await runCli(['up', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--no-tls'], ctx, {
      starters,
    });
    assert.equal(code, 1, ctx.stderr());
    assert.match(ctx.stderr(), /stop here/);
    assert.equal(seen[0]?.databaseUrl, 'postgres://nw@db.example/up');
  } finally {
    if (saved === undefined) delete process.env.NW_DATABASE_URL;
    else process.env.NW_DATABASE_URL = saved;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

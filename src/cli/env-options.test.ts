import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import type { ServerConfig } from '../server/index.js';
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

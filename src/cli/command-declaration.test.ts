import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { buildCommandTree, defineCommand, defineGroup, isCommand, type CommandRuntime } from './command-declaration.js';
import { buildProgram, cliTraits, COMMANDS } from './program.js';
import { createTestContext } from './testing/canned-arm-server.js';

function runtime(): CommandRuntime {
  return { ctx: createTestContext('http://127.0.0.1:1'), stop: new AbortController().signal };
}

function program(): Command {
  return new Command('nw').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
}

test('the action gets exactly its declared options, under their declared names', async () => {
  const seen: Array<{ options: Record<string, unknown>; args: string[] }> = [];
  const tree = program();
  buildCommandTree(
    tree,
    [
      defineGroup({ path: ['thing'], description: 'things' }),
      defineCommand({
        path: ['thing', 'make'],
        description: 'make one',
        commonOptions: false,
        argument: { name: 'file', description: 'a file' },
        options: {
          resourceGroup: { flags: '-g, --resource-group <rg>', description: 'rg', required: true },
          tags: { flags: '--tags <tags...>', description: 'tags' },
          deny: { flags: '--deny <cidr>', description: 'repeatable', repeatable: true },
          noWait: { flags: '--no-wait', description: 'lone negation' },
          tls: { flags: '--tls', description: 'pair' },
          noTls: { flags: '--no-tls', description: 'pair' },
          level: { flags: '--level <n>', description: 'with a default', default: '3' },
        },
        run: async (options, _runtime, args) => {
          // Types come from the table: a string, lists, booleans; the twin --no-tls has no key of its own.
          const rg: string | undefined = options.resourceGroup;
          const tags: string[] | undefined = options.tags;
          const wait: boolean | undefined = options.noWait;
          // @ts-expect-error the --no-tls of a --tls pair is the pair's `tls: false`
          void options.noTls;
          void [rg, tags, wait];
          seen.push({ options, args });
        },
      }),
    ],
    runtime(),
  );
  await tree.parseAsync(
    ['thing', 'make', 'a.pcap', '-g', 'rg1', '--tags', 'a=1', 'b=2', '--deny', '10.0.0.0/8', '--deny', '::1/128'],
    { from: 'user' },
  );
  assert.deepEqual(seen[0], {
    options: { resourceGroup: 'rg1', tags: ['a=1', 'b=2'], deny: ['10.0.0.0/8', '::1/128'], level: '3' },
    args: ['a.pcap'],
  });
  await tree.parseAsync(['thing', 'make', 'b', '-g', 'rg1', '--no-wait', '--no-tls', '--level', '5'], { from: 'user' });
  assert.deepEqual(seen[1]?.options, { resourceGroup: 'rg1', noWait: true, tls: false, level: '5' });
  await tree.parseAsync(['thing', 'make', 'c', '-g', 'rg1', '--tls'], { from: 'user' });
  assert.deepEqual(seen[2]?.options, { resourceGroup: 'rg1', tls: true, level: '3' });
});

test('a declared name that is not the flag’s is refused when the tree is built', () => {
  assert.throws(
    () =>
      buildCommandTree(
        program(),
        [
          defineCommand({
            path: ['x'],
            description: 'x',
            options: { group: { flags: '-g, --resource-group <rg>', description: 'rg' } },
            run: async () => {},
          }),
        ],
        runtime(),
      ),
    /--resource-group <rg> is declared as 'group', expected 'resourceGroup'/,
  );
  assert.throws(
    () =>
      buildCommandTree(
        program(),
        [
          defineCommand({
            path: ['x'],
            description: 'x',
            options: { wait: { flags: '--no-wait', description: 'w' } },
            run: async () => {},
          }),
        ],
        runtime(),
      ),
    /expected 'noWait'/,
  );
  assert.throws(
    () => buildCommandTree(program(), [defineGroup({ path: ['a', 'b'], description: 'b' })], runtime()),
    /its group nw a is declared after it/,
  );
});

test('an option bound to a variable reads it when the flag is absent', async () => {
  const seen: Array<Record<string, unknown>> = [];
  const tree = program();
  buildCommandTree(
    tree,
    [
      defineCommand({
        path: ['serve'],
        description: 's',
        commonOptions: false,
        options: { databaseUrl: { flags: '--database-url <url>', description: 'db', env: 'NW_TEST_DECLARATION_URL' } },
        run: async (options) => {
          seen.push(options);
        },
      }),
    ],
    runtime(),
  );
  process.env.NW_TEST_DECLARATION_URL = 'postgres://env';
  try {
    await tree.parseAsync(['serve'], { from: 'user' });
    await tree.parseAsync(['serve', '--database-url', 'postgres://flag'], { from: 'user' });
  } finally {
    delete process.env.NW_TEST_DECLARATION_URL;
  }
  assert.deepEqual(seen, [{ databaseUrl: 'postgres://env' }, { databaseUrl: 'postgres://flag' }]);
});

function walk(command: Command, words: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...words, c.name()], ...walk(c, [...words, c.name()])]);
}

test("every command of nw's tree is a declaration of COMMANDS, and main.ts's dispatch knows each", () => {
  const tree = buildProgram(createTestContext('http://127.0.0.1:1'));
  const declared = COMMANDS.map((d) => d.path.join(' '));
  assert.deepEqual(
    walk(tree).map((w) => w.join(' ')),
    declared,
    'the tree holds the declarations and nothing registered beside them',
  );
  for (const top of tree.commands) assert.ok(cliTraits([top.name()]), `main.ts sees nw ${top.name()}`);
  assert.equal(cliTraits(['no-such-command']), undefined);
  // What main.ts decides from them (the lists it kept before): services, and what runs without the config.
  const services = tree.commands.filter((c) => cliTraits([c.name()])?.service).map((c) => c.name());
  const withoutConfig = tree.commands.filter((c) => cliTraits([c.name()])?.worksWithoutConfig).map((c) => c.name());
  assert.deepEqual(services, ['server', 'agent', 'up']);
  assert.deepEqual(withoutConfig, ['login', 'server', 'agent', 'up']);
  assert.deepEqual(cliTraits(['server', 'rotate-admin-token']), { service: true, worksWithoutConfig: true });
  for (const flag of ['-h', '--help', '-v', '--version'])
    assert.deepEqual(cliTraits([flag]), { service: false, worksWithoutConfig: true }, flag);
  assert.ok(COMMANDS.filter(isCommand).length >= 70);
});

test('main.ts names no command: what it needs to know comes from the declarations', () => {
  const source = readFileSync(new URL('./main.ts', import.meta.url), 'utf8');
  const names = new Set(COMMANDS.flatMap((d) => d.path));
  const literals = [...source.matchAll(/'([^'\n]*)'|"([^"\n]*)"/g)].map((m) => m[1] ?? m[2] ?? '');
  const named = literals.filter((l) => names.has(l));
  assert.deepEqual(named, [], 'main.ts asks cliTraits(argv) instead of listing command names');
});

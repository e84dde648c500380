import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SUBSCRIPTION_ID, loadCliConfig, resolveConfigPath, saveCliConfig } from './config.js';
import { ConfigFileError } from './errors.js';

describe('CLI config', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nw-cli-config-'));
  after(() => rm(dir, { recursive: true, force: true }));

  test('the path is NW_CONFIG, else ~/.config/netwatcher/config.json', () => {
    assert.equal(resolveConfigPath({ NW_CONFIG: '/etc/nw.json' }, '/home/u'), '/etc/nw.json');
    assert.equal(resolveConfigPath({}, '/home/u'), '/home/u/.config/netwatcher/config.json');
  });

  test('a missing file is an empty config with the zero subscription', async () => {
    assert.deepEqual(await loadCliConfig(join(dir, 'none.json'), {}), { subscriptionId: DEFAULT_SUBSCRIPTION_ID });
  });

  test('save writes mode 0600 in a new folder, load reads it back, env overrides win', async () => {
    const path = join(dir, 'sub', 'config.json');
    await saveCliConfig(path, {
      server: 'https://nw.example:8817',
      token: 'tok',
      subscriptionId: 'sub1',
      caFile: '/ca.pem',
    });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await loadCliConfig(path, {}), {
      server: 'https://nw.example:8817',
      token: 'tok',
      subscriptionId: 'sub1',
      caFile: '/ca.pem',
    });
    const overridden = await loadCliConfig(path, {
      NW_SERVER: 'http://127.0.0.1:1/',
      NW_TOKEN: 'other',
      NW_SUBSCRIPTION: 'sub2',
    });
    assert.deepEqual(overridden, {
      server: 'http://127.0.0.1:1',
      token: 'other',
      subscriptionId: 'sub2',
      caFile: '/ca.pem',
    });
    assert.ok(!(await readFile(path, 'utf8')).includes('undefined'));
  });

  test('a malformed file is a ConfigFileError naming the file', async () => {
    const path = join(dir, 'bad.json');
    await writeFile(path, '{ not json');
    await assert.rejects(
      loadCliConfig(path, {}),
      (e: unknown) => e instanceof ConfigFileError && e.message.includes(path),
    );
    await writeFile(path, '{"server": 42}');
    await assert.rejects(loadCliConfig(path, {}), /"server" must be a string/);
  });
});

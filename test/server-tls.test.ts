/**
 * `nw server --tls-self-signed`: https with a certificate of its own, which a client trusts by
 * `nw login --ca-file`; a client without the CA is refused.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NW_BIN, runCommand, stopProcess } from './lab/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'nw-server-tls-'));
const server = spawn(
  process.execPath,
  [
    NW_BIN,
    'server',
    '--tls-self-signed',
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    join(dir, 'data'),
    '--log-level',
    'warn',
  ],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
after(async () => {
  await stopProcess(server);
  rmSync(dir, { recursive: true, force: true });
});

test('serves https with its own certificate; nw login --ca-file trusts it', async () => {
  let out = '';
  server.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  server.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 30_000;
  while (!/listening on (https:\/\/\S+)/.test(out)) {
    assert.ok(Date.now() < deadline && server.exitCode === null, `server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = /listening on (https:\/\/\S+)/.exec(out)![1]!;
  const certPath = join(dir, 'data', 'tls', 'server.crt');
  const caPath = existsSync(certPath) ? certPath : /certificate (\S+)/.exec(out)![1]!;
  assert.match(out, /SHA-256 [0-9a-f:]+/i);
  const env = { ...process.env, NW_CONFIG: join(dir, 'cli.json') };
  const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
  const noCa = await runCommand(process.execPath, [NW_BIN, 'login', '--server', url, '--token', token], { env });
  assert.notEqual(noCa.code, 0, 'a client that does not trust the certificate is refused');
  const login = await runCommand(
    process.execPath,
    [NW_BIN, 'login', '--server', url, '--token', token, '--ca-file', caPath],
    { env },
  );
  assert.equal(login.code, 0, login.stderr);
  const list = await runCommand(process.execPath, [NW_BIN, 'storage', 'account', 'list'], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /nwlocal/);
});

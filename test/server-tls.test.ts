/**
 * `nw server --tls-self-signed`: https with a certificate of its own, which a client trusts by
 * `nw login --ca-file`; a client without the CA is refused.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NW_BIN, runCommand, stopProcess } from './lab/lab.js';
import { startSelfSignedServer, type SelfSignedServer } from './lab/self-signed-server.js';

const dir = mkdtempSync(join(tmpdir(), 'nw-server-tls-'));
let server: SelfSignedServer | undefined;
after(async () => {
  if (server) await stopProcess(server.process);
  rmSync(dir, { recursive: true, force: true });
});

test('serves https with its own certificate; nw login --ca-file trusts it', async () => {
  server = await startSelfSignedServer(join(dir, 'data'));
  const { url, caPath, adminToken: token } = server;
  assert.match(server.output(), /SHA-256 [0-9a-f:]+/i);
  const env = { ...process.env, NW_CONFIG: join(dir, 'cli.json') };
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

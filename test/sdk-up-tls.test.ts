/**
 * `nw up --tls`: a self-signed certificate for this host's names kept in DATA_DIR/tls/, the CLI
 * configured to trust it, the in-process agent connected over https, Azure's SDK trusting it
 * through NODE_EXTRA_CA_CERTS, and the same certificate again on the next start.
 * Runs on loopback in the root namespace; no capture is started.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateSha256 } from '../src/lib/index.js';
import { NW_BIN, runCommand, stopProcess } from './lab/lab.js';
import { SdkProcess } from './sdk/sdk-process.js';

describe('nw up --tls', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nw-up-tls-'));
  const dataDir = join(dir, 'data');
  const env = { ...process.env, NW_CONFIG: join(dir, 'config.json') };
  let up: ChildProcess | null = null;
  after(async () => {
    await stopProcess(up);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `nw up --tls` and resolves with its output once it says ready. */
  const startUp = async (): Promise<{ url: string; output: string }> => {
    const child = spawn(
      process.execPath,
      [
        NW_BIN,
        'up',
        '--tls',
        '--data-dir',
        dataDir,
        '--listen',
        '127.0.0.1:0',
        '--vm-name',
        'upvm',
        '--resource-group',
        'uprg',
        '--location',
        'uploc',
        '--interface',
        'lo',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    up = child;
    let output = '';
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const deadline = Date.now() + 60_000;
    while (!/\nready\n/.test(output)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nw up did not get ready:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = /netwatcher is running at (https:\/\/\S+) /.exec(output)?.[1];
    assert.ok(url, output);
    return { url, output };
  };

  test('makes a certificate for the host, configures the CLI to trust it, and keeps it for the next start', async () => {
    const first = await startUp();
    const certPath = join(dataDir, 'tls', 'cert.pem');
    assert.match(
      first.output,
      new RegExp(`TLS: made a self-signed certificate ${certPath.replace(/[.]/g, '\\.')} for `),
    );
    assert.match(first.output, new RegExp(`NODE_EXTRA_CA_CERTS=${certPath.replace(/[.]/g, '\\.')}`));
    const cert = new X509Certificate(readFileSync(certPath));
    for (const name of [hostname().split('.')[0]!, 'localhost'])
      assert.ok(cert.checkHost(name), `certificate covers ${name}`);
    for (const ip of ['127.0.0.1', '::1']) assert.ok(cert.checkIP(ip), `certificate covers ${ip}`);
    assert.equal(
      statSync(join(dataDir, 'tls', 'key.pem')).mode & 0o777,
      0o600,
      'the key is readable by its owner only',
    );

    const config = JSON.parse(readFileSync(env.NW_CONFIG, 'utf8')) as { server: string; caFile: string };
    assert.equal(config.server, first.url);
    assert.equal(config.caFile, certPath);
    const watchers = await runCommand(process.execPath, [NW_BIN, 'network', 'watcher', 'list'], { env });
    assert.equal(watchers.code, 0, watchers.stderr);
    assert.ok((JSON.parse(watchers.stdout) as Array<{ location: string }>).some((w) => w.location === 'uploc'));

    // Azure's SDK trusts it through NODE_EXTRA_CA_CERTS; the in-process agent connected over https.
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const sdk = await SdkProcess.start({ endpoint: first.url, token, caFile: certPath });
    try {
      const ext = await sdk.call('compute', 'virtualMachineExtensions.get', 'uprg', 'upvm', 'NetworkWatcherAgentLinux');
      assert.equal(ext.provisioningState, 'Succeeded');
    } finally {
      await sdk.close();
    }

    const fingerprint = certificateSha256(readFileSync(certPath, 'utf8'));
    await stopProcess(up);
    const second = await startUp();
    assert.match(second.output, /TLS: using the self-signed certificate/);
    assert.equal(certificateSha256(readFileSync(certPath, 'utf8')), fingerprint, 'clients that trust it keep working');
  });
});

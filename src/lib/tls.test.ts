import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CaPinMismatchError,
  certificateSha256,
  createSelfSignedCertificate,
  ensurePinnedCaFile,
  ensureSelfSignedCertificate,
  fetchPinnedCertificate,
  ipAddressBytes,
  normalizeSha256Fingerprint,
  selfSignedRootOf,
  trustCaInProcess,
} from './tls.js';

const dir = mkdtempSync(join(tmpdir(), 'nw-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An https server on 127.0.0.1 with the given pair; answers `body` on every path. */
async function serve(certPem: string, keyPem: string, body = 'ok'): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: certPem, key: keyPem }, (_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

/** GET with Node's verification on, trusting `ca`; resolves the body or rejects with the TLS error. */
function get(port: number, ca: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', ca, ...(servername ? { servername } : {}) }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
      });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('self-signed certificates', () => {
  const pair = createSelfSignedCertificate({ names: ['nwhost', 'localhost', '127.0.0.1', '::1', '10.0.0.1'] });
  const cert = new X509Certificate(pair.certPem);

  test('is a v3 CA certificate for every name, signed by itself', () => {
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, 'CN=nwhost');
    assert.equal(
      cert.subjectAltName,
      'DNS:nwhost, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.1',
    );
    assert.ok(cert.checkIssued(cert));
    assert.ok(cert.verify(cert.publicKey));
    assert.equal(cert.checkIP('10.0.0.1'), '10.0.0.1');
    assert.equal(cert.checkIP('10.0.0.2'), undefined);
    assert.equal(cert.checkHost('nwhost'), 'nwhost');
    const days = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 824 && days < 826, `valid for ${days} days`);
  });

  test('a TLS client that trusts it connects by IP and name, and refuses other names and untrusted clients', async () => {
    const { server, port } = await serve(pair.certPem, pair.keyPem);
    try {
      assert.equal(await get(port, pair.certPem), 'ok', 'by IP address');
      assert.equal(await get(port, pair.certPem, 'localhost'), 'ok', 'by name');
      await assert.rejects(get(port, pair.certPem, 'other.example'), /altnames|Hostname/i);
      const other = createSelfSignedCertificate({ names: ['localhost'] });
      await assert.rejects(
        get(port, other.certPem, 'localhost'),
        (e: NodeJS.ErrnoException) =>
          e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || e.code === 'SELF_SIGNED_CERT_IN_CHAIN',
      );
    } finally {
      server.close();
    }
  });

  test('IPv6 and IPv4 address bytes', () => {
    assert.equal(ipAddressBytes('::1').toString('hex'), '00000000000000000000000000000001');
    assert.equal(ipAddressBytes('fd00:db8::1:2').toString('hex'), 'fd000db8000000000000000000010002');
    assert.equal(ipAddressBytes('::ffff:10.0.0.1').toString('hex'), '00000000000000000000ffff0a000001');
    assert.equal(ipAddressBytes('192.168.1.2').toString('hex'), 'c0a80102');
    assert.throws(() => ipAddressBytes('nope'));
  });

  test("fingerprints match openssl's and are normalized from pasted forms", () => {
    const fp = certificateSha256(pair.certPem);
    assert.equal(fp, cert.fingerprint256.replace(/:/g, '').toLowerCase());
    assert.equal(normalizeSha256Fingerprint(cert.fingerprint256), fp);
    assert.equal(normalizeSha256Fingerprint(`sha256:${fp.toUpperCase()}`), fp);
    assert.throws(() => normalizeSha256Fingerprint('abc'));
  });

  test('the self-signed root of a chain, none for a chain that ends below a root', () => {
    assert.equal(selfSignedRootOf(pair.certPem)?.sha256, certificateSha256(pair.certPem));
    assert.equal(selfSignedRootOf(''), null);
  });
});

describe('kept server certificate', () => {
  test('made once, reused while it covers the names, remade for a new name or near expiry', () => {
    const tlsDir = join(dir, 'tls');
    const first = ensureSelfSignedCertificate(tlsDir, ['localhost', '127.0.0.1']);
    assert.equal(first.created, true);
    assert.equal(statSync(first.keyPath).mode & 0o777, 0o600);
    const again = ensureSelfSignedCertificate(tlsDir, ['127.0.0.1', 'localhost']);
    assert.equal(again.created, false);
    assert.equal(again.sha256, first.sha256);
    const wider = ensureSelfSignedCertificate(tlsDir, ['localhost', '127.0.0.1', '10.9.9.9']);
    assert.equal(wider.created, true);
    assert.notEqual(wider.sha256, first.sha256);
    const later = ensureSelfSignedCertificate(tlsDir, ['localhost'], new Date(Date.now() + 810 * 86_400_000));
    assert.equal(later.created, true, 'renewed within 30 days of expiry');
    writeFileSync(later.certPath, 'garbage');
    assert.equal(ensureSelfSignedCertificate(tlsDir, ['localhost']).created, true, 'a damaged file is replaced');
  });
});

describe('pinned CA download', () => {
  test('accepts the certificate with the pinned fingerprint only, and keeps a matching file', async () => {
    const pair = createSelfSignedCertificate({ names: ['127.0.0.1'] });
    const { server, port } = await serve(pair.certPem, pair.keyPem, pair.certPem);
    try {
      const url = `https://127.0.0.1:${port}/agent/v1/ca.pem`;
      const pin = certificateSha256(pair.certPem);
      assert.equal(certificateSha256(await fetchPinnedCertificate(url, pin)), pin);
      await assert.rejects(fetchPinnedCertificate(url, 'a'.repeat(64)), CaPinMismatchError);
      await assert.rejects(fetchPinnedCertificate(url.replace('https', 'http'), pin), /https only/);
      const caFile = join(dir, 'agent', 'server-ca.pem');
      await ensurePinnedCaFile(caFile, url, pin);
      assert.equal(certificateSha256(readFileSync(caFile, 'utf8')), pin);
      server.close();
      // The file matches: no download needed (the server is gone).
      assert.equal(await ensurePinnedCaFile(caFile, url, pin), caFile);
      await assert.rejects(ensurePinnedCaFile(caFile, url, 'b'.repeat(64)));
    } finally {
      server.close();
    }
  });
});

describe('process-wide trust', () => {
  test('node:https requests without their own CA trust an added one, and public roots stay', async () => {
    const pair = createSelfSignedCertificate({ names: ['127.0.0.1'] });
    const { server, port } = await serve(pair.certPem, pair.keyPem);
    const plainGet = () =>
      new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/' }, (res) => {
          let t = '';
          res.on('data', (d: Buffer) => {
            t += d.toString();
          });
          res.on('end', () => resolve(t));
        })
          .on('error', reject)
          .end();
      });
    try {
      await assert.rejects(plainGet(), /self.signed/i);
      trustCaInProcess(pair.certPem);
      trustCaInProcess(pair.certPem);
      assert.equal(await plainGet(), 'ok');
      const { globalAgent } = await import('node:https');
      const { rootCertificates } = await import('node:tls');
      assert.equal((globalAgent.options.ca as string[]).length, rootCertificates.length + 1);
    } finally {
      server.close();
    }
  });
});

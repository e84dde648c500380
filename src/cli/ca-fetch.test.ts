import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCaFetch } from './ca-fetch.js';

const run = promisify(execFile);

describe('createCaFetch (https with a private CA)', () => {
  let dir: string;
  let cert: Buffer;
  let https: Server;
  let plain: HttpServer;
  let httpsUrl: string;
  let plainUrl: string;
  const seen: IncomingHttpHeaders[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nw-cli-ca-'));
    // A self-signed CA certificate for 127.0.0.1 (the Azure SDK sends bearer tokens over https only).
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ]);
    cert = await readFile(join(dir, 'cert.pem'));
    plain = createHttpServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('redirected');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    https = createHttpsServer({ key: await readFile(join(dir, 'key.pem')), cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/redirect') return void res.writeHead(302, { location: `${plainUrl}/target` }).end();
        if (req.url === '/empty') return void res.writeHead(204).end();
        res.writeHead(201, { 'content-type': 'application/json', 'x-echo-auth': req.headers.authorization ?? '' });
        res.end(JSON.stringify({ method: req.method, body: Buffer.concat(chunks).toString('utf8') }));
      });
    });
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
    httpsUrl = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
  });
  after(async () => {
    https.closeAllConnections();
    plain.closeAllConnections();
    await new Promise((r) => https.close(r));
    await new Promise((r) => plain.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  test('the global fetch refuses the private certificate (so the next test means something)', async () => {
    await assert.rejects(fetch(`${httpsUrl}/x`));
  });

  test('trusts the CA: method, headers, body and status come through', async () => {
    const response = await createCaFetch(cert)(`${httpsUrl}/x`, {
      method: 'PUT',
      headers: { Authorization: 'Bearer t' },
      body: '{"a":1}',
    });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('x-echo-auth'), 'Bearer t');
    assert.deepEqual(await response.json(), { method: 'PUT', body: '{"a":1}' });
  });

  test('204 has an empty body', async () => {
    const response = await createCaFetch(cert)(`${httpsUrl}/empty`);
    assert.equal(response.status, 204);
    assert.equal(await response.text(), '');
  });

  test('follows a redirect to another origin without the Authorization header', async () => {
    const response = await createCaFetch(cert)(`${httpsUrl}/redirect`, { headers: { Authorization: 'Bearer secret' } });
    assert.equal(await response.text(), 'redirected');
    assert.equal(seen[0]!.authorization, undefined);
  });
});

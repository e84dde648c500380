/**
 * Storage accounts through the whole product (CLI → server → agent in a lab host → storage), the
 * same capture-and-download checks for each kind: local (a folder of the server), Azure Blob
 * (Azurite) and S3 (OpenStack Swift's s3api). Azurite and Swift run inside the lab's server
 * namespace: the server and the agents reach them at 10.0.0.1 (so SAS and presigned URLs are
 * signed for that host), and this process at the root link's address.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { readPcapBuffer } from '../src/pcap/index.js';
import {
  AGENT_PROTOCOL_VERSION,
  type AgentCaptureState,
  type AgentToServer,
  type ServerToAgent,
} from '../src/model/index.js';
import { CAPTURE_CONTAINER, uploadFile, type BlobStore, type UploadGrant } from '../src/storage/index.js';
import {
  sha256OfStream,
  writeRandomCaptureFile,
  type AzuriteServer,
  type S3TestServer,
} from '../src/storage/testing/index.js';
import { Lab, type LabAgent, type LabHost } from './lab/lab.js';
import { createAzureAccount, createS3Account, openDirectStore, startLabStorage } from './lab/storage.js';

const LOC = 'westcentralus';
const SUB = '00000000-0000-0000-0000-000000000000';
const WATCHER = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${LOC}`;
const BUCKET = `nwcaps${process.pid}`;
const UDP_PORT = 9999;

// Sends `count` UDP datagrams of `size` bytes to host:port, one after another (no drops to the
// sender's own queue), then prints "sent".
const UDP_SENDER = `
const dgram = require('dgram');
const [host, port, count, size] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const socket = dgram.createSocket('udp4');
const payload = Buffer.alloc(size, 7);
let sent = 0;
const next = () => { if (sent === count) { socket.close(); console.log('sent'); return; } sent++; socket.send(payload, port, host, next); };
next();
`;

// PUTs a file to a URL from inside a lab host (where 10.0.0.1 is reachable) and prints the status.
const PUT_FILE = `
const [url, headers, path] = [process.argv[1], JSON.parse(process.argv[2]), process.argv[3]];
fetch(url, { method: 'PUT', headers, body: require('fs').readFileSync(path) }).then(async (r) => { await r.text(); console.log('status ' + r.status); }, (e) => console.log('error ' + e.message));
`;

/**
 * A host's agent played by this process over the real agent protocol (enrolment, WebSocket), to
 * get real upload grants from the server and use them in ways a good agent never would.
 */
class ProtocolAgent {
  private readonly inbox: ServerToAgent[] = [];
  private readonly waiters: Array<() => void> = [];
  readonly orders: Array<Extract<ServerToAgent, { type: 'capture.start' }>['order']> = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as ServerToAgent;
      // Orders are answered at once, as an agent does: the capture runs.
      if (msg.type === 'capture.start') {
        this.orders.push(msg.order);
        this.send({
          type: 'capture.state',
          state: ProtocolAgent.state(msg.order.captureUid, 1, {
            status: 'Running',
            captureStartTime: new Date().toISOString(),
          }),
        });
      }
      this.inbox.push(msg);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Enrols with the one-time token of an install command and connects. */
  static async enrolAndConnect(serverUrl: string, installCommand: string): Promise<ProtocolAgent> {
    const argv = installCommand.split(/\s+/);
    const token = argv[argv.indexOf('--token') + 1];
    const enrolled = await fetch(`${serverUrl}/agent/v1/enroll`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token, hostname: 'protocol-agent' }),
    });
    assert.equal(enrolled.status, 200);
    const { credential } = (await enrolled.json()) as { credential: string };
    const ws = new WebSocket(`${serverUrl.replace(/^http/, 'ws')}/agent/v1/connect`, {
      headers: { Authorization: `Bearer ${credential}` },
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const agent = new ProtocolAgent(ws);
    agent.send({
      type: 'hello',
      protocolVersion: AGENT_PROTOCOL_VERSION,
      agentVersion: 'test',
      hostname: 'protocol-agent',
      captures: [],
    });
    return agent;
  }

  static state(captureUid: string, sequence: number, change: Partial<AgentCaptureState>): AgentCaptureState {
    return {
      captureUid,
      status: 'NotStarted',
      captureStartTime: null,
      stopReason: null,
      errors: [],
      errorMessage: null,
      packetsCaptured: 0,
      bytesCaptured: 0,
      kernelPacketsDropped: null,
      kernelPacketsReceived: null,
      file: null,
      sequence,
      ...change,
    };
  }

  send(msg: AgentToServer): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** The first message (received or still to come) with this request id. */
  async answer(requestId: string, timeoutInMs = 15_000): Promise<ServerToAgent> {
    const deadline = Date.now() + timeoutInMs;
    for (;;) {
      const found = this.inbox.find((m) => 'requestId' in m && m.requestId === requestId);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no answer to ${requestId}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** One storage kind under test, as the server sees it and as this process reaches it. */
interface KindUnderTest {
  kind: 'local' | 'azureBlob' | 's3';
  account: string;
  /** The account's URL as the server reports it (storagePath = `${accountUrl}/{container}/{blobPath}`). */
  accountUrl: string;
  /** The same storage, opened by this process directly (not through netwatcher). */
  direct: BlobStore;
  /** A `--storage-path` container URL of this account. */
  containerUrl(container: string, prefix: string): string;
  /** Creates a container the way its owner would, before a capture names it. */
  createContainer(container: string): Promise<void>;
}

describe('storage accounts end to end: local, Azure Blob (Azurite) and S3 (Swift)', { timeout: 240_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  let agent: LabAgent;
  let workDir: string;
  let azurite: AzuriteServer | undefined;
  let swift: S3TestServer | undefined;
  const agentDataDirs: string[] = [];
  const rg = `strg${process.pid}`;
  const kinds: KindUnderTest[] = [];
  const secrets: string[] = [];
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];

  const queryStatus = async (name: string) => {
    const r = await lab.api('POST', `${WATCHER}/packetCaptures/${name}/queryStatus`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as {
      packetCaptureStatus: string;
      packetCaptureError: string[];
      storagePath: string;
      instances: Array<{
        errorMessage: string | null;
        file: { sizeInBytes: number; sha256: string; stored: boolean } | null;
      }>;
    };
  };
  const waitStored = async (name: string) => {
    let status = await queryStatus(name);
    await lab.waitFor(
      async () => {
        status = await queryStatus(name);
        return status.instances[0]?.file?.stored === true;
      },
      30_000,
      `the file of ${name} to be stored (last status ${JSON.stringify(status)})`,
    );
    return status;
  };
  const sendUdp = async (count: number, sizeInBytes: number) => {
    const r = await host.ns.runNode(UDP_SENDER, ['10.0.0.1', String(UDP_PORT), String(count), String(sizeInBytes)], {
      timeoutInMs: 30_000,
    });
    assert.match(r.stdout, /sent/, r.stderr);
  };
  /** create → traffic → stop through the CLI; returns the create output and the stored status. */
  const captureThroughCli = async (name: string, account: string, extra: string[], datagrams: number) => {
    const created = await lab.nwJson<Record<string, unknown>>(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        name,
        '--storage-account',
        account,
        '--filters',
        `[{"protocol":"UDP","remotePort":"${UDP_PORT}"}]`,
        ...extra,
      ),
    );
    await sendUdp(datagrams, 1000);
    const stopped = await lab.nw(pc('stop', '--name', name, '--location', LOC));
    assert.equal(stopped.code, 0, stopped.stderr);
    return { created, status: await waitStored(name) };
  };
  const sha256OfFile = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), `nw-storage-e2e-${process.pid}-`));
    lab = await Lab.create();
    host = await lab.addHost('a', ['10.0.0.3/24']);
    [{ azurite, swift }] = await Promise.all([startLabStorage(lab, workDir), lab.startServer()]);

    // The agent, installed as a user does: `nw vm extension set`, then the printed command on the host.
    const installed = await lab.installAgent(host, rg, 'vma');
    agentDataDirs.push(installed.dataDir);
    agent = installed.agent;

    // The accounts, registered with the CLI. Each "direct" store is this process's own view of
    // the same storage, to check what really landed there.
    const azureKey = /AccountKey=([^;]+)/.exec(azurite.connectionString)![1]!;
    secrets.push(azureKey, swift.secretAccessKey);
    const azureCreate = await createAzureAccount(lab, 'azcaps', rg, azurite);
    assert.equal(azureCreate.code, 0, azureCreate.stderr);
    const s3Create = await createS3Account(lab, 's3caps', rg, swift, BUCKET);
    assert.equal(s3Create.code, 0, s3Create.stderr);
    for (const out of [azureCreate.stdout, s3Create.stdout])
      for (const secret of secrets) assert.ok(!out.includes(secret), 'create never prints a secret');

    const azureDirect = openDirectStore({ type: 'azureBlob', connectionString: azurite.probeConnectionString });
    const s3Config = {
      type: 's3' as const,
      endpoint: swift.probeEndpoint,
      region: swift.region,
      bucket: BUCKET,
      accessKeyId: swift.accessKeyId,
      secretAccessKey: swift.secretAccessKey,
      forcePathStyle: true,
    };
    const s3Direct = openDirectStore(s3Config);
    const localUrl = `${lab.serverUrl}/storage/nwlocal`;
    kinds.push(
      {
        kind: 'local',
        account: 'nwlocal',
        accountUrl: localUrl,
        direct: openDirectStore({ type: 'local', rootDir: join(lab.serverDataDir, 'storage', 'nwlocal') }),
        containerUrl: (container, prefix) => `${localUrl}/${container}/${prefix}`,
        createContainer: async () => {},
      },
      {
        kind: 'azureBlob',
        account: 'azcaps',
        accountUrl: `http://10.0.0.1:${azurite.port}/devstoreaccount1`,
        direct: azureDirect,
        containerUrl: (container, prefix) => `http://10.0.0.1:${azurite!.port}/devstoreaccount1/${container}/${prefix}`,
        createContainer: (container) => azureDirect.ensureContainer(container),
      },
      {
        kind: 's3',
        account: 's3caps',
        accountUrl: `${swift.endpoint}/${BUCKET}`,
        direct: s3Direct,
        containerUrl: (container, prefix) => `s3://${BUCKET}/${container}/${prefix}`,
        // An S3 "container" is a key prefix in the account's bucket: the bucket is what must exist.
        createContainer: (container) => s3Direct.ensureContainer(container),
      },
    );
  });

  after(async () => {
    await Promise.all([azurite?.stop(), swift?.stop()]);
    await lab?.destroy();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('storage account list/show never return secrets; create with account name + key, then delete', async () => {
    const list = await lab.nw(['storage', 'account', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const accounts = JSON.parse(list.stdout) as Array<{ name: string; primaryEndpoints?: { blob?: string } }>;
    assert.deepEqual(accounts.map((a) => a.name).sort(), ['azcaps', 'nwlocal', 's3caps']);
    for (const k of kinds) {
      const shown = await lab.nw(['storage', 'account', 'show', '-n', k.account]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(
        (JSON.parse(shown.stdout) as { primaryEndpoints: { blob: string } }).primaryEndpoints.blob,
        `${k.accountUrl}/`,
        `${k.kind}: the account's blob endpoint`,
      );
      for (const secret of secrets) assert.ok(!shown.stdout.includes(secret), `${k.kind}: show never prints a secret`);
    }
    for (const secret of secrets) assert.ok(!list.stdout.includes(secret), 'list never prints a secret');
    const raw = await lab.api('GET', `/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`);
    for (const secret of secrets)
      assert.ok(!JSON.stringify(raw.body).includes(secret), 'the API never returns a secret');

    // The key form: account name + key + endpoint instead of a connection string.
    const azureKey = secrets[0]!;
    const created = await lab.nw([
      'storage',
      'account',
      'create',
      '-n',
      'azkeyform',
      '-g',
      rg,
      '--kind',
      'azureBlob',
      '--account-name',
      'devstoreaccount1',
      '--account-key',
      azureKey,
      '--blob-endpoint',
      kinds[1]!.accountUrl,
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.ok(!created.stdout.includes(azureKey));
    assert.equal(
      (JSON.parse(created.stdout) as { primaryEndpoints: { blob: string } }).primaryEndpoints.blob,
      `${kinds[1]!.accountUrl}/`,
    );
    const bad = await lab.nw([
      'storage',
      'account',
      'create',
      '-n',
      'azbad',
      '-g',
      rg,
      '--kind',
      'azureBlob',
      '--connection-string',
      'AccountName=devstoreaccount1;SharedAccessSignature=sv=x',
    ]);
    assert.notEqual(bad.code, 0, 'a SAS-only connection string cannot sign uploads');
    assert.match(bad.stderr, /AccountKey/);
    const deleted = await lab.nw(['storage', 'account', 'delete', '-n', 'azkeyform', '--yes']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await lab.nw(['storage', 'account', 'show', '-n', 'azkeyform']);
    assert.notEqual(gone.code, 0);
  });

  for (const kindName of ['local', 'azureBlob', 's3'] as const) {
    test(`${kindName}: capture → stored at the Azure layout → download (CLI and API) with the same SHA-256 → delete keeps the file`, async () => {
      const k = kinds.find((x) => x.kind === kindName)!;
      const name = `pc${kindName.toLowerCase()}`;
      const { created, status } = await captureThroughCli(name, k.account, [], 200);
      assert.deepEqual(status.packetCaptureError, []);
      assert.equal(status.packetCaptureStatus, 'Stopped');
      const file = status.instances[0]!.file!;

      // storagePath is the real URL of the blob, in Azure's layout, in every answer.
      const layout = new RegExp(
        `^${escape(`${k.accountUrl}/${CAPTURE_CONTAINER}/`)}(subscriptions/${SUB}/resourcegroups/${rg}/providers/microsoft\\.compute/virtualmachines/vma/\\d{4}/\\d{2}/\\d{2}/packetcapture_\\d{2}_\\d{2}_\\d{2}_\\d{3}\\.cap)$`,
      );
      const match = layout.exec(status.storagePath);
      assert.ok(match, `storagePath ${status.storagePath} is the blob's URL in ${k.accountUrl}`);
      assert.equal(
        (created.storageLocation as { storagePath: string }).storagePath,
        status.storagePath,
        'create answers with the same storagePath',
      );
      const shown = await lab.nwJson<{ storageLocation: { storagePath: string } }>(
        pc('show', '--name', name, '--location', LOC),
      );
      assert.equal(shown.storageLocation.storagePath, status.storagePath, 'show answers with the same storagePath');
      const loc = { container: CAPTURE_CONTAINER, blobPath: match[1]! };

      // What is in the storage itself (read directly, not through netwatcher) is the file.
      const stored = await k.direct.openRead(loc);
      assert.equal(stored.sizeInBytes, file.sizeInBytes);
      assert.equal(await sha256OfStream(stored.stream), file.sha256);

      // The CLI download: progress, verified SHA-256, a valid pcap with the datagrams.
      const out = join(workDir, `${name}.cap`);
      const dl = await lab.nw(pc('download', '--name', name, '--location', LOC, '--file', out, '--progress'));
      assert.equal(dl.code, 0, dl.stderr);
      const result = JSON.parse(dl.stdout) as { sha256: string; sizeInBytes: number; verified: boolean };
      assert.deepEqual(result, { file: out, sizeInBytes: file.sizeInBytes, sha256: file.sha256, verified: true });
      assert.match(dl.stderr, /Downloading/);
      assert.equal(sha256OfFile(out), file.sha256);
      const pcap = readPcapBuffer(readFileSync(out));
      assert.ok(pcap.records.length >= 150, `${pcap.records.length} packets captured of 200 sent`);

      // It never overwrites a file unless asked.
      writeFileSync(out, 'precious');
      const again = await lab.nw(pc('download', '--name', name, '--location', LOC, '--file', out));
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /already exists.*--force/);
      assert.equal(readFileSync(out, 'utf8'), 'precious');
      const forced = await lab.nw(pc('download', '--name', name, '--location', LOC, '--file', out, '--force'));
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(sha256OfFile(out), file.sha256);

      // The API download (for the portal) with the caller's token, and not without one.
      const api = await fetch(`${lab.serverUrl}${WATCHER}/packetCaptures/${name}/download`, {
        headers: { Authorization: `Bearer ${lab.adminToken}` },
      });
      assert.equal(api.status, 200);
      assert.equal(api.headers.get('x-nw-content-sha256'), file.sha256);
      assert.equal(
        createHash('sha256')
          .update(Buffer.from(await api.arrayBuffer()))
          .digest('hex'),
        file.sha256,
      );
      const anonymous = await fetch(`${lab.serverUrl}${WATCHER}/packetCaptures/${name}/download`);
      assert.equal(anonymous.status, 401);
      await anonymous.arrayBuffer();

      // Deleting the capture keeps its file, as Azure does.
      const deleted = await lab.nw(pc('delete', '--name', name, '--location', LOC));
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal((await lab.api('GET', `${WATCHER}/packetCaptures/${name}`)).status, 404);
      assert.deepEqual(await k.direct.stat(loc), { sizeInBytes: file.sizeInBytes }, 'the blob is still there');
    });

    test(`${kindName}: --storage-path names an existing container; delete --delete-files removes the blob`, async () => {
      const k = kinds.find((x) => x.kind === kindName)!;
      const name = `pp${kindName.toLowerCase()}`;
      const container = `mycaps${process.pid}`;
      await k.createContainer(container);
      const containerUrl = k.containerUrl(container, 'team-a/edge');
      const { created, status } = await captureThroughCli(name, k.account, ['--storage-path', containerUrl], 20);
      const prefix = `${k.accountUrl}/${container}/team-a/edge/subscriptions/${SUB}/resourcegroups/${rg}/`;
      assert.ok(
        status.storagePath.startsWith(prefix) && status.storagePath.endsWith('.cap'),
        `storagePath ${status.storagePath} is under ${prefix}`,
      );
      assert.equal((created.storageLocation as { storagePath: string }).storagePath, status.storagePath);
      const loc = { container, blobPath: status.storagePath.slice(`${k.accountUrl}/${container}/`.length) };
      const file = status.instances[0]!.file!;
      assert.deepEqual(await k.direct.stat(loc), { sizeInBytes: file.sizeInBytes });
      const out = join(workDir, `${name}.cap`);
      const dl = await lab.nw(pc('download', '--name', name, '--location', LOC, '--file', out));
      assert.equal(dl.code, 0, dl.stderr);
      assert.equal(sha256OfFile(out), file.sha256);

      const deleted = await lab.nw(pc('delete', '--name', name, '--location', LOC, '--delete-files'));
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(await k.direct.stat(loc), null, 'the blob is gone');
      assert.equal((await lab.api('GET', `${WATCHER}/packetCaptures/${name}`)).status, 404);
    });
  }

  test('a real grant from the server writes one blob only, and only for a capture of the asking host', async () => {
    const extension = await lab.nwJson([
      'vm',
      'extension',
      'set',
      '--resource-group',
      rg,
      '--vm-name',
      'vmproto',
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '--name',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);
    const proto = await ProtocolAgent.enrolAndConnect(lab.serverUrl, String(extension.installCommand));
    try {
      const file = await writeRandomCaptureFile(join(workDir, 'proto.cap'), 100_000);
      const put = async (k: KindUnderTest, url: string, headers: Record<string, string>): Promise<number> => {
        if (k.kind === 'local') {
          // Local grants carry the URL the asking agent reached the server at: this process's.
          const r = await fetch(url, { method: 'PUT', headers, body: readFileSync(file.path) });
          await r.arrayBuffer();
          return r.status;
        }
        const r = await host.ns.runNode(PUT_FILE, [url, JSON.stringify(headers), file.path], { timeoutInMs: 20_000 });
        const m = /status (\d+)/.exec(r.stdout);
        assert.ok(m, `${r.stdout} ${r.stderr}`);
        return Number(m[1]);
      };
      const otherBlob = (url: string) => {
        const changed = url.replace('.cap?', '-other.cap?');
        assert.notEqual(changed, url);
        return changed;
      };
      for (const k of kinds) {
        const name = `proto${k.kind.toLowerCase()}`;
        const created = await lab.nw(
          pc('create', '--resource-group', rg, '--vm', 'vmproto', '--name', name, '--storage-account', k.account),
        );
        assert.equal(created.code, 0, created.stderr);
        const order = proto.orders.find((o) => o.captureName === name)!;
        proto.send({
          type: 'capture.state',
          state: ProtocolAgent.state(order.captureUid, 2, {
            status: 'Stopped',
            stopReason: 'Manual',
            file: { path: file.path, sizeInBytes: file.sizeInBytes, sha256: file.sha256, stored: false },
          }),
        });
        const requestId = `grant-${k.kind}`;
        proto.send({
          type: 'upload.request',
          requestId,
          captureUid: order.captureUid,
          sizeInBytes: file.sizeInBytes,
          sha256: file.sha256,
        });
        const answer = await proto.answer(requestId);
        assert.equal(answer.type, 'upload.grant', JSON.stringify(answer));
        const grant = (answer as Extract<ServerToAgent, { type: 'upload.grant' }>).grant as UploadGrant;
        assert.equal(grant.kind, k.kind);

        if (grant.kind === 'local') {
          assert.equal(
            await put(k, otherBlob(grant.uploadUrl), {}),
            403,
            'local: the signed URL of one blob cannot write another',
          );
          assert.deepEqual(
            await uploadFile(grant, file.path, {
              sizeInBytes: file.sizeInBytes,
              sha256: file.sha256,
              retryBudgetInMs: 5_000,
            }),
            { ok: true },
          );
        } else if (grant.kind === 'azureBlob') {
          const headers = { 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': '2021-12-02' };
          assert.equal(
            await put(k, otherBlob(grant.sasUrl), headers),
            403,
            'azureBlob: the SAS of one blob cannot write another',
          );
          assert.equal(await put(k, grant.sasUrl, headers), 201);
        } else if (grant.kind === 's3' && grant.mode === 'single') {
          const headers = { 'Content-Type': 'application/vnd.tcpdump.pcap' };
          assert.equal(
            await put(k, otherBlob(grant.putUrl), headers),
            403,
            's3: the presigned URL of one key cannot write another',
          );
          assert.equal(await put(k, grant.putUrl, headers), 200);
        } else {
          assert.fail(`unexpected grant ${grant.kind}`);
        }
        // As if the server had stopped before the host's upload.done (the blob never verified):
        // asked again, it finds this very file stored, verifies it and says so — no grant to
        // write it again (a create-only store refused every retry with 409 until the budget ran out).
        proto.send({
          type: 'upload.request',
          requestId: `${requestId}-again`,
          captureUid: order.captureUid,
          sizeInBytes: file.sizeInBytes,
          sha256: file.sha256,
        });
        const again = await proto.answer(`${requestId}-again`);
        assert.deepEqual(
          [again.type, (again as { alreadyStored?: boolean }).alreadyStored],
          ['upload.refused', true],
          `${k.kind}: ${JSON.stringify(again)}`,
        );
        proto.send({
          type: 'upload.done',
          requestId: `${requestId}-done`,
          captureUid: order.captureUid,
          sizeInBytes: file.sizeInBytes,
          sha256: file.sha256,
        });
        assert.deepEqual(
          await proto.answer(`${requestId}-done`),
          { type: 'upload.verified', requestId: `${requestId}-done`, captureUid: order.captureUid, ok: true },
          `${k.kind}: the server verified size and SHA-256`,
        );
      }

      // A capture of another host: no grant for it.
      const running = await lab.nw(
        pc(
          'create',
          '--resource-group',
          rg,
          '--vm',
          'vma',
          '--name',
          'notyours',
          '--storage-account',
          'nwlocal',
          '--time-limit',
          '60',
        ),
      );
      assert.equal(running.code, 0, running.stderr);
      const stateDir = join(agentDataDirs[0]!, 'captures');
      const uid = readdirSync(stateDir)
        .filter((f) => f.endsWith('.json'))
        .map(
          (f) =>
            JSON.parse(readFileSync(join(stateDir, f), 'utf8')) as {
              order: { captureUid: string; captureName: string };
            },
        )
        .find((r) => r.order.captureName === 'notyours')!.order.captureUid;
      proto.send({
        type: 'upload.request',
        requestId: 'steal',
        captureUid: uid,
        sizeInBytes: file.sizeInBytes,
        sha256: file.sha256,
      });
      const refused = await proto.answer('steal');
      assert.equal(refused.type, 'upload.refused', 'a host gets no grant for a capture it does not run');
      // Nor can it report on that capture: a forged "Stopped" changes nothing.
      proto.send({
        type: 'capture.state',
        state: ProtocolAgent.state(uid, 1_000_000, { status: 'Stopped', stopReason: 'Manual' }),
      });
      await new Promise((r) => setTimeout(r, 500));
      const stillRunning = await lab.nwJson(pc('show-status', '--name', 'notyours', '--location', LOC));
      assert.equal(stillRunning.packetCaptureStatus, 'Running', 'a forged state of another host is ignored');
      assert.equal((await lab.nw(pc('delete', '--name', 'notyours', '--location', LOC, '--delete-files'))).code, 0);
    } finally {
      proto.close();
    }
  });

  test('a storage path of another account is refused', async () => {
    const r = await lab.nw(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'wrongpath',
        '--storage-account',
        'azcaps',
        '--storage-path',
        kinds[2]!.containerUrl('network-watcher-logs', 'x'),
      ),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /storagePath/);
  });

  test('no secret and no signed URL in the server or agent logs', () => {
    const agentLog = agent.log?.() ?? '';
    assert.match(agentLog, /netwatcher agent running/, 'the agent log is really read');
    const logs = `${lab.serverOutput}\n${agentLog}`;
    for (const secret of secrets) assert.ok(!logs.includes(secret), 'an account secret was logged');
    for (const credential of [/[?&]sig=/, /X-Amz-Signature=/i, /[?&]sv=\d/]) assert.doesNotMatch(logs, credential);
  });
});

/** `text` as a literal inside a RegExp. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

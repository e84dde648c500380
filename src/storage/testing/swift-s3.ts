import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  findFreePort,
  resolvePlacement,
  spawnTracked,
  stopChild,
  waitForPort,
  type TestServerPlacement,
  type TrackedChild,
} from './processes.js';

// The S3-compatible server of the tests: OpenStack Swift (Debian packages swift-proxy,
// swift-object, swift-container, swift-account) with its s3api middleware and tempauth, as a
// one-replica "Swift all in one" on loopback. Chosen because it checks SigV4 signatures of
// presigned URLs (key, method, expiry) and implements multipart uploads with ListParts, as S3
// does; the npm candidate s3rver does not check V4 signatures at all.

const execFileAsync = promisify(execFile);
const swiftBinaries = [
  'swift-proxy-server',
  'swift-object-server',
  'swift-container-server',
  'swift-account-server',
] as const;
const debianPackages = 'swift-proxy swift-object swift-container swift-account';

/** A running S3-compatible server that can be stopped and started again on the same port and data. */
export interface S3TestServer {
  /** Endpoint at the advertised host (what the storage account is registered with). */
  endpoint: string;
  /** The same endpoint at the probe host: what this test process uses to reach the server directly. */
  probeEndpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops every server process; data stays on disk. */
  stop(): Promise<void>;
  /** Starts them again on the same ports with the same data. */
  start(): Promise<void>;
}

/** True if the Debian Swift packages the S3 tests need are installed. */
export function swiftIsInstalled(): boolean {
  return swiftBinaries.every((name) => existsSync(`/usr/bin/${name}`));
}

function serverConf(kind: 'account' | 'container' | 'object', bindHost: string, port: number, dir: string): string {
  return `[DEFAULT]
bind_ip = ${bindHost}
bind_port = ${port}
devices = ${dir}/devices
mount_check = false
swift_dir = ${dir}
workers = 0
log_level = ERROR
[pipeline:main]
pipeline = ${kind}-server
[app:${kind}-server]
use = egg:swift#${kind}
`;
}

function proxyConf(bindHost: string, port: number, dir: string, memcachePort: number, secret: string): string {
  // tempauth insists on a memcache client object but works when the server behind it is absent
  // (connections to the closed loopback port fail at once and tokens are never cached).
  return `[DEFAULT]
bind_ip = ${bindHost}
bind_port = ${port}
swift_dir = ${dir}
workers = 0
log_level = ERROR
[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_nwtest_tester = ${secret} .admin
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcachePort}
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
`;
}

// Builds the three one-device rings in one Python process (three swift-ring-builder runs per
// ring would cost seconds of interpreter start-up).
const buildRingsScript = `
import sys
from swift.common.ring import RingBuilder
directory = sys.argv[1]
ip = sys.argv[5]
for name, port in (('account', sys.argv[2]), ('container', sys.argv[3]), ('object', sys.argv[4])):
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': ip, 'port': int(port), 'device': 'd1', 'weight': 1})
    builder.rebalance()
    builder.get_ring().save('%s/%s.ring.gz' % (directory, name))
`;

/**
 * Starts a one-replica Swift with s3api, its data and configuration in `dataDir`; on loopback
 * unless `placement` says otherwise. All four servers bind `bindHost` (so the probe host reaches
 * each of them); the proxy reaches the others at 127.0.0.1 when that is 0.0.0.0.
 */
export async function startSwiftS3(dataDir: string, placement: TestServerPlacement = {}): Promise<S3TestServer> {
  const where = resolvePlacement(placement);
  const ringHost = where.bindHost === '0.0.0.0' ? '127.0.0.1' : where.bindHost;
  if (!swiftIsInstalled()) {
    throw new Error(`the S3 tests need OpenStack Swift: apt-get install -y --no-install-recommends ${debianPackages}`);
  }
  const [proxyPort, accountPort, containerPort, objectPort, memcachePort] = (await Promise.all(
    Array.from({ length: 5 }, () => findFreePort()),
  )) as [number, number, number, number, number];
  const secret = randomBytes(16).toString('hex');
  await mkdir(join(dataDir, 'devices', 'd1'), { recursive: true });
  await writeFile(
    join(dataDir, 'swift.conf'),
    `[swift-hash]\nswift_hash_path_suffix = nwtest${secret}\nswift_hash_path_prefix = nwtest\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n`,
  );
  await writeFile(join(dataDir, 'account-server.conf'), serverConf('account', where.bindHost, accountPort, dataDir));
  await writeFile(
    join(dataDir, 'container-server.conf'),
    serverConf('container', where.bindHost, containerPort, dataDir),
  );
  await writeFile(join(dataDir, 'object-server.conf'), serverConf('object', where.bindHost, objectPort, dataDir));
  await writeFile(
    join(dataDir, 'proxy-server.conf'),
    proxyConf(where.bindHost, proxyPort, dataDir, memcachePort, secret),
  );
  // Debian's python3, where the swift package lives (not whatever python3 is first on PATH).
  await execFileAsync('/usr/bin/python3', [
    '-c',
    buildRingsScript,
    dataDir,
    String(accountPort),
    String(containerPort),
    String(objectPort),
    ringHost,
  ]);

  let running: TrackedChild[] = [];
  const servers: Array<[string, string, number]> = [
    ['swift-account-server', 'account-server.conf', accountPort],
    ['swift-container-server', 'container-server.conf', containerPort],
    ['swift-object-server', 'object-server.conf', objectPort],
    ['swift-proxy-server', 'proxy-server.conf', proxyPort],
  ];
  const start = async (): Promise<void> => {
    running = servers.map(([binary, conf]) =>
      spawnTracked(`/usr/bin/${binary}`, [join(dataDir, conf)], {
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
        ...(where.netns ? { netns: where.netns } : {}),
      }),
    );
    try {
      // Python's start is slow on a loaded machine (CI runs many suites at once): a minute, not 30 s.
      await Promise.all(
        servers.map(([, , port], index) =>
          waitForPort(port, 60_000, running[index]?.child, () => running[index]?.output() ?? '', where.probeHost),
        ),
      );
    } catch (error) {
      // Never leave the servers that did start behind (they would keep the test process alive).
      for (const r of running) r.child.kill('SIGKILL');
      throw error;
    }
  };
  await start();
  return {
    endpoint: `http://${where.advertisedHost}:${proxyPort}`,
    probeEndpoint: `http://${where.probeHost}:${proxyPort}`,
    region: 'us-east-1',
    accessKeyId: 'nwtest:tester',
    secretAccessKey: secret,
    async stop() {
      await Promise.all(running.map((tracked) => stopChild(tracked.child)));
      running = [];
    },
    start,
  };
}

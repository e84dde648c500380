// Analysis benchmark (DESIGN §11, issue 15): a capture of --size-mib MiB (1 GiB by default) is
// generated in the run, then summarised — conversations, protocol hierarchy, TCP health and
// everything else — by netwatcher, and by tshark (`-q -z conv,tcp -z conv,udp -z io,phs`) and
// capinfos on the same file in the same run. Reported: wall time and peak memory (max RSS, from
// GNU time) of each, as ratios. netwatcher is measured twice: the server path (a stored file
// whose SHA-256 is already known: `analyzeCapture` in a fresh process) and `nw pcap analyze FILE`
// (the CLI, which also hashes the file, as capinfos does). The file is read once before the runs
// so every tool finds it in the page cache.
// Usage: node --import tsx bench/analysis/run.ts [--size-mib 1024] [--keep] [--check]
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCapture } from './generate.js';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    keep: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
  },
});
const sizeInBytes = Number(values['size-mib']) * 1024 * 1024;
if (!Number.isFinite(sizeInBytes) || sizeInBytes <= 0) throw new Error('--size-mib must be a positive number');
const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'nw-bench-analysis-'));
const file = join(dir, 'capture.pcap');

interface Measured {
  label: string;
  seconds: number;
  maxRssInKiB: number;
  stdout: string;
}

/** Runs argv under GNU time (-f "%e %M": wall seconds, max RSS KiB); no shell. */
function measure(label: string, argv: string[]): Measured {
  const timeFile = join(dir, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %M', ...argv], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const [seconds, rss] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { label, seconds: seconds!, maxRssInKiB: rss!, stdout: r.stdout };
}

// The server path in a fresh process: what GET …/analysis does for a stored file (hash known).
const SERVER_PATH = `
import { analyzeCapture, localFileSource } from ${JSON.stringify(join(root, 'dist/analysis/index.js'))};
const full = await analyzeCapture({ ...localFileSource(process.argv[2]), sha256: 'known' });
const s = full.sections;
console.log(JSON.stringify({ packets: s.summary.packets, bytes: s.summary.bytes, tcp: s.conversations.tcp.totalRows, udp: s.conversations.udp.totalRows, retransmissions: s.tcp.retransmissions, roots: s.protocols.roots }));
`;

try {
  const built = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('build failed');
  const started = Date.now();
  const generated = generateCapture(file, sizeInBytes);
  console.log(
    `generated ${(generated.sizeInBytes / 2 ** 20).toFixed(0)} MiB, ${generated.packets} packets, ${generated.tcpConnections} TCP connections, ${generated.retransmissions} retransmissions in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  // Warm the page cache so no tool pays for the disk.
  for await (const _chunk of createReadStream(file, { highWaterMark: 8 * 1024 * 1024 })) {
    /* read and drop */
  }

  const script = join(dir, 'server-path.mjs');
  writeFileSync(script, SERVER_PATH);
  const server = measure('netwatcher (server path, stored file)', ['node', script, file]);
  const cli = measure('nw pcap analyze (CLI, hashes the file)', [
    'node',
    join(root, 'dist/cli/main.js'),
    'pcap',
    'analyze',
    file,
  ]);
  const tshark = measure('tshark -q -z conv,tcp -z conv,udp -z io,phs', [
    'tshark',
    '-n',
    '-q',
    '-r',
    file,
    '-z',
    'conv,tcp',
    '-z',
    'conv,udp',
    '-z',
    'io,phs',
  ]);
  // -M: exact counts (capinfos otherwise prints "203 k").
  const capinfos = measure('capinfos', ['capinfos', '-M', file]);

  // The same figures: packets (capinfos), and conversation counts and the hierarchy root (tshark).
  const ours = JSON.parse(server.stdout) as {
    packets: number;
    bytes: number;
    tcp: number;
    udp: number;
    retransmissions: number;
    roots: Array<{ protocol: string; packets: number; bytes: number }>;
  };
  const capPackets = Number(/Number of packets:\s+(\d+)/.exec(capinfos.stdout)?.[1]);
  const phsRoot = /^eth\s+frames:(\d+) bytes:(\d+)/m.exec(tshark.stdout);
  // Rows of one tshark table: from its title to the next rule of '='.
  const rowsOf = (title: string): number => {
    const after = tshark.stdout.split(title)[1] ?? '';
    return after
      .slice(0, after.search(/\n=+\n/) >= 0 ? after.search(/\n=+\n/) : after.length)
      .split('\n')
      .filter((l) => l.includes('<->')).length;
  };
  const tsharkTcp = rowsOf('TCP Conversations');
  const tsharkUdp = rowsOf('UDP Conversations');
  const compared = {
    packets: [ours.packets, capPackets],
    ethFrames: [ours.roots[0]?.packets, Number(phsRoot?.[1])],
    ethBytes: [ours.roots[0]?.bytes, Number(phsRoot?.[2])],
    tcpConversations: [ours.tcp, tsharkTcp],
    udpConversations: [ours.udp, tsharkUdp],
  };
  const agree = Object.values(compared).every(([a, b]) => a === b);
  if (!agree) console.log('netwatcher vs tshark/capinfos:', JSON.stringify(compared));

  const rows = [server, cli, tshark, capinfos];
  console.log('\n| run | wall s | max RSS MiB |');
  console.log('|---|---:|---:|');
  for (const r of rows) console.log(`| ${r.label} | ${r.seconds.toFixed(2)} | ${(r.maxRssInKiB / 1024).toFixed(0)} |`);
  const both = tshark.seconds + capinfos.seconds;
  console.log(
    `\nfigures agree with tshark/capinfos (packets, eth frames/bytes, TCP and UDP conversation counts): ${agree ? 'yes' : 'NO'}`,
  );
  console.log(
    `speed-up, server path vs tshark: ${(tshark.seconds / server.seconds).toFixed(1)}×; vs tshark + capinfos: ${(both / server.seconds).toFixed(1)}×`,
  );
  console.log(
    `speed-up, nw pcap analyze vs tshark: ${(tshark.seconds / cli.seconds).toFixed(1)}×; vs tshark + capinfos: ${(both / cli.seconds).toFixed(1)}×`,
  );
  console.log(
    `peak memory, server path / tshark: ${(server.maxRssInKiB / tshark.maxRssInKiB).toFixed(2)}; nw pcap analyze / tshark: ${(cli.maxRssInKiB / tshark.maxRssInKiB).toFixed(2)}`,
  );
  if (values.check && (!agree || tshark.seconds / server.seconds < 5)) process.exitCode = 1;
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}

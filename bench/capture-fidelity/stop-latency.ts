// How long a stop takes (issue 18): from stop() to the outcome, for the ring (continuous capture,
// src/capture/ring.ts) and the single-file engine (session.ts), on a quiet link in three states —
// nothing captured yet, a few datagrams sent 50 ms before the stop (they may still sit in the
// kernel's unretired TPACKET_V3 block and tcpdump's stdio buffer), and a paced stream running
// through the stop. Also checks that every datagram sent before the stop is in the files.
// Usage: flock /work/wt/fidelity.lock node --import tsx bench/capture-fidelity/stop-latency.ts [--rounds 5]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCapture, startRingCapture } from '../../src/capture/index.js';
import { createNamespace, createVethPair, UDP_PACED_SCRIPT } from '../../src/capture/testing/index.js';
import { readPcapBuffer } from '../../src/pcap/index.js';

const ADDRESS_A = '10.78.19.1';
const ADDRESS_B = '10.78.19.2';
const PORT = 9719;
const BURST_SCRIPT = `
const s = require('node:dgram').createSocket('udp4');
let left = Number(process.argv[2]);
const next = () => (left-- > 0 ? s.send(Buffer.alloc(200, 0x62), ${PORT}, process.argv[1], next) : s.close());
next();
`;

type Load = 'nothing' | 'burst' | 'stream';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 5);
  const a = await createNamespace({ prefix: 'nwstopa' });
  const b = await createNamespace({ prefix: 'nwstopb' });
  const dir = await mkdtemp(join(tmpdir(), 'nw-stop-'));
  try {
    const { interfaceA } = await createVethPair(a, b, {
      addressesA: [`${ADDRESS_A}/24`],
      addressesB: [`${ADDRESS_B}/24`],
    });
    const results: Record<string, number[]> = {};
    const lost: Record<string, number> = {};
    for (let round = 0; round < rounds; round++) {
      for (const engine of ['ring', 'single'] as const) {
        for (const load of ['nothing', 'burst', 'stream'] as Load[]) {
          const key = `${engine} ${load}`;
          const sub = await mkdtemp(join(dir, 'r-'));
          const common = {
            captureId: 'stop',
            interfaceName: interfaceA,
            bpfExpression: `udp dst port ${PORT}`,
            snapLengthInBytes: 0,
          };
          const opts = { commandPrefix: ['ip', 'netns', 'exec', a.name], kernelBufferInKiB: 4096 };
          const session =
            engine === 'ring'
              ? startRingCapture(
                  {
                    ...common,
                    fileCount: 3,
                    fileSizeInBytes: 1048576,
                    sessionTimeLimitInSeconds: 0,
                    outputPath: join(sub, 'ring.cap'),
                  },
                  opts,
                )
              : startCapture(
                  { ...common, totalBytesLimit: 0, timeLimitInSeconds: 0, outputPath: join(sub, 'one.cap') },
                  opts,
                );
          await session.started;
          await sleep(1500);
          let sent = 0;
          let stream: Promise<unknown> | null = null;
          if (load === 'burst') {
            await b.runNode(BURST_SCRIPT, [ADDRESS_A, '5']);
            sent = 5;
            await sleep(50);
          } else if (load === 'stream') {
            stream = b.runNode(UDP_PACED_SCRIPT, [ADDRESS_A, String(PORT), '200', '5', '3000']);
            await sleep(1000);
          }
          const t0 = performance.now();
          const outcome = await session.stop();
          const ms = performance.now() - t0;
          await stream;
          (results[key] ??= []).push(ms);
          const files = 'files' in outcome ? outcome.files.map((f) => f.path) : [join(sub, 'one.cap')];
          let kept = 0;
          for (const f of files) kept += readPcapBuffer(await readFile(f)).records.length;
          if (load === 'burst') lost[key] = (lost[key] ?? 0) + (sent - kept);
          await rm(sub, { recursive: true, force: true });
        }
      }
    }
    const load1 = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0];
    process.stdout.write(`stop() → outcome, ms (median [min–max] of ${rounds}; 1-min load ${load1}):\n`);
    for (const [key, list] of Object.entries(results)) {
      const s = [...list].sort((x, y) => x - y);
      const median = s[Math.floor(s.length / 2)]!;
      const lostText = key in lost ? `   burst datagrams lost: ${lost[key]}` : '';
      process.stdout.write(
        `  ${key.padEnd(16)} ${median.toFixed(0).padStart(5)} [${s[0]!.toFixed(0)}–${s.at(-1)!.toFixed(0)}]${lostText}\n`,
      );
    }
  } finally {
    await a.destroy();
    await b.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

// CPU of the engine's finalisation (cut, SHA-256, fsync: finaliseCaptureFile on the event loop,
// priority 'inline'; or with --step hash / pieces, hashFileRange / the local kind's upload bodies) per GB, reading the file through the page cache ("before") or with O_DIRECT
// where the file system allows it ("after", lib/direct-read.ts), on two kinds of file:
// - cold: copied with `dd oflag=direct` as nw-capture writes captures, nothing of it in the page cache;
// - cached: copied with an ordinary `dd conv=fsync`, every page of it in the page cache and clean;
// - dirty: copied with an ordinary `dd`, its pages in the page cache and not yet written back (as
//   tcpdump's file right after a capture: the finalisation's fsync writes them).
// Each round runs before, after, after, before (A B B A) on a fresh copy per trial; every trial must
// give the same SHA-256. Usage:
//   node --import tsx bench/capture-fidelity/finalise-direct.ts [--size-mb 1024] [--rounds 2] [--kinds cold,cached,dirty] [--step finalise|hash|pieces] [--dir /var/tmp] [--json]
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { finaliseCaptureFile } from '../../src/capture/index.js';
import { hashFileRange } from '../../src/storage/hash.js';
import { FileRangePieces } from '../../src/storage/upload-context.js';
import { syntheticCaptureHeader, syntheticCaptureRecord } from './synthetic-capture.js';

type Kind = 'cold' | 'cached' | 'dirty';
type Step = 'finalise' | 'hash' | 'pieces';
type Variant = 'before' | 'after';

interface Trial {
  kind: Kind;
  variant: Variant;
  readDirect: boolean;
  /** Pages of the file in the page cache just before the finalisation (fincore). */
  residentPagesBefore: number;
  cpuSeconds: number;
  wallSeconds: number;
  sha256: string;
  sizeInBytes: number;
}

function writeSource(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, syntheticCaptureHeader());
    const data = Buffer.alloc(65_000, 0x5a);
    for (let i = 0, written = 24; written < bytes; i++) {
      const rec = syntheticCaptureRecord(i, data);
      writeSync(fd, rec);
      written += rec.length;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const residentPages = (path: string): number =>
  Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'PAGES', path], { encoding: 'utf8' }).trim());

// One read of the whole file the way `step` reads it: the finalisation, hashFileRange (the upload's
// fallback hash, the local kind's verify), or the local kind's upload bodies drained (FileRangePieces
// in 32 MiB ranges as upload-local.ts sends them, each piece hashed here to check the bytes).
async function runStep(
  step: Step,
  handle: FileHandle,
  tryDirect: boolean,
): Promise<{ readDirect: boolean; sha256: string; sizeInBytes: number }> {
  if (step === 'finalise')
    return finaliseCaptureFile(handle, { maxBytes: 0, stopAfterInMs: null }, { priority: 'inline', tryDirect });
  const { size } = await handle.stat();
  if (step === 'hash') {
    let readDirect = false;
    const got = await hashFileRange(handle, 0, size, { tryDirect, onRead: (how) => (readDirect = how.direct) });
    return { ...got, readDirect };
  }
  const hash = createHash('sha256');
  let directReads = 0;
  for (let offset = 0; offset < size; offset += 32 * 1024 * 1024) {
    const body = new FileRangePieces(handle, offset, Math.min(offset + 32 * 1024 * 1024, size), undefined, {
      tryDirect,
    });
    try {
      for (let piece = await body.next(); piece !== null; piece = await body.next()) {
        hash.update(piece);
        body.release(piece);
      }
    } finally {
      body.destroy();
    }
    directReads += body.directReads;
  }
  return { readDirect: directReads > 0, sha256: hash.digest('hex'), sizeInBytes: size };
}

async function trial(source: string, path: string, kind: Kind, variant: Variant, step: Step): Promise<Trial> {
  const flags = kind === 'cold' ? ['oflag=direct'] : kind === 'cached' ? ['conv=fsync'] : [];
  execFileSync('dd', [`if=${source}`, `of=${path}`, 'bs=4M', ...flags, 'status=none']);
  const residentPagesBefore = residentPages(path);
  const handle = await open(path, 'r+');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const tryDirect = variant === 'after';
  let cut: { readDirect: boolean; sha256: string; sizeInBytes: number };
  try {
    cut = await runStep(step, handle, tryDirect);
  } finally {
    await handle.close();
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await rm(path);
  return {
    kind,
    variant,
    readDirect: cut.readDirect,
    residentPagesBefore,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds,
    sha256: cut.sha256,
    sizeInBytes: cut.sizeInBytes,
  };
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '1024' },
      rounds: { type: 'string', default: '2' },
      dir: { type: 'string', default: '/var/tmp' },
      kinds: { type: 'string', default: 'cold,cached,dirty' },
      step: { type: 'string', default: 'finalise' },
      json: { type: 'boolean', default: false },
    },
  });
  const step = values.step as Step;
  if (!['finalise', 'hash', 'pieces'].includes(step)) throw new Error('--step: finalise, hash or pieces');
  const kinds = values.kinds.split(',').filter((k): k is Kind => k === 'cold' || k === 'cached' || k === 'dirty');
  const dir = await mkdtemp(join(values.dir, 'nw-finalise-direct-'));
  const trials: Trial[] = [];
  const load0 = loadavg()[0]!;
  try {
    const source = join(dir, 'source.pcap');
    writeSource(source, Number(values['size-mb']) * 1024 * 1024);
    for (let round = 0; round < Number(values.rounds); round++)
      for (const kind of kinds)
        for (const variant of ['before', 'after', 'after', 'before'] as const) {
          const t = await trial(source, join(dir, 'capture.pcap'), kind, variant, step);
          trials.push(t);
          if (!values.json)
            process.stdout.write(
              `${kind} ${variant}: ${t.cpuSeconds.toFixed(3)} CPU-s, ${t.wallSeconds.toFixed(3)} s, direct ${t.readDirect}, ${t.residentPagesBefore} pages cached before\n`,
            );
        }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (new Set(trials.map((t) => t.sha256)).size !== 1) throw new Error('the trials disagree on the SHA-256');
  if (trials.some((t) => t.readDirect !== (t.variant === 'after')))
    throw new Error('O_DIRECT ran where it should not, or not where it should');
  const gb = trials[0]!.sizeInBytes / 1e9;
  const summary = kinds.map((kind) => {
    const of = (variant: Variant, key: 'cpuSeconds' | 'wallSeconds'): number[] =>
      trials.filter((t) => t.kind === kind && t.variant === variant).map((t) => t[key]);
    const cpuBefore = median(of('before', 'cpuSeconds')) / gb;
    const cpuAfter = median(of('after', 'cpuSeconds')) / gb;
    const wallBefore = median(of('before', 'wallSeconds'));
    const wallAfter = median(of('after', 'wallSeconds'));
    return {
      kind,
      cpuSecondsPerGbBefore: cpuBefore,
      cpuSecondsPerGbAfter: cpuAfter,
      cpuRatio: cpuAfter / cpuBefore,
      wallSecondsBefore: wallBefore,
      wallSecondsAfter: wallAfter,
      wallRatio: wallAfter / wallBefore,
      cpuSecondsBefore: of('before', 'cpuSeconds'),
      cpuSecondsAfter: of('after', 'cpuSeconds'),
    };
  });
  const result = {
    sizeInBytes: trials[0]!.sizeInBytes,
    loadAverageBefore: load0,
    loadAverageAfter: loadavg()[0]!,
    summary,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    for (const s of summary)
      process.stdout.write(
        `${s.kind}: CPU-s/GB before ${s.cpuSecondsPerGbBefore.toFixed(3)}, after ${s.cpuSecondsPerGbAfter.toFixed(3)} (×${s.cpuRatio.toFixed(3)}); wall ${s.wallSecondsBefore.toFixed(2)} s → ${s.wallSecondsAfter.toFixed(2)} s (×${s.wallRatio.toFixed(3)})\n`,
      );
    process.stdout.write(`load average ${load0.toFixed(2)} → ${result.loadAverageAfter.toFixed(2)}\n`);
  }
}

await main();

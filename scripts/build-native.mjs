// Compiles the engine's own capture writer, src/capture/native/nw-capture.c, into
// dist/native/nw-capture (docs/capture.md). Without a C compiler on PATH it says so once and
// exits 0: the engine then captures with tcpdump (src/capture/capture-program.ts), so a host
// without gcc still builds and runs. A compiler that is there but fails fails the build.
// Usage: node scripts/build-native.mjs   (CC picks the compiler; default cc)
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'capture', 'native', 'nw-capture.c');
const outdir = join(root, 'dist', 'native');
const output = join(outdir, 'nw-capture');

// Hardened as Debian builds its own packages (dpkg-buildflags): stack protector, fortified libc
// calls, a position-independent executable with read-only relocations. libpcap is dlopen'ed at
// run time (no libpcap-dev needed to build), hence -ldl; the writer thread needs -pthread.
const FLAGS = [
  '-std=gnu11',
  '-O2',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-fstack-protector-strong',
  '-D_FORTIFY_SOURCE=2',
  '-fPIE',
  '-pie',
  '-Wl,-z,relro,-z,now',
  '-pthread',
];

function onPath(name) {
  if (name.includes('/')) return executable(name) ? name : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return null;
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const compilerName = process.env.CC || 'cc';
const compiler = onPath(compilerName);
if (compiler === null) {
  // A binary of an earlier build would be older than the source: not kept.
  rmSync(output, { force: true });
  console.error(
    `build-native: no C compiler ('${compilerName}') on PATH: dist/native/nw-capture not built; captures use tcpdump (Debian: apt-get install gcc libc6-dev for the faster nw-capture)`,
  );
  process.exit(0);
}
mkdirSync(outdir, { recursive: true });
// Built beside and renamed into place, so a running agent never execs a half-written binary.
const partial = `${output}.partial`;
const cc = spawnSync(compiler, [...FLAGS, '-o', partial, source, '-ldl'], { stdio: 'inherit' });
if (cc.status !== 0) {
  rmSync(partial, { force: true });
  console.error(
    `build-native: ${compilerName} failed to compile ${source} (${cc.error?.message ?? `exit ${cc.status}`})`,
  );
  process.exit(1);
}
renameSync(partial, output);

// Where the engine's own capture writer, nw-capture (src/capture/native/nw-capture.c), is, and
// whether it runs here: the ring and the look-back buffer run it when it does ('auto') and tcpdump
// (or the engine's cut of tcpdump's stream) otherwise.
// TODO(ringlb): merge with nwint's locator for the single capture (src/capture/capture-program.ts
// when it lands): one resolver of the binary and of the 'auto' | 'native' | 'tcpdump' choice for
// session.ts, ring.ts and lookback.ts. This minimal one exists only so the ring and the look-back
// buffer need not wait for it.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findExecutable } from './find-executable.js';

/** Which program captures: nw-capture when it runs here ('auto'), always it ('native'), or tcpdump. */
export type CaptureProgramChoice = 'auto' | 'native' | 'tcpdump';

/**
 * Where `npm run build` puts the binary, seen from this module: dist/native/nw-capture from
 * src/capture (tsx, tests) and from dist/capture (the built agent).
 */
export const NATIVE_CAPTURE_CANDIDATES: readonly string[] = [
  fileURLToPath(new URL('../native/nw-capture', import.meta.url)),
  fileURLToPath(new URL('../../dist/native/nw-capture', import.meta.url)),
];

// One probe per path and process: the answer does not change while the agent runs.
const probed = new Map<string, boolean>();

/**
 * True when `path` is an executable nw-capture that finds libpcap: `--version` exits 0 and prints
 * "nw-capture 1 (…)" (the contract's probe; an older prototype without it fails here).
 */
export function nativeCaptureRuns(path: string): boolean {
  const known = probed.get(path);
  if (known !== undefined) return known;
  let runs = false;
  try {
    const out = execFileSync(path, ['--version'], { timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    runs = /^nw-capture 1 /.test(out.toString('utf8'));
  } catch {
    runs = false;
  }
  probed.set(path, runs);
  return runs;
}

/**
 * The nw-capture to run: `explicitPath` when given (null when it does not run), else the first of
 * NATIVE_CAPTURE_CANDIDATES that runs; null when none does.
 * @example findNativeCapture() // '/opt/netwatcher/dist/native/nw-capture', or null without a C compiler at build time
 */
export function findNativeCapture(explicitPath?: string): string | null {
  const candidates = explicitPath !== undefined ? [explicitPath] : NATIVE_CAPTURE_CANDIDATES;
  for (const candidate of candidates) {
    const path = findExecutable(candidate, process.env['PATH']);
    if (path !== null && nativeCaptureRuns(path)) return path;
  }
  return null;
}

/**
 * Resolves a choice to the program that will run: 'auto' is nw-capture when it runs here, else
 * tcpdump; 'native' is nw-capture or null (the caller reports it missing); 'tcpdump' is tcpdump.
 * @example resolveCaptureProgram('auto') // { program: 'native', path: '/…/dist/native/nw-capture' } or { program: 'tcpdump' }
 */
export function resolveCaptureProgram(
  choice: CaptureProgramChoice,
  nativeCapturePath?: string,
): { program: 'native'; path: string } | { program: 'tcpdump' } | null {
  if (choice === 'tcpdump') return { program: 'tcpdump' };
  const path = findNativeCapture(nativeCapturePath);
  if (path !== null) return { program: 'native', path };
  return choice === 'auto' ? { program: 'tcpdump' } : null;
}

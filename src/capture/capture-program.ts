// Which program captures — the single capture, the ring and the look-back buffer: nw-capture, the engine's own writer (src/capture/native/nw-capture.c,
// built into dist/native by `npm run build` when a C compiler is there), or tcpdump.
//
// Why nw-capture: at saturation bare `tcpdump -w` keeps 0.66-0.90 of the offered packets on two
// cores, bounded by its two copies (ring -> stdio buffer -> page cache); nw-capture copies once
// into aligned buffers written with O_DIRECT by threads of its own; under the engine it kept
// everything offered in the median (1.20x bare tcpdump -B's share) at 0.82x tcpdump's capture-time
// CPU per packet (issue 18, bench/capture-fidelity, ninth round). Its command line, stderr and output
// are tcpdump's (a strict subset), so everything else in the engine is the same for both.
// Why tcpdump stays: a host built without a compiler, or an operator who wants the stock tool
// (NW_CAPTURE_PROGRAM=tcpdump), still captures.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findExecutable } from './find-executable.js';

/** The programs that can capture. */
export type CaptureProgramKind = 'native' | 'tcpdump';

/** What an operator or caller asks for: a program, or 'auto' (nw-capture when built and it runs, else tcpdump). */
export type CaptureProgramChoice = 'auto' | CaptureProgramKind;

/** Every CaptureProgramChoice, for validation and help. */
export const CAPTURE_PROGRAM_CHOICES: readonly CaptureProgramChoice[] = ['auto', 'native', 'tcpdump'];

/**
 * Where `npm run build` puts nw-capture, found from this module's own place: src/capture and
 * dist/capture are both two levels below the package root.
 */
export const NATIVE_CAPTURE_PATH = fileURLToPath(new URL('../../dist/native/nw-capture', import.meta.url));

// The probe is `nw-capture --version`: it loads libpcap (dlopen) and prints one line, so a binary
// that cannot run here (wrong architecture, libpcap missing) is found before a capture needs it.
const PROBE_TIMEOUT_IN_MS = 5000;

/**
 * Parses a choice given as text (NW_CAPTURE_PROGRAM, --capture-program).
 * @example parseCaptureProgramChoice('tcpdump') // 'tcpdump'
 * @throws RangeError naming the accepted values
 */
export function parseCaptureProgramChoice(text: string): CaptureProgramChoice {
  const choice = CAPTURE_PROGRAM_CHOICES.find((c) => c === text.trim().toLowerCase());
  if (choice === undefined)
    throw new RangeError(`capture program must be one of ${CAPTURE_PROGRAM_CHOICES.join(', ')}; got '${text}'`);
  return choice;
}

/** What `nw-capture --version` showed: the version line, or why nw-capture cannot be used. */
export type NativeCaptureProbe =
  { usable: true; path: string; version: string } | { usable: false; path: string; problem: string };

const probes = new Map<string, NativeCaptureProbe>();

/**
 * Probes nw-capture once per path (the result is cached for the process's life: the binary only
 * changes with a new build, and a new build means a restarted agent). Synchronous — a few ms, once —
 * because the ring and the look-back buffer choose their writer in synchronous constructors.
 * @example const probe = probeNativeCaptureSync(); if (probe.usable) console.log(probe.version);
 */
export function probeNativeCaptureSync(path: string = NATIVE_CAPTURE_PATH): NativeCaptureProbe {
  let probe = probes.get(path);
  if (probe === undefined) {
    probe = runProbe(path);
    probes.set(path, probe);
  }
  return probe;
}

/** probeNativeCaptureSync as a promise, for callers that await their choice. */
export function probeNativeCapture(path: string = NATIVE_CAPTURE_PATH): Promise<NativeCaptureProbe> {
  return Promise.resolve(probeNativeCaptureSync(path));
}

function runProbe(path: string): NativeCaptureProbe {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return {
      usable: false,
      path,
      problem: `nw-capture is not built (no ${path}; npm run build compiles it when a C compiler is installed)`,
    };
  }
  try {
    const stdout = execFileSync(path, ['--version'], {
      timeout: PROBE_TIMEOUT_IN_MS,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    const line = stdout.split('\n')[0]?.trim() ?? '';
    if (/^nw-capture \d+/.test(line)) return { usable: true, path, version: line };
    return { usable: false, path, problem: `${path} --version printed ${JSON.stringify(line)}` };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    const why = e.message.split('\n')[0];
    const said = (e.stderr ?? '').trim().split('\n')[0] ?? '';
    return { usable: false, path, problem: `${path} --version failed: ${why}${said !== '' ? ` (${said})` : ''}` };
  }
}

/**
 * The nw-capture to run: `explicitPath` (a path, or a name on PATH) when given, else the built one;
 * null when it is not there or does not run.
 * @example findNativeCapture() // '/opt/netwatcher/dist/native/nw-capture', or null without a C compiler at build time
 */
export function findNativeCapture(explicitPath?: string): string | null {
  const path = explicitPath === undefined ? NATIVE_CAPTURE_PATH : findExecutable(explicitPath, process.env['PATH']);
  return path !== null && probeNativeCaptureSync(path).usable ? path : null;
}

/**
 * Resolves a choice synchronously (the look-back buffer): 'auto' is nw-capture when it runs here,
 * else tcpdump; 'native' is nw-capture or null (the caller reports it missing); 'tcpdump' is tcpdump.
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

/** The program a capture runs, and why that one (for the agent's log). */
export type ChosenCaptureProgram =
  { kind: CaptureProgramKind; path: string; reason: string } | { kind: null; reason: string };

/** Input of chooseCaptureProgram. */
export interface CaptureProgramRequest {
  /** What was asked for; default 'auto'. */
  choice?: CaptureProgramChoice;
  /** An explicit tcpdump (a path or a name on PATH): with 'auto', that program runs. */
  tcpdumpPath?: string;
  /** nw-capture's path; default NATIVE_CAPTURE_PATH. */
  nativeCapturePath?: string;
}

/**
 * Chooses the capture program: 'tcpdump' → tcpdump; 'native' → nw-capture, or kind null when it
 * cannot run; 'auto' → tcpdump when a tcpdumpPath was given (it keeps meaning "run this program"),
 * else nw-capture when it is built and runs, else tcpdump.
 * @example const program = await chooseCaptureProgram({ choice: 'auto' }); // { kind: 'native', path: '…/dist/native/nw-capture', reason: '…' }
 */
export async function chooseCaptureProgram(request: CaptureProgramRequest = {}): Promise<ChosenCaptureProgram> {
  const choice = request.choice ?? 'auto';
  const tcpdump = request.tcpdumpPath ?? 'tcpdump';
  if (choice === 'tcpdump') return { kind: 'tcpdump', path: tcpdump, reason: 'tcpdump asked for' };
  if (choice === 'auto' && request.tcpdumpPath !== undefined)
    return { kind: 'tcpdump', path: tcpdump, reason: `tcpdump program given (${tcpdump})` };
  const probe = await probeNativeCapture(request.nativeCapturePath ?? NATIVE_CAPTURE_PATH);
  if (probe.usable) return { kind: 'native', path: probe.path, reason: `${probe.version} at ${probe.path}` };
  if (choice === 'native') return { kind: null, reason: `nw-capture asked for but unusable: ${probe.problem}` };
  return { kind: 'tcpdump', path: tcpdump, reason: `fallback: ${probe.problem}` };
}

/** The name a program goes by in messages ("nw-capture exited with code 1: …"). */
export function captureProgramName(kind: CaptureProgramKind): string {
  return kind === 'native' ? 'nw-capture' : 'tcpdump';
}

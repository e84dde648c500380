// A process that runs one capture and nothing else, for tests that kill the process running the
// engine (an agent killed with SIGKILL, OOM, a crash). Prints the session's pid and capture
// program ("4242 native") once started.
// Usage: node --import tsx capture-child.ts NAMESPACE INTERFACE OUTPUT_PATH [auto|native|tcpdump]
import { parseCaptureProgramChoice } from '../capture-program.js';
import { startCapture } from '../session.js';

const [namespace, interfaceName, outputPath, program] = process.argv.slice(2) as [string, string, string, string?];
const session = startCapture(
  {
    captureId: 'child',
    interfaceName,
    bpfExpression: 'udp',
    snapLengthInBytes: 0,
    totalBytesLimit: 10_000_000,
    timeLimitInSeconds: 600,
    outputPath,
  },
  {
    commandPrefix: ['ip', 'netns', 'exec', namespace],
    kernelBufferInKiB: 4096,
    captureProgram: parseCaptureProgramChoice(program ?? 'auto'),
  },
);
session.started.then(
  () => process.stdout.write(`${session.pid} ${session.captureProgram}\n`),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);

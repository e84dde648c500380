// The agent's look-back buffer runs the program the agent was told to capture with
// (--capture-program / NW_CAPTURE_PROGRAM), as single captures and rings do. Real processes on lo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { findNativeCapture } from '../capture/index.js';
import type { CaptureProgramChoice } from '../capture/index.js';
import { createLogger } from '../lib/index.js';
import { ConfinedDir } from './confined-dir.js';
import { LookbackManager } from './lookback.js';

// The executable of the process whose command line writes into `dir`: tcpdump or nw-capture.
function programWritingInto(dir: string): string | null {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-f', `${dir}/lb-`], { encoding: 'utf8' });
  } catch {
    return null; // none yet
  }
  for (const pid of out.split('\n').filter((l) => l !== '')) {
    const exe = basename(readlinkSync(`/proc/${pid}/exe`));
    if (exe === 'tcpdump' || exe === 'nw-capture') return exe;
  }
  return null;
}

async function bufferProgram(choice: CaptureProgramChoice): Promise<string | null> {
  const root = mkdtempSync(join(tmpdir(), 'nw-agent-lookback-'));
  const data = ConfinedDir.open(root);
  const manager = new LookbackManager({
    data,
    interfaceName: 'lo',
    captureProgram: choice,
    send: () => true,
    logger: createLogger({ name: 'test', level: 'silent' }),
  });
  try {
    manager.configure({ seconds: 10, maxSizeInBytes: 8 * 1024 * 1024, snapLengthInBytes: 96 });
    const dir = data.resolve('lookback');
    const deadline = Date.now() + 5000;
    let program: string | null = null;
    while (program === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      program = manager.state().running ? programWritingInto(dir) : null;
    }
    return program;
  } finally {
    await manager.close();
    data.close();
    rmSync(root, { recursive: true, force: true });
  }
}

test('NW_CAPTURE_PROGRAM=tcpdump runs the look-back buffer on tcpdump; native and auto on nw-capture', async () => {
  assert.ok(findNativeCapture() !== null, 'nw-capture is built (npm run build)');
  assert.equal(await bufferProgram('tcpdump'), 'tcpdump');
  assert.equal(await bufferProgram('native'), 'nw-capture');
  assert.equal(await bufferProgram('auto'), 'nw-capture');
});

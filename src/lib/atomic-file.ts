import { chmodSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Writes a file whole or not at all: to `PATH.PID.tmp` first, then renamed over `path` (rename(2)
 * is atomic within a file system, so a crash never leaves half a token, key or certificate). The
 * mode is set on the temporary file again because writeFile's mode only applies when it creates
 * the file, and a leftover temporary file keeps its old mode.
 * @example writeFileAtomically('/var/lib/netwatcher/admin-token', 'nwa_…\n', 0o600)
 */
export function writeFileAtomically(path: string, text: string, mode: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode });
  chmodSync(temporary, mode);
  renameSync(temporary, path);
}

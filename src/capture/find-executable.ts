import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** PATH used when the process has none (the folders Debian keeps tcpdump and setpriv in). */
export const DEFAULT_EXECUTABLE_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Where an executable is: `name` itself when it holds a slash and is executable, else the first
 * executable match in the folders of `pathVariable`; null when there is none. Empty PATH entries
 * are skipped, so a root process never runs a program from its working folder.
 * @example findExecutable('tcpdump', process.env.PATH ?? DEFAULT_EXECUTABLE_PATH) // '/usr/bin/tcpdump'
 */
export function findExecutable(name: string, pathVariable: string | undefined): string | null {
  const candidates = name.includes('/')
    ? [name]
    : (pathVariable ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

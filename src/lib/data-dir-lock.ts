import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { processIdentity } from './process-identity.js';

/** File in the data folder that names the one process using it. */
export const DATA_DIR_LOCK_FILE = 'netwatcher.lock';

const holderSchema = z.object({
  pid: z.number().int().positive(),
  startTicks: z.string().min(1).max(32),
  url: z.string().max(2048).nullable(),
  startedAt: z.string().max(64),
});

/** What the lock file says about the process holding it. */
export type DataDirLockHolder = z.output<typeof holderSchema>;

/** A second server on a data folder that a live process holds. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: DataDirLockHolder,
  ) {
    super(
      `netwatcher is already running on this data folder (pid ${holder.pid}, URL ${holder.url ?? 'not listening yet'}): ${dataDir}. Stop it first, or give another --data-dir.`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** A held data-folder lock. */
export interface DataDirLock {
  /** Records the URL the server listens at, for the message a second instance prints. */
  setUrl(url: string): void;
  /** Removes the lock file if it is still this process's. */
  release(): void;
}

function readHolder(path: string): DataDirLockHolder | null {
  try {
    const parsed = holderSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function isAlive(holder: DataDirLockHolder): boolean {
  // A PID alone could have been reused since a kill -9; the start time cannot.
  return processIdentity(holder.pid)?.startTicks === holder.startTicks;
}

/** Writes a file next to `path` and returns its name (to link or rename into place: never half-written). */
function writeTemporary(path: string, holder: DataDirLockHolder): string {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, JSON.stringify(holder) + '\n', { mode: 0o600, flag: 'wx' });
  return temporary;
}

/**
 * Throws DataDirInUseError if a live process holds the data folder; takes nothing. For what
 * must not happen on a folder in use before the server takes the lock (writing TLS material).
 */
export function assertDataDirFree(dataDir: string): void {
  const current = readHolder(join(dataDir, DATA_DIR_LOCK_FILE));
  if (current && isAlive(current)) throw new DataDirInUseError(dataDir, current);
}

/**
 * Takes the data folder for this process, before anything opens the embedded database (PGlite
 * has no lock of its own, and two processes on one database corrupt it). The lock file appears
 * complete or not at all (written aside, then hard-linked into place, which fails if it exists);
 * a lock whose process is gone (PID dead, or reused by a process with another start time) is
 * stale and taken over. Throws DataDirInUseError when a live process holds it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, DATA_DIR_LOCK_FILE);
  const me = processIdentity(process.pid);
  if (!me) throw new Error("cannot read this process's own /proc entry to lock the data folder");
  let holder: DataDirLockHolder = {
    pid: me.pid,
    startTicks: me.startTicks,
    url: null,
    startedAt: new Date().toISOString(),
  };
  const mine = (found: DataDirLockHolder | null) => found?.pid === me.pid && found.startTicks === me.startTicks;
  for (let attempt = 0; ; attempt++) {
    const temporary = writeTemporary(path, holder);
    try {
      linkSync(temporary, path);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const current = readHolder(path);
      if (current && isAlive(current)) throw new DataDirInUseError(dataDir, current);
      // Stale (or unreadable): remove it and try again; a few rounds, in case another starter races us.
      if (attempt >= 3)
        throw new Error(
          `cannot take the lock ${path}: it keeps changing; is another netwatcher starting on this data folder?`,
        );
      try {
        unlinkSync(path);
      } catch {
        /* another starter removed it first */
      }
    } finally {
      unlinkSync(temporary);
    }
  }
  return {
    setUrl(url) {
      holder = { ...holder, url };
      if (!mine(readHolder(path))) return;
      renameSync(writeTemporary(path, holder), path);
    },
    release() {
      if (mine(readHolder(path))) unlinkSync(path);
    },
  };
}

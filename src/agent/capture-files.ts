import { closeSync } from 'node:fs';
import { posix } from 'node:path';
import type { Logger } from '../lib/index.js';
import type { AgentCaptureOrder } from '../model/index.js';
import { ConfinedDir } from './confined-dir.js';
import { captureRelativePath } from './paths.js';

/** A file of a capture: the folder it is in (held open) and its path below it. */
export interface CaptureFileLocation {
  dir: ConfinedDir;
  rel: string;
}

/**
 * Where the files of the agent's captures live, reached only through held folders: the data
 * folder (state in `captures/`, spool in `spool/`) and the capture root (files a capture keeps
 * on the host, under the rules of paths.ts).
 */
export class CaptureFiles {
  /** The data folder, held open: state and spool files are reached through it, never by a path a link could redirect. */
  readonly data: ConfinedDir;
  private captureRoot: ConfinedDir | null = null;

  constructor(
    dataDir: string,
    private readonly captureRootPath: string,
    private readonly logger: Logger,
  ) {
    this.data = ConfinedDir.open(dataDir);
    this.data.list('captures', true);
    this.data.list('spool', true);
  }

  /** The capture root, opened the first time a capture keeps its file on the host. */
  private root(): ConfinedDir {
    this.captureRoot ??= ConfinedDir.open(this.captureRootPath);
    return this.captureRoot;
  }

  /** Where a single-file capture's file lives. Throws CapturePathError for a local path the rules refuse. */
  fileLocation(order: AgentCaptureOrder): CaptureFileLocation {
    if (order.localFilePath === null) return { dir: this.data, rel: `spool/${order.captureUid}.cap` };
    return { dir: this.root(), rel: captureRelativePath(this.captureRootPath, order.localFilePath) };
  }

  /** Where a ring file lives: the folder of localFilePath, or the capture's spool folder. */
  ringFileLocation(order: AgentCaptureOrder, name: string): CaptureFileLocation {
    if (order.localFilePath === null) return { dir: this.data, rel: `spool/${order.captureUid}/${name}` };
    const rel = captureRelativePath(this.captureRootPath, order.localFilePath);
    const folder = posix.dirname(rel);
    return { dir: this.root(), rel: folder === '.' ? name : `${folder}/${name}` };
  }

  /** Runs `use` with a path that reaches the capture's file itself (opened without following links), or returns null when there is none. */
  async withFile<T>(
    order: AgentCaptureOrder,
    write: boolean,
    use: (path: string) => Promise<T>,
    location?: CaptureFileLocation,
  ): Promise<T | null> {
    if (order.ring && !location) return null; // a ring has no single file
    const { dir, rel } = location ?? this.fileLocation(order);
    const opened = dir.openExisting(rel, write);
    if (!opened) return null;
    closeSync(opened.dirFd);
    try {
      // /proc/self/fd/N re-opens the very inode held, so nothing swapped in at the path meanwhile is read.
      return await use(`/proc/self/fd/${opened.fd}`);
    } finally {
      closeSync(opened.fd);
    }
  }

  /** Removes a file; a failure is logged, not thrown (the file is left for the operator). */
  removeQuietly(dir: ConfinedDir, rel: string): void {
    try {
      dir.remove(rel);
    } catch (error) {
      this.logger.warn({ err: error, path: dir.resolve(rel) }, 'could not remove a file');
    }
  }
}

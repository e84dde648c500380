import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { isAbsolute, normalize, sep } from 'node:path';

/** A path below an agent folder that would leave it, or that a link or foreign file stands in the way of. */
export class ConfinedPathError extends Error {
  override readonly name = 'ConfinedPathError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY } = constants;

// Node has no openat(2). Linux gives the same through /proc/self/fd/N: the magic link names the
// directory the descriptor holds (wherever it has been moved, whatever replaced its old path), and
// the name after it is looked up in that very directory. Opening every folder this way with
// O_NOFOLLOW|O_DIRECTORY, one component at a time from a held root, means no symbolic link — at
// any level, planted before or while the agent works — is ever followed.
const at = (dirFd: number, name: string): string => `/proc/self/fd/${dirFd}/${name}`;

/** Splits a relative path into plain components, refusing anything that could climb or is empty. */
function components(relPath: string): string[] {
  const parts = relPath.split('/');
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..' || part.includes('\0'))
      throw new ConfinedPathError(`'${relPath}' is not a plain relative path.`);
    if (Buffer.byteLength(part) > 255)
      throw new ConfinedPathError(`a component of '${relPath}' is longer than 255 bytes.`);
  }
  return parts;
}

function linkError(path: string, error: unknown): ConfinedPathError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ELOOP' || code === 'ENOTDIR')
    return new ConfinedPathError(`'${path}' goes through a symbolic link or a non-folder; refused.`, { cause: error });
  if (code === 'EEXIST')
    return new ConfinedPathError(`'${path}' already exists; choose another file name.`, { cause: error });
  return new ConfinedPathError(`cannot use '${path}': ${(error as Error).message}`, { cause: error });
}

/**
 * One of the agent's folders (the data folder, the spool, the capture root), held open so that
 * files are created, read, renamed and removed below it without ever following a symbolic link.
 * The folder's own path is the operator's configuration and is trusted up to its last component,
 * which must be a real folder (it is created owner-only when missing).
 * @example
 * const spool = ConfinedDir.open('/var/lib/netwatcher/agent/spool');
 * const { fd } = spool.createExclusive('uid.cap'); // fails if anything (even a dangling link) is there
 */
export class ConfinedDir {
  private constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  /** Opens (creating if missing, mode 0700) the folder at the absolute `path`. */
  static open(path: string): ConfinedDir {
    if (!isAbsolute(path)) throw new ConfinedPathError(`'${path}' must be absolute.`);
    const normal = normalize(path).replace(/\/+$/, '') || '/';
    try {
      mkdirSync(normal, { recursive: true, mode: 0o700 });
      return new ConfinedDir(normal, openSync(normal, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    } catch (error) {
      throw linkError(normal, error);
    }
  }

  /** Releases the folder's descriptor. */
  close(): void {
    closeSync(this.fd);
  }

  /** The absolute path of `relPath` below this folder (for logs and state; never opened by path). */
  resolve(relPath: string): string {
    return `${this.path === '/' ? '' : this.path}/${components(relPath).join('/')}`;
  }

  /** The path relative to this folder of an absolute `path` lexically below it, or null when it is not below. */
  relativeOf(path: string): string | null {
    const normal = normalize(path);
    const prefix = this.path.endsWith(sep) ? this.path : `${this.path}${sep}`;
    if (!isAbsolute(path) || !normal.startsWith(prefix) || normal.length === prefix.length) return null;
    try {
      components(normal.slice(prefix.length));
    } catch {
      return null;
    }
    return normal.slice(prefix.length);
  }

  /**
   * Opens the folder holding `relPath`'s last component, walking (and with `create`, making,
   * mode 0700) each folder with no link followed. Returns its descriptor and the last name; the
   * caller closes the descriptor.
   */
  openParent(relPath: string, create: boolean): { dirFd: number; name: string } {
    const parts = components(relPath);
    const name = parts.pop()!;
    let fd = openSync(at(this.fd, '.'), O_RDONLY | O_DIRECTORY);
    let walked = this.path;
    try {
      for (const part of parts) {
        walked = `${walked}/${part}`;
        // mkdir never follows a link in its last component: a planted link gives EEXIST, then the open below refuses it.
        if (create)
          try {
            mkdirSync(at(fd, part), { mode: 0o700 });
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          }
        const next = openSync(at(fd, part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        closeSync(fd);
        fd = next;
      }
    } catch (error) {
      closeSync(fd);
      throw linkError(walked, error);
    }
    return { dirFd: fd, name };
  }

  /**
   * Creates `relPath` (its folders too) as a new file: fails when anything at all is there,
   * a dangling link included (O_CREAT|O_EXCL never follows one). Returns the open descriptor,
   * the held parent folder's descriptor, and a path through it for code that only takes paths.
   */
  createExclusive(relPath: string, mode = 0o600): { fd: number; dirFd: number; heldPath: string } {
    const { dirFd, name } = this.openParent(relPath, true);
    try {
      const fd = openSync(at(dirFd, name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
      return { fd, dirFd, heldPath: at(dirFd, name) };
    } catch (error) {
      closeSync(dirFd);
      throw linkError(this.resolve(relPath), error);
    }
  }

  /**
   * Opens an existing regular file below this folder without following links (`write`: read and
   * write, else read only). Null when it does not exist. The caller closes both descriptors.
   */
  openExisting(relPath: string, write: boolean): { fd: number; dirFd: number; heldPath: string } | null {
    let parent: { dirFd: number; name: string };
    try {
      parent = this.openParent(relPath, false);
    } catch (error) {
      if (
        (error as ConfinedPathError).cause &&
        ((error as ConfinedPathError).cause as NodeJS.ErrnoException).code === 'ENOENT'
      )
        return null;
      throw error;
    }
    const { dirFd, name } = parent;
    try {
      const fd = openSync(at(dirFd, name), (write ? O_RDWR : O_RDONLY) | O_NOFOLLOW);
      if (!fstatSync(fd).isFile()) {
        closeSync(fd);
        throw new ConfinedPathError(`'${this.resolve(relPath)}' is not a regular file.`);
      }
      return { fd, dirFd, heldPath: at(dirFd, name) };
    } catch (error) {
      closeSync(dirFd);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      if (error instanceof ConfinedPathError) throw error;
      throw linkError(this.resolve(relPath), error);
    }
  }

  /** Reads a small file below this folder (no link followed); null when absent. */
  readFile(relPath: string): Buffer | null {
    const opened = this.openExisting(relPath, false);
    if (!opened) return null;
    try {
      return readFileSync(opened.fd);
    } finally {
      closeSync(opened.fd);
      closeSync(opened.dirFd);
    }
  }

  /**
   * Replaces `relPath` with `data` atomically (write a fresh temporary file, fsync, rename over):
   * a reader sees the old or the new content, and a link at either name is replaced, never followed.
   * On failure (a full disk) the old content stays and the temporary file is removed.
   */
  writeFileAtomic(relPath: string, data: string | Buffer, mode = 0o600): void {
    const { dirFd, name } = this.openParent(relPath, true);
    const tmp = `${name}.tmp`;
    try {
      try {
        unlinkSync(at(dirFd, tmp));
      } catch {
        /* not there */
      }
      const fd = openSync(at(dirFd, tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
      try {
        const buf = typeof data === 'string' ? Buffer.from(data) : data;
        for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      // rename(2) replaces a link at the target name; it never writes through it.
      renameSync(at(dirFd, tmp), at(dirFd, name));
    } catch (error) {
      try {
        unlinkSync(at(dirFd, tmp));
      } catch {
        /* already gone */
      }
      throw error;
    } finally {
      closeSync(dirFd);
    }
  }

  /** Removes the file (or link) `relPath` below this folder; a link's target is never touched. False when it was absent. */
  remove(relPath: string): boolean {
    let parent: { dirFd: number; name: string };
    try {
      parent = this.openParent(relPath, false);
    } catch {
      return false; // a folder on the way is missing or is a link: nothing of ours is there
    }
    try {
      unlinkSync(at(parent.dirFd, parent.name));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    } finally {
      closeSync(parent.dirFd);
    }
  }

  /** Names of the entries of the folder `relDir` below this one (walked, and with `create` made, with no link followed). */
  list(relDir: string, create = false): string[] {
    const { dirFd } = this.openParent(`${relDir}/.list`, create);
    try {
      return readdirSync(at(dirFd, '.'));
    } finally {
      closeSync(dirFd);
    }
  }
}

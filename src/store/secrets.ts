import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../lib/index.js';

/**
 * Secrets at rest (issue 9, point 6). Storage credentials, the URL-signing key and webhook URLs
 * are kept in the database sealed with AES-256-GCM under a key that lives outside the database
 * (DATA_DIR/secret-key, mode 0600, or a file the operator names), so a dump, a backup or the WAL
 * of the database alone reveals no credential. Losing the key loses those secrets: back it up.
 */

/** Prefix of a sealed value: format version 1 is `nwenc:v1:IV:CIPHERTEXT:TAG`, each base64url. */
const SEALED_PREFIX = 'nwenc:v1:';

/** Name of the key file in the data folder. */
export const SECRET_KEY_FILE = 'secret-key';

/** Plain text the key check seals, so a start with the wrong key fails before it reads a secret. */
const KEY_CHECK_TEXT = 'netwatcher secret-key check';

/** Seals and opens secrets with one 256-bit key (AES-256-GCM: confidentiality and integrity). */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error(`a secret key is 32 bytes (256 bits), not ${key.length}`);
    this.key = Buffer.from(key);
  }

  /** True when a value is in the sealed format (it may still fail to open under another key). */
  static isSealed(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(SEALED_PREFIX);
  }

  /** Seals a text; every call uses a fresh 96-bit nonce, as GCM requires. */
  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${SEALED_PREFIX}${iv.toString('base64url')}:${ct.toString('base64url')}:${cipher.getAuthTag().toString('base64url')}`;
  }

  /** Opens a sealed text; throws SecretKeyMismatchError when the key is not the one it was sealed with (or it was altered). */
  open(sealed: string): string {
    const parts = sealed.slice(SEALED_PREFIX.length).split(':');
    if (!SecretBox.isSealed(sealed) || parts.length !== 3)
      throw new SecretKeyMismatchError('a sealed secret in the database is malformed');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(parts[0]!, 'base64url'));
      decipher.setAuthTag(Buffer.from(parts[2]!, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(parts[1]!, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretKeyMismatchError(
        'a secret in the database cannot be opened with this secret key (another key sealed it, or it was altered)',
      );
    }
  }

  /** A value to store as proof of the key (see {@link SecretBox.checks}). */
  keyCheck(): string {
    return this.seal(KEY_CHECK_TEXT);
  }

  /** Whether a stored key check was sealed with this key. */
  checks(stored: string): boolean {
    try {
      return this.open(stored) === KEY_CHECK_TEXT;
    } catch {
      return false;
    }
  }
}

/** The secret key does not open the database's secrets. */
export class SecretKeyMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyMismatchError';
  }
}

/**
 * The secret key: read from `keyFile` when given (the operator's choice, e.g. the same file on
 * every replica), else DATA_DIR/secret-key, created (32 random bytes, base64, mode 0600) when
 * missing. A key file others can read is refused: the key is what keeps the secrets.
 */
export function loadOrCreateSecretKey(
  dataDir: string,
  keyFile?: string,
): { key: Buffer; file: string; created: boolean } {
  const file = keyFile ?? join(dataDir, SECRET_KEY_FILE);
  if (!existsSync(file)) {
    if (keyFile) throw new Error(`the secret key file ${file} does not exist`);
    writeFileAtomically(file, `${randomBytes(32).toString('base64')}\n`, 0o600);
    return { key: readKeyFile(file), file, created: true };
  }
  if ((lstatSync(file).mode & 0o077) !== 0) {
    throw new Error(
      `the secret key file ${file} is readable or writable by others (mode ${(lstatSync(file).mode & 0o777).toString(8)}): run chmod 600 ${file}`,
    );
  }
  return { key: readKeyFile(file), file, created: false };
}

function readKeyFile(file: string): Buffer {
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`the secret key file ${file} does not hold a 256-bit key (32 bytes, base64)`);
  return key;
}

/**
 * Makes a data folder and everything in it owner-only, whatever modes it had: folders 0700,
 * files without any group or other bits. Symbolic links are left alone (never followed: a link
 * planted in the folder must not make the server chmod something elsewhere). Returns how many
 * entries were tightened.
 */
export function tightenDataDir(dir: string): number {
  let changed = 0;
  const visit = (path: string): void => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      if ((st.mode & 0o777) !== 0o700) {
        chmodSync(path, 0o700);
        changed++;
      }
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if ((st.mode & 0o077) !== 0) {
      chmodSync(path, st.mode & 0o700);
      changed++;
    }
  };
  visit(dir);
  return changed;
}

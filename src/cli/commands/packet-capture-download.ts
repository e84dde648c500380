import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, link, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Writable } from 'node:stream';
import { packetCapturePath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext } from '../context.js';
import { DownloadError, UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { writeOutput } from '../output.js';
import { watcherFor, type PacketCaptureNameOptions } from './packet-capture.js';

/** Options of `nw network watcher packet-capture download`. */
export interface PacketCaptureDownloadOptions extends PacketCaptureNameOptions {
  /** Where to write (default `{name}.cap`, or `{name}_{instance}.cap`). */
  file?: string;
  /** Overwrite an existing file. */
  force?: boolean;
  /** Which host's file, for captures with several (scale sets). */
  instance?: string;
  /** One time-ordered file of every host's packets (pcapng, or --format pcap). */
  merge?: boolean;
  /** With --merge: pcapng (default) or pcap. */
  format?: string;
  /** Show progress on stderr even when it is not a terminal. */
  progress?: boolean;
}

/** What download wrote. */
export interface DownloadResult {
  /** Absolute path of the file. */
  file: string;
  sizeInBytes: number;
  /** Hex SHA-256 of the bytes written. */
  sha256: string;
  /** Whether the server sent a checksum and it matched. */
  verified: boolean;
}

/** The header carrying the hex SHA-256 of the file. */
export const CONTENT_SHA256_HEADER = 'x-nw-content-sha256';

/** `12345678` → `11.8 MiB`. */
export function formatBytes(sizeInBytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = sizeInBytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Writes a progress line at most every few hundred ms: `\r` rewrites on a terminal, new lines otherwise. */
class ProgressLine {
  private lastAt = 0;
  private wrote = false;

  constructor(
    private readonly err: Writable,
    private readonly label: string,
    private readonly totalInBytes: number | undefined,
    private readonly isTty: boolean,
  ) {}

  update(doneInBytes: number, final = false): void {
    const now = Date.now();
    if (!final && now - this.lastAt < (this.isTty ? 200 : 2000)) return;
    this.lastAt = now;
    const of = this.totalInBytes !== undefined && this.totalInBytes > 0
      ? ` of ${formatBytes(this.totalInBytes)} (${Math.floor((doneInBytes / this.totalInBytes) * 100)}%)`
      : '';
    const text = `Downloading ${this.label}: ${formatBytes(doneInBytes)}${of}`;
    this.err.write(this.isTty ? `\r${text}\u001b[K` : `${text}\n`);
    this.wrote = true;
    if (final && this.isTty) this.err.write('\n');
  }

  finish(doneInBytes: number): void {
    if (this.wrote || doneInBytes > 0) this.update(doneInBytes, true);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `nw network watcher packet-capture download`: streams the capture's .cap file to disk through
 * a temporary file, checks its size and SHA-256 against the server's headers, then moves it in
 * place (never over an existing file unless --force). Prints `{file, sizeInBytes, sha256, verified}`.
 * @example await packetCaptureDownload({ name: 'pc1', location: 'westcentralus', file: 'pc1.cap' }, ctx);
 */
export async function packetCaptureDownload(options: PacketCaptureDownloadOptions, ctx: CliContext): Promise<DownloadResult> {
  const name = requireOption('--name/-n', options.name);
  const format = (options.format ?? 'pcapng').toLowerCase();
  if (options.format !== undefined && !options.merge) throw new UsageError('usage error: --format applies with --merge');
  if (options.merge && format !== 'pcapng' && format !== 'pcap') throw new UsageError(`argument --format: invalid choice: '${options.format}' (choose from 'pcapng', 'pcap')`);
  if (options.merge && options.instance) throw new UsageError('usage error: --merge takes every host; omit --instance');
  const target = resolve(options.file ?? (options.merge ? `${name}.${format}` : options.instance ? `${name}_${options.instance}.cap` : `${name}.cap`));
  if (!options.force && (await exists(target))) throw new DownloadError(`the file ${target} already exists; pass --force to overwrite it`);

  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const response = await conn.client.stream('GET', `${packetCapturePath(watcher.path, name)}/download`, { query: options.merge ? { merge: 'true', format } : { instance: options.instance } });
  const lengthHeader = response.headers.get('content-length');
  const expectedLength = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const expectedSha256 = response.headers.get(CONTENT_SHA256_HEADER)?.trim().toLowerCase();

  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const hash = createHash('sha256');
  let receivedInBytes = 0;
  const progress = options.progress || ctx.errIsTty ? new ProgressLine(ctx.err, basename(target), expectedLength, Boolean(ctx.errIsTty)) : undefined;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      receivedInBytes += chunk.length;
      progress?.update(receivedInBytes);
      callback(null, chunk);
    },
  });
  // Captures hold whatever crossed the wire: readable by the owner only.
  const file = createWriteStream(temporary, { flags: 'wx', mode: 0o600 });
  try {
    const source = response.body ? Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
    await pipeline(source, meter, file);
    progress?.finish(receivedInBytes);
    const sha256 = hash.digest('hex');
    if (expectedLength !== undefined && receivedInBytes !== expectedLength) {
      throw new DownloadError(`the download of '${name}' is incomplete: received ${receivedInBytes} of ${expectedLength} bytes`);
    }
    if (expectedSha256 !== undefined && expectedSha256 !== sha256) {
      throw new DownloadError(`the download of '${name}' is corrupt: SHA-256 ${sha256} does not match the server's ${expectedSha256}`);
    }
    // A merged file is made as it streams: there is no stored file to have a checksum of.
    if (expectedSha256 === undefined && !options.merge) ctx.err.write(`WARNING: the server sent no ${CONTENT_SHA256_HEADER} header; the file's checksum was not verified\n`);
    await placeFile(temporary, target, Boolean(options.force));
    const result: DownloadResult = { file: target, sizeInBytes: receivedInBytes, sha256, verified: expectedSha256 !== undefined };
    writeOutput(ctx.out, result, options.output);
    return result;
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

// Without --force a hard link places the file atomically and fails if the name was taken
// meanwhile; rename would silently replace it.
async function placeFile(temporary: string, target: string, force: boolean): Promise<void> {
  if (force) {
    await rename(temporary, target);
    return;
  }
  try {
    await link(temporary, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new DownloadError(`the file ${target} already exists; pass --force to overwrite it`);
    // File systems without hard links: fall back to check-then-rename.
    if (await exists(target)) throw new DownloadError(`the file ${target} already exists; pass --force to overwrite it`);
    await rename(temporary, target);
    return;
  }
  await unlink(temporary);
}

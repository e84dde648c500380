import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, link, mkdir, rename, unlink } from 'node:fs/promises';
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
import {
  CAPTURE_NAME_OPTIONS,
  queryPacketCaptureStatus,
  watcherFor,
  type PacketCaptureNameOptions,
} from './packet-capture.js';
import { defineCommand, type Declaration, type OptionTable, type OptionValues } from '../command-declaration.js';

/** The flags of `packet-capture download`. */
export const PACKET_CAPTURE_DOWNLOAD_OPTIONS = {
  ...CAPTURE_NAME_OPTIONS,
  file: { flags: '-f, --file <path>', description: "where to write (default NAME.cap, or the ring file's name)" },
  ringFile: {
    flags: '--ring-file <name>',
    description: 'continuous capture: the ring file to download (a name from show-status files[])',
  },
  allFiles: { flags: '--all-files', description: 'continuous capture: download every ring file kept (into --dir)' },
  dir: { flags: '--dir <folder>', description: 'with --all-files: the folder to write into (default .)' },
  force: { flags: '--force', description: 'overwrite an existing file' },
  instance: {
    flags: '--instance <vm>',
    description: 'host whose file to fetch, for captures with several (a scale set: its instance id)',
  },
  merge: {
    flags: '--merge',
    description: "one time-ordered file of every host's packets (pcapng: one interface per host, named)",
  },
  format: { flags: '--format <format>', description: 'with --merge: pcapng (default) or pcap' },
  progress: { flags: '--progress', description: 'show progress even when stderr is not a terminal' },
} as const satisfies OptionTable;

/** Options of `packet-capture download`. */
export type PacketCaptureDownloadOptions = PacketCaptureNameOptions &
  OptionValues<typeof PACKET_CAPTURE_DOWNLOAD_OPTIONS>;

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
    const of =
      this.totalInBytes !== undefined && this.totalInBytes > 0
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
export async function packetCaptureDownload(
  options: PacketCaptureDownloadOptions,
  ctx: CliContext,
): Promise<DownloadResult> {
  const name = requireOption('--name/-n', options.name);
  if (options.allFiles) throw new UsageError('usage error: --all-files is packetCaptureDownloadAll');
  if (options.dir !== undefined) throw new UsageError('usage error: --dir goes with --all-files');
  const format = (options.format ?? 'pcapng').toLowerCase();
  if (options.format !== undefined && !options.merge)
    throw new UsageError('usage error: --format applies with --merge');
  if (options.merge && format !== 'pcapng' && format !== 'pcap')
    throw new UsageError(`argument --format: invalid choice: '${options.format}' (choose from 'pcapng', 'pcap')`);
  if (options.merge && options.instance) throw new UsageError('usage error: --merge takes every host; omit --instance');
  if (options.merge && options.ringFile)
    throw new UsageError("usage error: --merge takes each host's one file; omit --ring-file");
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const target = resolve(
    options.file ??
      options.ringFile ??
      (options.merge ? `${name}.${format}` : options.instance ? `${name}_${options.instance}.cap` : `${name}.cap`),
  );
  const query = options.merge ? { merge: 'true', format } : { instance: options.instance, file: options.ringFile };
  const result = await downloadOne(
    conn,
    `${packetCapturePath(watcher.path, name)}/download`,
    query,
    target,
    name,
    options,
    ctx,
  );
  writeOutput(ctx.out, result, options.output);
  return result;
}

/**
 * `nw network watcher packet-capture download --all-files`: every ring file a continuous capture
 * keeps now (show-status files[]), oldest first, into --dir, each checked as a single download.
 * @example await packetCaptureDownloadAll({ name: 'ring1', location: 'westcentralus', allFiles: true, dir: 'ring1' }, ctx);
 */
export async function packetCaptureDownloadAll(
  options: PacketCaptureDownloadOptions,
  ctx: CliContext,
): Promise<DownloadResult[]> {
  const name = requireOption('--name/-n', options.name);
  if (options.ringFile !== undefined || options.file !== undefined)
    throw new UsageError(
      'usage error: --all-files writes every ring file into --dir; it excludes --ring-file and --file',
    );
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  {
    // The ring files kept now (show-status files[]), oldest first; each one checked as a single download is.
    const status = await queryPacketCaptureStatus(conn, watcher, name);
    const additional = (status['additionalProperties'] ?? {}) as { files?: Array<{ name: string; instance: string }> };
    if (!Array.isArray(additional.files))
      throw new UsageError(`capture '${name}' is not a continuous capture; download its file without --all-files`);
    const wanted = additional.files.filter(
      (f) => options.instance === undefined || f.instance.toLowerCase() === options.instance.toLowerCase(),
    );
    const folder = resolve(options.dir ?? '.');
    await mkdir(folder, { recursive: true });
    const results: DownloadResult[] = [];
    for (const f of wanted) {
      const target = join(
        folder,
        wanted.some((o) => o !== f && o.name === f.name) ? `${f.instance}_${f.name}` : f.name,
      );
      results.push(
        await downloadOne(
          conn,
          `${packetCapturePath(watcher.path, name)}/download`,
          { instance: options.instance ?? f.instance, file: f.name },
          target,
          name,
          options,
          ctx,
        ),
      );
    }
    writeOutput(ctx.out, results, options.output);
    return results;
  }
}

/** Streams one file to `target` through a temporary file, checking size and SHA-256, then moves it in place. */
async function downloadOne(
  conn: ReturnType<typeof connect>,
  path: string,
  query: Record<string, string | undefined>,
  target: string,
  name: string,
  options: PacketCaptureDownloadOptions,
  ctx: CliContext,
): Promise<DownloadResult> {
  if (!options.force && (await exists(target)))
    throw new DownloadError(`the file ${target} already exists; pass --force to overwrite it`);
  const response = await conn.client.stream('GET', path, { query });
  const lengthHeader = response.headers.get('content-length');
  const expectedLength = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const expectedSha256 = response.headers.get(CONTENT_SHA256_HEADER)?.trim().toLowerCase();

  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const hash = createHash('sha256');
  let receivedInBytes = 0;
  const progress =
    options.progress || ctx.errIsTty
      ? new ProgressLine(ctx.err, basename(target), expectedLength, Boolean(ctx.errIsTty))
      : undefined;
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
    const source = response.body
      ? Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>)
      : Readable.from([]);
    await pipeline(source, meter, file);
    progress?.finish(receivedInBytes);
    const sha256 = hash.digest('hex');
    if (expectedLength !== undefined && receivedInBytes !== expectedLength) {
      throw new DownloadError(
        `the download of '${name}' is incomplete: received ${receivedInBytes} of ${expectedLength} bytes`,
      );
    }
    if (expectedSha256 !== undefined && expectedSha256 !== sha256) {
      throw new DownloadError(
        `the download of '${name}' is corrupt: SHA-256 ${sha256} does not match the server's ${expectedSha256}`,
      );
    }
    // A merged file is made as it streams: there is no stored file to have a checksum of.
    if (expectedSha256 === undefined && !options.merge)
      ctx.err.write(
        `WARNING: the server sent no ${CONTENT_SHA256_HEADER} header; the file's checksum was not verified\n`,
      );
    await placeFile(temporary, target, Boolean(options.force));
    return { file: target, sizeInBytes: receivedInBytes, sha256, verified: expectedSha256 !== undefined };
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
    if (await exists(target))
      throw new DownloadError(`the file ${target} already exists; pass --force to overwrite it`);
    await rename(temporary, target);
    return;
  }
  await unlink(temporary);
}

/** The commands of this file, in help order. */
export const PACKET_CAPTURE_DOWNLOAD_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'download'],
    description: "download a capture's .cap file, checking its SHA-256",
    examples: [
      'nw network watcher packet-capture download --name packetCaptureName --location westcentralus',
      'nw network watcher packet-capture download --name pc2 --location westcentralus --instance myScaleSet_1 --file pc2-1.cap --force',
      'nw network watcher packet-capture download --name pc2 --location westcentralus --merge --file all.pcapng',
      'nw network watcher packet-capture download --name ring1 --location westcentralus --ring-file ring-000004.cap',
      'nw network watcher packet-capture download --name ring1 --location westcentralus --all-files --dir ./ring1',
    ],
    options: PACKET_CAPTURE_DOWNLOAD_OPTIONS,
    run: (o, { ctx }) => (o.allFiles ? packetCaptureDownloadAll(o, ctx) : packetCaptureDownload(o, ctx)),
  }),
];

import type { FileHandle } from 'node:fs/promises';
import type { FileHashTally } from './file-hash-tally.js';
import { UploadStepError } from './upload-retry.js';

// The blocks of an Azure or S3 upload, read into buffers kept for the whole upload. Each block
// used to be read into a new 8 MiB Buffer (128 per GB): fresh pages for the kernel to zero and
// fault in, and external memory that V8 counts toward its heap limits, so that an upload of a
// few GB ran major GCs costing ~0.85 CPU-s per GB, more than reading and sending the bytes
// (bench/capture-fidelity/finalise-steps.ts, issue 18).

/** Fills `buffer` from the file at `position`; a short read means the file changed under us. */
export async function readFully(file: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await file.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0)
      throw new UploadStepError(
        'LocalFileChanged',
        `the local file ended at ${position + filled} bytes while uploading`,
        false,
        false,
      );
    filled += bytesRead;
  }
}

/**
 * Reads blocks of one open file into buffers reused from block to block: as many buffers as
 * blocks are in use at once, never one per block.
 * @example
 * const reader = new BlockReader(file, blockSize, tally);
 * await reader.withBlock(index * blockSize, length, (bytes) => send(bytes));
 */
export class BlockReader {
  private readonly spare: Buffer[] = [];
  private lastRead: Promise<void> = Promise.resolve();
  private made = 0;

  constructor(
    private readonly file: FileHandle,
    private readonly blockSizeInBytes: number,
    private readonly tally?: FileHashTally,
  ) {}

  /** How many buffers the reader has made so far (at most the number of blocks used at once). */
  get buffersMade(): number {
    return this.made;
  }

  /**
   * Runs `use` with bytes [position, position + length) of the file. The reads run one at a
   * time in the order of the calls, and the tally is fed in that order: blocks taken in file
   * order reach it in file order, so it hashes each as it lands and never holds one. The
   * buffer is reused once `use` settles: `use` must be done with the bytes by then (a request
   * that sent them has been answered or destroyed).
   */
  async withBlock<T>(position: number, length: number, use: (bytes: Buffer) => Promise<T>): Promise<T> {
    if (length > this.blockSizeInBytes)
      throw new RangeError(`a block of ${length} bytes is larger than the reader's ${this.blockSizeInBytes}`);
    const buffer = this.spare.pop() ?? this.makeBuffer();
    try {
      const bytes = buffer.subarray(0, length);
      // Chained before any await, so the order of the reads is the order of the calls.
      const read = this.lastRead.then(async () => {
        await readFully(this.file, bytes, position);
        this.tally?.feed(position, bytes);
      });
      this.lastRead = read.catch(() => undefined);
      await read;
      return await use(bytes);
    } finally {
      this.spare.push(buffer);
    }
  }

  private makeBuffer(): Buffer {
    this.made += 1;
    // Outside Node's shared pool: these live for the upload and are as large as a block.
    return Buffer.allocUnsafeSlow(this.blockSizeInBytes);
  }
}

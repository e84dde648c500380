// The SHA-256 of a file from the reads the upload makes anyway. uploadFile used to hash the whole
// file before sending it (a second read and a second SHA-256 after the engine's own: ~1.1 CPU-s
// per GB, as much as the capture's finalisation; bench/capture-fidelity/finalise-steps.ts). Each
// kind's uploader reads every byte of the file at least once (Azure blocks and S3 parts
// concurrently, so out of order); the tally hashes those reads in file order, keeping a piece
// read ahead of a gap until the gap is read, and ignores what it has hashed already (a retry's
// re-read). A file that changed after the engine hashed it is still found (LocalFileChanged)
// before the server is asked to verify, without reading it twice.
import { createHash, type Hash } from 'node:crypto';

/** Hashes the pieces of one file as they are read, in file order. */
export class FileHashTally {
  private readonly hash: Hash = createHash('sha256');
  private next = 0;
  // Pieces read ahead of `next`, by their first offset.
  private readonly ahead = new Map<number, Buffer>();

  constructor(private readonly sizeInBytes: number) {}

  /** Takes the bytes read at file offset `position`; the caller may reuse their buffer as soon as this returns. */
  feed(position: number, bytes: Buffer): void {
    if (bytes.length === 0 || this.next >= this.sizeInBytes) return;
    if (position > this.next) {
      // A copy: the uploaders read into buffers they reuse for the next block (BlockReader).
      // BlockReader feeds its blocks in file order, so on the uploaders' paths nothing is held.
      const held = this.ahead.get(position);
      if (held === undefined || held.length < bytes.length) this.ahead.set(position, Buffer.from(bytes));
      return;
    }
    this.take(position, bytes);
    // Pieces read ahead that the gap's fill has reached.
    for (let moved = true; moved && this.ahead.size > 0;) {
      moved = false;
      for (const [at, piece] of this.ahead) {
        if (at > this.next) continue;
        this.ahead.delete(at);
        this.take(at, piece);
        moved = true;
      }
    }
  }

  /** Whether every byte of the file has been hashed. */
  get complete(): boolean {
    return this.next >= this.sizeInBytes;
  }

  /** Hex SHA-256 of the whole file; only when complete. */
  digest(): string {
    if (!this.complete) throw new Error(`the tally holds ${this.next} of ${this.sizeInBytes} bytes`);
    return this.hash.digest('hex');
  }

  private take(position: number, bytes: Buffer): void {
    const end = Math.min(position + bytes.length, this.sizeInBytes);
    if (end <= this.next) return;
    this.hash.update(bytes.subarray(this.next - position, end - position));
    this.next = end;
  }
}

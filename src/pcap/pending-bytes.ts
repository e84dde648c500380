/**
 * The bytes a push parser has received but not yet consumed. Chunks are kept as a list and joined
 * only once enough is buffered for the next whole unit, so a large record delivered in many tiny
 * chunks costs O(n), not O(n^2). Both stream parsers (classic pcap and pcapng) buffer this way.
 * @example
 * const buf = pending.add(chunk, needed); if (buf) { const used = parse(buf); pending.keepFrom(buf, used); }
 */
export class PendingBytes {
  private chunks: Buffer[] = [];
  private bytes = 0;

  /** How many bytes are buffered. */
  get length(): number {
    return this.bytes;
  }

  /**
   * Adds a chunk; returns every buffered byte as one buffer when at least `neededBytes` are
   * buffered, else null (the caller waits for more). The caller must then call {@link keepFrom}.
   */
  add(chunk: Buffer, neededBytes: number): Buffer | null {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < neededBytes) return null;
    return this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.bytes);
  }

  /** Keeps what `buf` (the buffer {@link add} returned) holds from `cursor` on; the rest was consumed. */
  keepFrom(buf: Buffer, cursor: number): void {
    const rest = buf.subarray(cursor);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.bytes = rest.length;
  }
}

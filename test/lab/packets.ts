/**
 * Comparing the packets of two captures of the same traffic (the product's file against a
 * reference tcpdump's) byte for byte.
 */

/**
 * A packet's bytes as a comparison key, with the unused tail of the Linux cooked header's 8-byte
 * link-layer address zeroed: beyond the address's length (6 for Ethernet) the kernel leaves
 * whatever was in its buffer, so two captures of one packet may differ in those two bytes.
 */
export function comparablePacketKey(linkType: number, data: Buffer): string {
  const copy = Buffer.from(data);
  if (linkType === 276 && copy.length >= 20) copy.fill(0, Math.min(20, 12 + copy[11]!), 20); // LINUX_SLL2
  if (linkType === 113 && copy.length >= 16) copy.fill(0, Math.min(14, 6 + copy.readUInt16BE(4)), 14); // LINUX_SLL
  return copy.toString('hex');
}

// TLS records (RFC 8446 §5.1) and the ClientHello's server_name extension (RFC 6066 §3), read
// from a single TCP segment: a ClientHello nearly always fits one.

/** True when `buf[at…]` starts like a TLS record: a known content type, version 3.x, a sane length. */
export function looksLikeTlsRecord(buf: Buffer, at: number, available: number): boolean {
  if (available < 5) return false;
  const type = buf[at] as number;
  return (
    type >= 20 && type <= 23 && buf[at + 1] === 3 && (buf[at + 2] as number) <= 4 && buf.readUInt16BE(at + 3) <= 18432
  );
}

/** What a ClientHello says. */
export interface TlsClientHello {
  serverName: string | null;
  legacyVersion: number;
}

/**
 * Decodes a ClientHello at the start of a TCP payload; null when the payload is not one (or is cut short before its extensions).
 * @example parseTlsClientHello(payload, 0, payload.length)?.serverName
 */
export function parseTlsClientHello(buf: Buffer, at: number, available: number): TlsClientHello | null {
  const end = Math.min(buf.length, at + available);
  if (end - at < 9 || buf[at] !== 22 || buf[at + 1] !== 3 || buf[at + 5] !== 1) return null;
  let c = at + 9; // record header (5) + handshake type (1) + length (3)
  if (c + 34 > end) return null;
  const legacyVersion = buf.readUInt16BE(c);
  c += 34; // version + random
  const sessionIdLength = buf[c] as number;
  c += 1 + sessionIdLength;
  if (c + 2 > end) return null;
  c += 2 + buf.readUInt16BE(c); // cipher suites
  if (c + 1 > end) return null;
  c += 1 + (buf[c] as number); // compression methods
  if (c + 2 > end) return { serverName: null, legacyVersion };
  const extensionsEnd = Math.min(end, c + 2 + buf.readUInt16BE(c));
  c += 2;
  while (c + 4 <= extensionsEnd) {
    const type = buf.readUInt16BE(c);
    const length = buf.readUInt16BE(c + 2);
    const body = c + 4;
    if (type === 0 && body + 5 <= extensionsEnd) {
      // server_name_list: length(2), then entries of type(1) length(2) name.
      const nameType = buf[body + 2] as number;
      const nameLength = buf.readUInt16BE(body + 3);
      if (nameType === 0 && body + 5 + nameLength <= extensionsEnd)
        return { serverName: buf.toString('latin1', body + 5, body + 5 + nameLength), legacyVersion };
    }
    c = body + length;
  }
  return { serverName: null, legacyVersion };
}

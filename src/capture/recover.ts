import { createHash } from 'node:crypto';
import { createReadStream, existsSync, truncateSync } from 'node:fs';
import { PCAP_GLOBAL_HEADER_BYTES } from '../pcap/format.js';
import { PcapStreamParser } from '../pcap/stream-parser.js';
import { fileIdentityOfPath, type FileIdentity } from '../lib/file-identity.js';

/** What survives of a capture file whose writer died. */
export interface RecoveredCaptureFile {
  sizeInBytes: number;
  sha256: string;
  packetsCaptured: number;
  /** The file's identity after the cut (src/lib/file-identity.ts), for the uploader's check. */
  fileIdentity: FileIdentity;
}

/**
 * Makes the file of a capture whose process died (agent killed, host rebooted) a valid pcap again:
 * cuts it after its last complete record (a record half-written at the moment of death is
 * dropped) and hashes what remains. Returns null when there is no file or not even a pcap header,
 * so nothing can be kept. The packets written before the death are the capture's data: they are
 * stored like any other file.
 * @example await recoverCaptureFile('/var/lib/netwatcher/agent/spool/uid.cap') // { sizeInBytes: 4120, sha256: '…', packetsCaptured: 37 }
 */
export async function recoverCaptureFile(path: string): Promise<RecoveredCaptureFile | null> {
  if (!existsSync(path)) return null;
  let completeBytes = 0;
  let packets = 0;
  let headerSeen = false;
  const parser = new PcapStreamParser({
    onHeader: () => {
      headerSeen = true;
      completeBytes = PCAP_GLOBAL_HEADER_BYTES;
    },
    onRecord: (_record, raw) => {
      completeBytes += raw.length;
      packets++;
    },
  });
  try {
    for await (const chunk of createReadStream(path)) parser.push(chunk as Buffer);
  } catch {
    // Garbage after the good part (e.g. a torn write): keep what parsed cleanly before it.
  }
  if (!headerSeen) return null;
  truncateSync(path, completeBytes);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return {
    sizeInBytes: completeBytes,
    sha256: hash.digest('hex'),
    packetsCaptured: packets,
    fileIdentity: fileIdentityOfPath(path),
  };
}

/**
 * TLS material for a self-hosted server: self-signed certificates made with node's crypto alone
 * (no openssl binary, no extra package), SHA-256 fingerprints to pin them, and a pinned fetch of a
 * server's CA certificate so an agent can trust a self-signed server without copying files by hand.
 *
 * Certificates are X.509 v3, ECDSA P-256 / SHA-256, `basicConstraints CA:TRUE` (a self-signed
 * certificate is its own CA, and Node/OpenSSL accept it as a trust anchor in `ca` or
 * NODE_EXTRA_CA_CERTS), with subjectAltName for every name: clients match IP addresses and DNS
 * names only against the SAN, never the common name (RFC 6125).
 */
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { globalAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { dirname, join } from 'node:path';
import { writeFileAtomically } from './atomic-file.js';
import { hostname, networkInterfaces } from 'node:os';

/** A certificate and its private key, both PEM. */
export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

/** What a self-signed certificate is made for. */
export interface SelfSignedOptions {
  /** Host names and IP addresses (v4 or v6) the certificate is valid for; the first is also the common name. */
  names: string[];
  /** Validity from now (default 825 days, the longest most clients accept for a server certificate). */
  validityInDays?: number;
  /** Clock, for tests. */
  now?: Date;
}

/** Default validity of a generated certificate. */
export const SELF_SIGNED_VALIDITY_IN_DAYS = 825;

/** A generated certificate is renewed when it expires within this many days. */
const RENEW_BEFORE_IN_DAYS = 30;

/** The downloaded CA certificate does not have the pinned fingerprint (or is not a certificate). */
export class CaPinMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaPinMismatchError';
  }
}

// ---- DER (X.690) encoding, just what a certificate needs ---------------------------------------

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octets = (content: Buffer) => tlv(0x04, content);
const bitString = (content: Buffer, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const derTrue = () => tlv(0x01, Buffer.from([0xff]));
function positiveInteger(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && b[1]! < 0x80) b = b.subarray(1);
  return tlv(0x02, b[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}
function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    for (let n = Math.floor(part / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}
/** UTCTime until 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

/** The 4 or 16 bytes of an IP address (SAN iPAddress). */
export function ipAddressBytes(address: string): Buffer {
  const version = isIP(address);
  if (version === 4) return Buffer.from(address.split('.').map(Number));
  if (version !== 6) throw new TypeError(`not an IP address: ${address}`);
  let text = address.split('%')[0]!;
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + '0:0';
  }
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [derTrue()] : []), octets(value));
}

/**
 * Makes a self-signed server certificate for the given names (DNS names and IP addresses).
 * @example const { certPem, keyPem } = createSelfSignedCertificate({ names: ['myhost', 'localhost', '127.0.0.1', '::1'] });
 */
export function createSelfSignedCertificate(options: SelfSignedOptions): CertificatePair {
  const names = [...new Set(options.names.map((n) => n.trim()).filter((n) => n.length > 0))];
  if (names.length === 0) throw new TypeError('a certificate needs at least one name');
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - 5 * 60_000); // tolerate small clock differences
  const notAfter = new Date(now.getTime() + (options.validityInDays ?? SELF_SIGNED_VALIDITY_IN_DAYS) * 86_400_000);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = seq(set(seq(oid(OID.commonName), utf8(names[0]!.slice(0, 64)))));
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const altNames = names.map((n) => (isIP(n) ? tlv(0x87, ipAddressBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii'))));
  // The key identifier is the SHA-1 of the public key bits (RFC 5280 §4.2.1.2, method 1); the
  // last 65 bytes of a P-256 SPKI are the uncompressed point.
  const keyId = createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
  const extensions = seq(
    extension(OID.basicConstraints, true, seq(derTrue())),
    // digitalSignature (bit 0) for the TLS handshake, keyCertSign (bit 5) because it is its own CA.
    extension(OID.keyUsage, true, bitString(Buffer.from([0x84]), 2)),
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, seq(...altNames)),
    extension(OID.subjectKeyIdentifier, false, octets(keyId)),
  );
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const tbs = seq(
    tlv(0xa0, positiveInteger(Buffer.from([2]))), // v3
    positiveInteger(serial),
    algorithm,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    tlv(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const der = seq(tbs, algorithm, bitString(signature));
  return { certPem: toPem(der, 'CERTIFICATE'), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

function toPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Splits a PEM bundle into its certificates (in file order). */
export function splitPemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** Lower-case hex SHA-256 of a certificate's DER (what `openssl x509 -fingerprint -sha256` prints, without colons). */
export function certificateSha256(cert: X509Certificate | string): string {
  const x = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  return createHash('sha256').update(x.raw).digest('hex');
}

/** Normalizes a fingerprint as people paste it (`AB:CD:…`, spaces, upper case) to lower-case hex. */
export function normalizeSha256Fingerprint(text: string): string {
  const hex = text
    .replace(/^sha256[:/=]/i, '')
    .replace(/[\s:]/g, '')
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError(`not a SHA-256 fingerprint (64 hex digits): '${text}'`);
  return hex;
}

/** True when a certificate is signed by its own key (a root, or a self-signed server certificate). */
export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/**
 * The CA that clients of a server with this certificate chain must trust when no public CA
 * vouches for it: the self-signed certificate at the end of the chain, or null (a publicly
 * trusted chain normally ends with an intermediate, as servers do not send the root).
 */
export function selfSignedRootOf(chainPem: string): { pem: string; sha256: string } | null {
  const chain = splitPemCertificates(chainPem);
  const last = chain[chain.length - 1];
  if (!last || !isSelfSigned(last)) return null;
  return { pem: last.toString(), sha256: certificateSha256(last) };
}

/** Where `ensureSelfSignedCertificate` keeps its files, and what it did. */
export interface ServerCertificateFiles {
  certPath: string;
  keyPath: string;
  /** SHA-256 of the certificate (it is its own CA). */
  sha256: string;
  /** The names it is valid for. */
  names: string[];
  /** False when a certificate made earlier still covered every name and was not close to expiry. */
  created: boolean;
}

function covers(cert: X509Certificate, name: string): boolean {
  return isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined;
}

/**
 * Keeps a self-signed certificate for `names` in `dir` (cert.pem, key.pem mode 0600): reuses the
 * one made earlier while it covers every name and is not close to expiry, so clients that trust
 * it keep working across restarts; makes a new one otherwise.
 * @example const files = ensureSelfSignedCertificate('/var/lib/netwatcher/tls', ['nw1', 'localhost', '127.0.0.1']);
 */
export function ensureSelfSignedCertificate(dir: string, names: string[], now = new Date()): ServerCertificateFiles {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  const wanted = [...new Set(names.filter((n) => n.length > 0))];
  if (existsSync(certPath) && existsSync(keyPath)) {
    try {
      const cert = new X509Certificate(readFileSync(certPath));
      createPrivateKey(readFileSync(keyPath));
      const fresh = new Date(cert.validTo).getTime() - now.getTime() > RENEW_BEFORE_IN_DAYS * 86_400_000;
      if (fresh && isSelfSigned(cert) && wanted.every((n) => covers(cert, n))) {
        return { certPath, keyPath, sha256: certificateSha256(cert), names: wanted, created: false };
      }
    } catch {
      // Unreadable or damaged files: make new ones below.
    }
  }
  const pair = createSelfSignedCertificate({ names: wanted, now });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomically(keyPath, pair.keyPem, 0o600);
  writeFileAtomically(certPath, pair.certPem, 0o644);
  return { certPath, keyPath, sha256: certificateSha256(pair.certPem), names: wanted, created: true };
}

/**
 * Downloads a server's CA certificate from `url` and accepts it only if its SHA-256 matches
 * `sha256`. The download itself cannot verify the server (that is what the CA is for), so the pin
 * — delivered with the one-time enrolment token — is the proof: a machine in the middle can
 * answer, but not with a certificate of that fingerprint. Returns the PEM.
 * @example const pem = await fetchPinnedCertificate('https://nw:8817/agent/v1/ca.pem', '3f1c…');
 */
export function fetchPinnedCertificate(url: string, sha256: string, timeoutInMs = 15_000): Promise<string> {
  const pin = normalizeSha256Fingerprint(sha256);
  const target = new URL(url);
  if (target.protocol !== 'https:')
    return Promise.reject(new TypeError(`the CA certificate is fetched over https only, not ${target.protocol}`));
  return new Promise((resolve, reject) => {
    // rejectUnauthorized: false for this one request only; the pin below is the check.
    const req = httpsRequest(
      target,
      { method: 'GET', rejectUnauthorized: false, timeout: timeoutInMs, headers: { Accept: 'application/x-pem-file' } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 64 * 1024) {
            req.destroy(new CaPinMismatchError(`${url} sent more than 64 KiB; not a CA certificate`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(
              new CaPinMismatchError(
                `${url} answered HTTP ${res.statusCode}; the server has no self-signed CA to hand out`,
              ),
            );
            return;
          }
          const text = Buffer.concat(chunks).toString('utf8');
          let certs: X509Certificate[];
          try {
            certs = splitPemCertificates(text);
          } catch {
            certs = [];
          }
          const match = certs.find((c) => certificateSha256(c) === pin);
          if (!match) {
            reject(
              new CaPinMismatchError(
                `the CA certificate from ${url} does not have the expected SHA-256 ${pin}; refusing to trust it`,
              ),
            );
            return;
          }
          resolve(match.toString());
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out fetching ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Makes sure `caFile` holds the pinned CA certificate: keeps the file when its fingerprint
 * matches, otherwise fetches it from `url` (pinned) and writes it. Returns the path.
 */
export async function ensurePinnedCaFile(caFile: string, url: string, sha256: string): Promise<string> {
  const pin = normalizeSha256Fingerprint(sha256);
  if (existsSync(caFile)) {
    try {
      if (splitPemCertificates(readFileSync(caFile, 'utf8')).some((c) => certificateSha256(c) === pin)) return caFile;
    } catch {
      // Not a certificate: fetched again below.
    }
  }
  const pem = await fetchPinnedCertificate(url, pin);
  mkdirSync(dirname(caFile), { recursive: true, mode: 0o700 });
  writeFileAtomically(caFile, pem, 0o644);
  return caFile;
}

/**
 * Adds a CA to the ones this process trusts for node:https requests that bring no agent of their
 * own (the agent's uploads to a self-signed server's local storage go through these), keeping
 * Node's built-in roots for everything else. Process-wide, like NODE_EXTRA_CA_CERTS (which Node
 * reads only at start), so only entry points call it.
 */
export function trustCaInProcess(pem: string): void {
  const current = globalAgent.options.ca;
  const extra =
    current === undefined
      ? [...rootCertificates]
      : (Array.isArray(current) ? current : [current]).map((c) => c.toString());
  if (!extra.includes(pem)) globalAgent.options.ca = [...extra, pem];
}

/**
 * The names a self-signed certificate of `nw up --tls` / `nw server --tls-self-signed` covers: the host name, localhost, the loopback
 * addresses and the listen address — for a wildcard listen address, every address of the host,
 * so agents on other hosts can connect by IP.
 */
export function certificateNames(listenHost: string): string[] {
  const names = [hostname(), 'localhost', '127.0.0.1', '::1'];
  if (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '') {
    for (const addresses of Object.values(networkInterfaces()))
      for (const a of addresses ?? []) if (!a.internal) names.push(a.address.split('%')[0]!);
  } else {
    names.push(listenHost.replace(/^\[|\]$/g, ''));
  }
  return [...new Set(names)];
}

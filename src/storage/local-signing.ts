import { createHmac, timingSafeEqual } from 'node:crypto';
import { encodeBlobPath } from './blob-path.js';

// A local signed URL is bound to everything that makes it "this upload of this blob": method,
// account, container, blob path, expiry and declared size. Changing any of them, or using it
// after expiry, makes the server answer 403. Version-tagged so the format can change later.

/** HTTP methods a local signed URL can be made for. */
export type LocalSignedMethod = 'PUT' | 'HEAD';

/** What a local signed URL is bound to. */
export interface LocalSignedScope {
  method: LocalSignedMethod;
  account: string;
  container: string;
  blobPath: string;
  /** Unix time in seconds after which the URL is refused. */
  expiresAtInSeconds: number;
  sizeInBytes: number;
}

function signature(scope: LocalSignedScope, signingKey: Buffer): Buffer {
  const payload = [
    'nw-local-v1',
    scope.method,
    scope.account,
    scope.container,
    scope.blobPath,
    String(scope.expiresAtInSeconds),
    String(scope.sizeInBytes),
  ].join('\n');
  return createHmac('sha256', signingKey).update(payload, 'utf8').digest();
}

/** Path of a blob under the local routes: `/storage/{account}/{container}/{blobPath}` with each segment percent-encoded. */
export function localBlobRoutePath(account: string, container: string, blobPath: string): string {
  return `/storage/${encodeURIComponent(account)}/${encodeURIComponent(container)}/${encodeBlobPath(blobPath)}`;
}

/** A signed URL for `scope`, under `publicBaseUrl` (the server's public origin, optionally with a path prefix). */
export function signLocalUrl(publicBaseUrl: string, scope: LocalSignedScope, signingKey: Buffer): string {
  const query = new URLSearchParams({
    se: String(scope.expiresAtInSeconds),
    sz: String(scope.sizeInBytes),
    sig: signature(scope, signingKey).toString('base64url'),
  });
  return `${publicBaseUrl.replace(/\/+$/, '')}${localBlobRoutePath(scope.account, scope.container, scope.blobPath)}?${query.toString()}`;
}

/** Outcome of checking a local signed URL. */
export type LocalSignatureCheck =
  | { ok: true; sizeInBytes: number; expiresAtInSeconds: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'mismatch' };

/** Checks the `se`, `sz` and `sig` query parameters of a request against what it targets. */
export function verifyLocalSignature(
  target: { method: LocalSignedMethod; account: string; container: string; blobPath: string },
  query: { se?: unknown; sz?: unknown; sig?: unknown },
  signingKey: Buffer,
  nowInMs: number = Date.now(),
): LocalSignatureCheck {
  if (typeof query.sig !== 'string' || typeof query.se !== 'string' || typeof query.sz !== 'string')
    return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(query.se) || !/^\d{1,16}$/.test(query.sz)) return { ok: false, reason: 'malformed' };
  const scope: LocalSignedScope = { ...target, expiresAtInSeconds: Number(query.se), sizeInBytes: Number(query.sz) };
  const expected = signature(scope, signingKey);
  const given = Buffer.from(query.sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'mismatch' };
  // Checked after the signature so an attacker learns nothing from the answer about a forged expiry.
  if (nowInMs >= scope.expiresAtInSeconds * 1000) return { ok: false, reason: 'expired' };
  return { ok: true, sizeInBytes: scope.sizeInBytes, expiresAtInSeconds: scope.expiresAtInSeconds };
}

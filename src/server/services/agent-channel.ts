import { channel } from 'node:diagnostics_channel';
import type { AgentCaptureState, AgentToServer } from '../../model/index.js';
import { redactSecretsInText } from '../../storage/index.js';
import { isTerminal } from './capture-status.js';
import {
  captureTargetOf,
  hostKeyOf,
  notStartedState,
  targetStorage,
  type CaptureBody,
  type InstanceState,
} from './capture-types.js';
import { SERVER_DEFAULTS } from '../config.js';
import type { ServerContext } from './context.js';
import { captureOrder, evaluateCapture, ringBlobLocation } from './packet-captures.js';
import { blobStoreOf, hostFilesStore, type StorageAccountBody } from './storage-accounts.js';
import { setAgentConnected } from './vms.js';
import { recordLookbackState, sendLookbackSetting } from './lookback.js';
import type { ResourceRecord } from '../../store/index.js';

/** Where a host's file of a capture goes: the capture's storage account, or the server's host-files store when the capture keeps its file on the host and a user asked to download it. */
export async function uploadDestination(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  vmKey: string,
  baseUrl: string,
  ringFileSequence?: number,
) {
  // A scale-set instance's own blob; a ring (always one host: the API refuses fleet rings) names each file's blob from the capture's.
  const storage = targetStorage(rec.body._internal, vmKey);
  if (storage) {
    const account = await ctx.store.getResource<StorageAccountBody>(storage.accountKey);
    if (!account) return null;
    const location =
      ringFileSequence !== undefined
        ? ringBlobLocation(rec.body._internal, ringFileSequence)!
        : { container: storage.container, blobPath: storage.blobPath };
    return { store: blobStoreOf(ctx, account, baseUrl), location };
  }
  return {
    store: hostFilesStore(ctx, baseUrl),
    location: hostFileLocation(rec.body._internal.uid, vmKey, ringFileSequence),
  };
}

/** Location of a host's file in the server's host-files store (for a ring, one per file sequence). */
export function hostFileLocation(captureUid: string, vmKey: string, ringFileSequence?: number) {
  const host = Buffer.from(vmKey).toString('base64url');
  return {
    container: 'captures',
    blobPath:
      ringFileSequence !== undefined ? `${captureUid}/${host}/${ringFileSequence}.cap` : `${captureUid}/${host}.cap`,
  };
}

/**
 * Why a ring-file message does not fit the capture, or null: a sequence only for continuous
 * captures, none for single-file ones, and never one the ring has already deleted on the host.
 */
async function ringMismatch(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  vmKey: string,
  ringFileSequence: number | undefined,
): Promise<string | null> {
  const ring = rec.body._internal.ring;
  if (!ring)
    return ringFileSequence === undefined ? null : 'the capture is not a continuous capture; it has no ring files';
  if (ringFileSequence === undefined)
    return 'a continuous capture stores its ring files one by one (ringFileSequence missing)';
  const oldest = (await hostState(ctx, rec, vmKey))?.ring?.oldestSequence ?? 1;
  if (ringFileSequence < oldest)
    return `ring file ${ringFileSequence} was already deleted by the ring (the oldest kept is ${oldest})`;
  return null;
}

async function hostState(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  vmKey: string,
): Promise<InstanceState | null> {
  const rows = await ctx.store.listCaptureInstances<InstanceState>(rec.body._internal.uid);
  return rows.find((r) => hostKeyOf(r.vmKey) === hostKeyOf(vmKey))?.state ?? null;
}

/**
 * The storage side of the ring's rule: every stored file of this host's ring below the sequence
 * the host now reports as its oldest is deleted from the capture's storage account (or the
 * server's host-files store). The range starts at the oldest the previous state reported, so each
 * file is deleted once; a failure is logged and retried with the next state that moves the ring.
 */
async function deleteRotatedRingFiles(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  vmKey: string,
  previous: InstanceState | null,
  state: AgentCaptureState,
  baseUrl: string,
): Promise<void> {
  if (!rec.body._internal.ring || !state.ring) return;
  const from = previous?.ring?.oldestSequence ?? 1;
  const to = state.ring.oldestSequence;
  for (let sequence = from; sequence < to; sequence++) {
    const dest = await uploadDestination(ctx, rec, vmKey, baseUrl, sequence);
    if (!dest) return;
    await dest.store.delete(dest.location).catch((error: unknown) => {
      ctx.logger.warn(
        { capture: rec.id, sequence, reason: redactSecretsInText(String((error as Error).message)) },
        'could not delete a ring file the host rotated out from storage',
      );
    });
  }
}

/**
 * Published with `{ vmKey }` when a hello's host is recorded connected (its VM's agentConnected
 * and lastSeenAt written): what a benchmark preloaded into the server (bench/scale's probe) counts
 * to tell when a fleet is greeted on either database, the embedded one included, which no other
 * process can read while the server runs. Costs nothing without a subscriber.
 */
export const HELLO_RECORDED_CHANNEL = channel('netwatcher:agent-hello-recorded');

/**
 * Handles everything an agent says. `baseUrl` is how that agent reaches this server (used in the
 * upload URLs of local accounts).
 */
export async function handleAgentMessage(
  ctx: ServerContext,
  vmKey: string,
  baseUrl: string,
  msg: AgentToServer,
): Promise<void> {
  switch (msg.type) {
    case 'hello': {
      const batchIntervals = ctx.batchIntervals;
      await batchIntervals.ready();
      const vm = await setAgentConnected(ctx, vmKey, true, {
        agentVersion: msg.agentVersion,
        ...(msg.hostname !== '' ? { hostname: msg.hostname } : {}),
      });
      if (vm && HELLO_RECORDED_CHANNEL.hasSubscribers) HELLO_RECORDED_CHANNEL.publish({ vmKey });
      // The answer to the hello: this server takes batched metrics, every so many seconds — the
      // host's own interval, short when a rule that evaluates often watches it (older servers
      // send no welcome, and their agents' single reports are taken as before).
      if (vm) {
        ctx.hub.send(vmKey, batchIntervals.welcome(vm));
        // The host's look-back setting again (it may have changed while the agent was away), before any re-sent capture order that may ask for the past.
        sendLookbackSetting(ctx, vm);
      }
      await reconcileAgent(ctx, vmKey, msg.captures, baseUrl);
      return;
    }
    case 'lookback.state':
      await recordLookbackState(ctx, vmKey, msg.state);
      return;
    case 'capture.state':
      if (!(await recordKnownState(ctx, vmKey, msg.state))) await recordState(ctx, vmKey, msg.state, baseUrl);
      return;
    case 'upload.request': {
      const rec = await ctx.store.findCaptureByUid<CaptureBody>(msg.captureUid);
      // A grant writes into a storage account: only a host the capture runs on may get one.
      const dest =
        rec && isOwnCapture(rec, vmKey) && (msg.ringFileSequence === undefined || rec.body._internal.ring)
          ? await uploadDestination(ctx, rec, vmKey, baseUrl, msg.ringFileSequence)
          : null;
      if (!dest) {
        ctx.hub.send(vmKey, {
          type: 'upload.refused',
          requestId: msg.requestId,
          captureUid: msg.captureUid,
          reason: 'the capture or its storage account no longer exists',
          retryable: false,
        });
        return;
      }
      const mismatch = await ringMismatch(ctx, rec!, vmKey, msg.ringFileSequence);
      if (mismatch !== null) {
        ctx.hub.send(vmKey, {
          type: 'upload.refused',
          requestId: msg.requestId,
          captureUid: msg.captureUid,
          reason: mismatch,
          retryable: false,
        });
        return;
      }
      let refusal: { reason: string; alreadyStored?: true } | null;
      try {
        if (msg.ringFileSequence !== undefined)
          refusal = await ringGrantRefusal(rec!, dest, msg.sizeInBytes, msg.sha256);
        else {
          refusal =
            grantRefusal(rec!, msg.sizeInBytes, vmKey) ??
            (await existingBlobRefusal(dest, msg.sizeInBytes, msg.sha256));
          // The host's file was stored by an earlier attempt whose verification never ran (the
          // server stopped first): it is this file, so it is verified now instead of written again.
          if (refusal?.alreadyStored && !targetStorage(rec!.body._internal, vmKey)?.verified)
            await markVerified(ctx, rec!.key, vmKey, { sizeInBytes: msg.sizeInBytes, sha256: msg.sha256 });
        }
      } catch (error) {
        ctx.hub.send(vmKey, {
          type: 'upload.refused',
          requestId: msg.requestId,
          captureUid: msg.captureUid,
          reason: `storage unavailable: ${redactSecretsInText(String((error as Error).message))}`,
          retryable: true,
        });
        return;
      }
      if (refusal !== null) {
        ctx.logger.warn(
          { vm: vmKey, capture: rec!.id, sizeInBytes: msg.sizeInBytes, reason: refusal.reason },
          'refused an upload grant',
        );
        ctx.hub.send(vmKey, {
          type: 'upload.refused',
          requestId: msg.requestId,
          captureUid: msg.captureUid,
          retryable: false,
          ...refusal,
        });
        return;
      }
      try {
        await dest.store.ensureContainer(dest.location.container);
        const grant = await dest.store.grantUpload(dest.location, {
          sizeInBytes: msg.sizeInBytes,
          expiresInSeconds: SERVER_DEFAULTS.uploadGrantLifetimeInSeconds,
        });
        ctx.hub.send(vmKey, { type: 'upload.grant', requestId: msg.requestId, captureUid: msg.captureUid, grant });
      } catch (error) {
        ctx.logger.warn(
          {
            capture: rec!.id,
            reason: String((error as Error).message),
            cause: String(((error as Error).cause as Error | undefined)?.message ?? ''),
          },
          'could not grant an upload; the agent keeps the file and retries',
        );
        ctx.hub.send(vmKey, {
          type: 'upload.refused',
          requestId: msg.requestId,
          captureUid: msg.captureUid,
          reason: `storage unavailable: ${(error as Error).message}`,
          retryable: true,
        });
      }
      return;
    }
    case 'upload.done': {
      const rec = await ctx.store.findCaptureByUid<CaptureBody>(msg.captureUid);
      const dest =
        rec && isOwnCapture(rec, vmKey) && (msg.ringFileSequence === undefined || rec.body._internal.ring)
          ? await uploadDestination(ctx, rec, vmKey, baseUrl, msg.ringFileSequence)
          : null;
      let ok = false;
      let reason: string | undefined;
      const mismatch = dest ? await ringMismatch(ctx, rec!, vmKey, msg.ringFileSequence) : null;
      if (!dest) reason = 'the capture no longer exists';
      else if (mismatch !== null) {
        // Rotated out while it was uploading: the ring's rule holds in storage too.
        reason = mismatch;
        if (msg.ringFileSequence !== undefined) await dest.store.delete(dest.location).catch(() => false);
      } else if (msg.ringFileSequence !== undefined) {
        try {
          ok = await dest.store.verify(dest.location, { sizeInBytes: msg.sizeInBytes, sha256: msg.sha256 });
          if (!ok) {
            reason = 'the stored blob does not match the file (size or SHA-256)';
            await dest.store.delete(dest.location).catch(() => false);
          }
        } catch (error) {
          reason = `could not read the blob back: ${redactSecretsInText(String((error as Error).message))}`;
        }
      } else {
        try {
          ok = await dest.store.verify(dest.location, { sizeInBytes: msg.sizeInBytes, sha256: msg.sha256 });
          if (!ok) {
            reason = 'the stored blob does not match the file (size or SHA-256)';
            // Not the capture's file: removed, so the blob path is free for the host's next attempt (uploads never overwrite).
            if (!targetStorage(rec!.body._internal, vmKey)?.verified)
              await dest.store.delete(dest.location).catch(() => false);
          } else {
            const stored = targetStorage(rec!.body._internal, vmKey);
            if (stored && !stored.verified)
              await markVerified(ctx, rec!.key, vmKey, { sizeInBytes: msg.sizeInBytes, sha256: msg.sha256 });
          }
        } catch (error) {
          reason = `could not read the blob back: ${redactSecretsInText(String((error as Error).message))}`;
        }
      }
      ctx.hub.send(vmKey, {
        type: 'upload.verified',
        requestId: msg.requestId,
        captureUid: msg.captureUid,
        ok,
        ...(reason ? { reason } : {}),
      });
      return;
    }
    case 'metrics':
    case 'metrics.batch':
      ctx.hub.emit('metrics', vmKey, msg);
      return;
  }
}

/**
 * Called when a host's agent disconnects: captures being deleted that were waiting for it go now
 * (it is told to forget them when it comes back).
 */
export async function onAgentGone(ctx: ServerContext, vmKey: string): Promise<void> {
  // With replicas, not over a hello that reached another replica meanwhile (its lease, checked
  // under the VM's lock: replica-store.ts).
  if (ctx.replicas?.crossReplica) await ctx.replicas.store.recordAwayUnlessLeased(vmKey);
  else await setAgentConnected(ctx, vmKey, false);
  for (const rec of await ctx.store.listActiveCapturesForVm<CaptureBody>(vmKey)) {
    if (rec.body._internal.deleting) await evaluateCapture(ctx, rec.key);
  }
}

/** True when the host `vmKey` is one the capture runs on (a host acts only on its own captures). */
function isOwnCapture(rec: ResourceRecord<CaptureBody>, vmKey: string): boolean {
  return captureTargetOf(rec.body._internal, vmKey) !== undefined;
}

/**
 * Why a host may not have an upload grant for this capture, or null: a file larger than the
 * capture's own limit (totalBytesPerSession) is not the capture's file, and a blob the server
 * has verified is never offered for writing again.
 */
export function grantRefusal(
  rec: ResourceRecord<CaptureBody>,
  sizeInBytes: number,
  vmKey?: string,
): { reason: string; alreadyStored?: true } | null {
  const limit = captureOrder(rec).totalBytesLimit;
  if (sizeInBytes > limit)
    return {
      reason: `the file is ${sizeInBytes} bytes, more than the capture's limit of ${limit} bytes (totalBytesPerSession)`,
    };
  const storage = vmKey === undefined ? rec.body._internal.storage : targetStorage(rec.body._internal, vmKey);
  if (storage?.verified)
    return { reason: 'the capture file is already stored and verified; it is never overwritten', alreadyStored: true };
  return null;
}

/**
 * Why a host may not have an upload grant for a ring file, or null: no file larger than the
 * ring's fileSizeInBytes, and a blob already stored is never written again — when it is this
 * very file (size and SHA-256 match) the host is told it is stored, otherwise (a torn earlier
 * attempt) it is removed so the host's upload can take its place.
 */
async function ringGrantRefusal(
  rec: ResourceRecord<CaptureBody>,
  dest: UploadDestination,
  sizeInBytes: number,
  sha256: string,
): Promise<{ reason: string; alreadyStored?: true } | null> {
  const limit = rec.body._internal.ring!.fileSizeInBytes;
  if (sizeInBytes > limit)
    return { reason: `the file is ${sizeInBytes} bytes, more than the ring's fileSizeInBytes of ${limit}` };
  return existingBlobRefusal(dest, sizeInBytes, sha256);
}

type UploadDestination = NonNullable<Awaited<ReturnType<typeof uploadDestination>>>;

/**
 * A blob already at the destination (uploads never overwrite): when it is this very file (size
 * and SHA-256 match) the host is told it is stored, otherwise (a torn earlier attempt) it is
 * removed so the host's upload can take its place. Null when nothing is there.
 */
async function existingBlobRefusal(
  dest: UploadDestination,
  sizeInBytes: number,
  sha256: string,
): Promise<{ reason: string; alreadyStored: true } | null> {
  if ((await dest.store.stat(dest.location)) === null) return null;
  if (await dest.store.verify(dest.location, { sizeInBytes, sha256 }))
    return { reason: 'the file is already stored and verified; it is never overwritten', alreadyStored: true };
  await dest.store.delete(dest.location);
  return null;
}

/** Records that a capture's blob was read back and matched, so it is never granted for writing again. */
async function markVerified(
  ctx: ServerContext,
  captureKey: string,
  vmKey: string,
  verified: { sizeInBytes: number; sha256: string },
): Promise<void> {
  // Under the record's lock: a delete or stop landing meanwhile keeps its change (a lost `deleting` hung the delete).
  await ctx.store.modifyResourceBody<CaptureBody>(captureKey, (body) => {
    const internal = body._internal;
    if (!internal.storage) return null;
    const own = captureTargetOf(internal, vmKey);
    if (own?.blobPath) {
      // A scale-set instance's own blob: verified on its target, so the other instances still get grants.
      const targets = internal.targets.map((t) => (t === own ? { ...t, verified } : t));
      return { ...body, _internal: { ...internal, targets } };
    }
    return { ...body, _internal: { ...internal, storage: { ...internal.storage, verified } } };
  });
}

/**
 * What a host's report needs of its capture: its key, whether it is stopping, and its hosts —
 * fixed at create (selectors and scale-set scopes are resolved once), so kept per capture uid.
 * A fleet capture's body holds every host: reading it for each of 1,000 reports was the cost
 * of a fan-out (issue 14). A capture deleted since is caught by the store's existence probe.
 */
export interface CaptureRoute {
  key: string;
  targets: Set<string>;
}
const MAX_CACHED_ROUTES = 10_000;

/** The fast path of a report on a known capture: stored (and acknowledged) without reading the capture; false to take the full path. */
async function recordKnownState(ctx: ServerContext, vmKey: string, state: AgentCaptureState): Promise<boolean> {
  // A ring's state moves the storage side of the ring (deletes rotated-out blobs): the full path compares it with the last one.
  if (state.ring) return false;
  const route = ctx.memory.captureRoutes.get(state.captureUid);
  if (!route || !route.targets.has(hostKeyOf(vmKey))) return false;
  const stored = await ctx.store.upsertCaptureInstanceIfCaptureExists({
    captureUid: state.captureUid,
    vmKey,
    captureKey: route.key,
    state: state as unknown as InstanceState & Record<string, unknown>,
  });
  if (!stored) {
    ctx.memory.captureRoutes.delete(state.captureUid);
    return false;
  }
  ctx.hub.send(vmKey, { type: 'capture.ack', captureUid: state.captureUid, sequence: state.sequence });
  await evaluateCapture(ctx, route.key);
  return true;
}

/** Stores a host's capture state if newer, acknowledges it, and moves the capture on. */
async function recordState(
  ctx: ServerContext,
  vmKey: string,
  state: AgentCaptureState,
  baseUrl: string,
): Promise<ResourceRecord<CaptureBody> | null> {
  const rec = await ctx.store.findCaptureByUid<CaptureBody>(state.captureUid);
  if (rec) {
    const routes = ctx.memory.captureRoutes;
    if (routes.size >= MAX_CACHED_ROUTES) routes.delete(routes.keys().next().value!);
    routes.set(state.captureUid, {
      key: rec.key,
      targets: new Set(rec.body._internal.targets.map((t) => hostKeyOf(t.vmKey))),
    });
  }
  if (!rec) {
    // Deleted while the agent was away: it may drop its bookkeeping but keeps unstored files.
    ctx.hub.send(vmKey, { type: 'capture.forget', captureUid: state.captureUid, deleteFiles: false });
    return null;
  }
  if (!isOwnCapture(rec, vmKey)) {
    // A host reports only on its own captures; anything else is ignored (and logged) rather than trusted.
    ctx.logger.warn({ vm: vmKey, capture: rec.id }, 'an agent reported on a capture of another host; ignored');
    return null;
  }
  const previous = rec.body._internal.ring ? await hostState(ctx, rec, vmKey) : null;
  await ctx.store.upsertCaptureInstance({
    captureUid: state.captureUid,
    vmKey,
    captureKey: rec.key,
    state: state as unknown as InstanceState & Record<string, unknown>,
  });
  if (rec.body._internal.ring && (previous === null || state.sequence > previous.sequence))
    await deleteRotatedRingFiles(ctx, rec, vmKey, previous, state, baseUrl);
  ctx.hub.send(vmKey, { type: 'capture.ack', captureUid: state.captureUid, sequence: state.sequence });
  await evaluateCapture(ctx, rec.key);
  return rec;
}

/**
 * Brings server and agent into agreement after a (re)connect: the agent's reports are recorded;
 * captures it should stop are stopped; orders it never received are sent again; captures the
 * server believes are running but the agent no longer knows (host or agent restarted) end with
 * AgentStopped.
 */
async function reconcileAgent(
  ctx: ServerContext,
  vmKey: string,
  reported: AgentCaptureState[],
  baseUrl: string,
): Promise<void> {
  const known = new Set<string>();
  for (const state of reported) {
    known.add(state.captureUid);
    const rec = await recordState(ctx, vmKey, state, baseUrl);
    if (rec?.body._internal.stopRequested && !isTerminal(state))
      ctx.hub.send(vmKey, { type: 'capture.stop', captureUid: state.captureUid });
  }
  for (const rec of await ctx.store.listActiveCapturesForVm<CaptureBody>(vmKey)) {
    const uid = rec.body._internal.uid;
    if (known.has(uid)) continue;
    const [instance] = (await ctx.store.listCaptureInstances<InstanceState>(uid)).filter(
      (i) => hostKeyOf(i.vmKey) === hostKeyOf(vmKey),
    );
    if (!instance || instance.state.status === 'NotStarted') {
      if (rec.body._internal.stopRequested) {
        await ctx.store.upsertCaptureInstance({
          captureUid: uid,
          vmKey,
          captureKey: rec.key,
          state: {
            ...(instance?.state ?? notStartedState(uid)),
            captureUid: uid,
            status: 'Stopped',
            stopReason: 'Manual',
            errors: [],
            sequence: (instance?.state.sequence ?? 0) + 1,
          },
        });
      } else {
        ctx.hub.send(vmKey, { type: 'capture.start', order: captureOrder(rec) });
      }
    } else if (!isTerminal(instance.state)) {
      await ctx.store.upsertCaptureInstance({
        captureUid: uid,
        vmKey,
        captureKey: rec.key,
        state: {
          ...instance.state,
          status: 'Error',
          stopReason: 'AgentStopped',
          errors: [...instance.state.errors, 'AgentStopped'],
          errorMessage: 'The agent restarted and no longer runs this capture.',
          sequence: instance.state.sequence + 1,
        },
      });
    }
    await evaluateCapture(ctx, rec.key);
  }
}

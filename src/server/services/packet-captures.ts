import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { ApiError, armIdKey, buildArmId, parseArmId } from '../../lib/index.js';
import { checkBpfExpression, compileFilters, normalizeFilters } from '../../filter/index.js';
import {
  CAPTURE_SETTINGS_LIMITS,
  PACKET_CAPTURE_LIMITS,
  CAPTURE_ROOT,
  assertResourceName,
  effectiveCaptureSettings,
  parseCaptureFilePath,
  type AgentCaptureOrder,
  type AgentRingFile,
  type EffectiveCaptureSettings,
  type PacketCaptureCreateRequest,
} from '../../model/index.js';
import { assertRingFileSize, minRingFileSizeInBytes, ringFileName } from '../../capture/index.js';
import type { OperationRecord, ResourceRecord } from '../../store/index.js';
import { resolveCaptureLocation } from '../../storage/index.js';
import { SERVER_DEFAULTS } from '../config.js';
import { aggregateStatus, isSettled, isTerminal } from './capture-status.js';
import {
  notStartedState,
  targetStorage,
  type CaptureBody,
  type CaptureInternal,
  type CaptureTarget,
  type InstanceState,
} from './capture-types.js';
import { agentConnectedAnywhere, inTransaction, type ServerContext } from './context.js';
import { blobEndpointOf, blobStoreOf, getStorageAccountById, type StorageAccountBody } from './storage-accounts.js';
import type { VmBody } from './vms.js';
import { lookbackOf } from './lookback.js';
import { resolveCaptureTargets, resolveSelectorTargets } from './capture-targets.js';
import { coalesce } from './coalesce.js';
import { getWatcher, type WatcherBody } from './watchers.js';
import { admitCapture } from './capture-admission.js';

/** Id of a packet capture. */
export function captureId(sub: string, rg: string, watcher: string, name: string): string {
  return buildArmId({
    subscriptionId: sub,
    resourceGroup: rg,
    provider: 'Microsoft.Network',
    types: ['networkWatchers', 'packetCaptures'],
    names: [watcher, name],
  });
}

/** Loads a capture; 404 PacketCaptureNotFound when missing. */
export async function getCapture(
  ctx: ServerContext,
  sub: string,
  rg: string,
  watcher: string,
  name: string,
): Promise<ResourceRecord<CaptureBody>> {
  const rec = await ctx.store.getResource<CaptureBody>(armIdKey(captureId(sub, rg, watcher, name)));
  if (!rec)
    throw new ApiError(
      'PacketCaptureNotFound',
      `Packet capture '${name}' was not found in network watcher '${watcher}'.`,
      { target: 'packetCaptureName' },
    );
  return rec;
}

/** Per-host states of a capture, with not-yet-reported hosts as NotStarted. */
export async function captureStates(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
): Promise<Map<string, InstanceState>> {
  const rows = await ctx.store.listCaptureInstances<InstanceState>(rec.body._internal.uid);
  const byVm = new Map(rows.map((r) => [r.vmKey, r.state]));
  return new Map(
    rec.body._internal.targets.map((t) => [t.vmKey, byVm.get(t.vmKey) ?? notStartedState(rec.body._internal.uid)]),
  );
}

/**
 * True when the host's agent can still report: connected to this server, or (other replicas)
 * recorded as connected. A host that is away cannot settle anything, so nothing waits for it.
 */
export async function agentReachable(ctx: ServerContext, vmKey: string): Promise<boolean> {
  if (await agentConnectedAnywhere(ctx, vmKey)) return true;
  const vm = await ctx.store.getResource<VmBody>(vmKey);
  return vm?.body.properties.netwatcher?.agentConnected === true;
}

/**
 * True when a delete need not wait for this host any longer: its capture settled, or its agent is
 * away (deleted or gone before reporting) — when it comes back it is told to forget the capture.
 */
async function releasedForDelete(
  ctx: ServerContext,
  vmKey: string,
  s: InstanceState,
  internal: CaptureInternal,
): Promise<boolean> {
  return isSettled(s, internal) || !(await agentReachable(ctx, vmKey));
}

async function allReleasedForDelete(
  ctx: ServerContext,
  states: Map<string, InstanceState>,
  internal: CaptureInternal,
): Promise<boolean> {
  for (const [vmKey, s] of states) if (!(await releasedForDelete(ctx, vmKey, s, internal))) return false;
  return true;
}

/**
 * Azure's continuous-capture rules (PacketCaptureParameters and PacketCaptureSettings,
 * https://learn.microsoft.com/rest/api/network-watcher/packet-captures/create), checked
 * before anything is written. Returns the ring to run (defaults filled in) for
 * `continuousCapture: true`, null otherwise. What the ring cannot honour is refused naming the
 * property, never ignored: timeLimitInSeconds and totalBytesPerSession bound single-file captures
 * (a ring's length is sessionTimeLimitInSeconds, its size fileCount × fileSizeInBytes), so only
 * their defaults — which Azure's clients may send on their own — are accepted alongside.
 */
export function continuousRing(p: PacketCaptureCreateRequest['properties']): EffectiveCaptureSettings | null {
  // Azure: filePath is invalid whenever continuousCapture is given (true or false); localPath is the one to use.
  if ((p.continuousCapture === true || p.continuousCapture === false) && p.storageLocation.filePath) {
    throw new ApiError(
      'InvalidParameter',
      'properties.storageLocation.filePath is invalid when properties.continuousCapture is set; use properties.storageLocation.localPath.',
      { target: 'properties.storageLocation.filePath' },
    );
  }
  if (p.continuousCapture !== true) {
    if (p.captureSettings !== undefined) {
      throw new ApiError(
        'InvalidParameter',
        'properties.captureSettings (fileCount, fileSizeInBytes, sessionTimeLimitInSeconds) applies only to continuous capture; set properties.continuousCapture to true or omit captureSettings.',
        { target: 'properties.captureSettings' },
      );
    }
    return null;
  }
  const ring = effectiveCaptureSettings(p.captureSettings);
  if (ring.fileCount < 2) {
    // With one file the ring would delete each file the moment the next starts, before it could be stored.
    throw new ApiError(
      'InvalidParameter',
      'properties.captureSettings.fileCount must be at least 2: with one file each file would be deleted as the next one starts, before it could be stored.',
      { target: 'properties.captureSettings.fileCount' },
    );
  }
  const snap = p.bytesToCapturePerPacket ?? 0;
  try {
    assertRingFileSize(ring.fileSizeInBytes, snap);
  } catch {
    // Smaller than one packet of the snap length: a packet that fits no file would be lost.
    const min = minRingFileSizeInBytes(snap);
    throw new ApiError(
      'InvalidParameter',
      `properties.captureSettings.fileSizeInBytes ${ring.fileSizeInBytes} is too small: every ring file must hold the 24-byte pcap header and one whole packet record (16 bytes + the snap length), so with bytesToCapturePerPacket ${snap}${snap === 0 ? ' (whole packets, up to 262,144 bytes)' : ''} the smallest is ${min}. Use a larger fileSizeInBytes or a smaller bytesToCapturePerPacket (with 2000 the smallest is ${minRingFileSizeInBytes(2000)}).`,
      { target: 'properties.captureSettings.fileSizeInBytes' },
    );
  }
  if (p.timeLimitInSeconds !== undefined && p.timeLimitInSeconds !== PACKET_CAPTURE_LIMITS.defaultTimeLimitInSeconds) {
    throw new ApiError(
      'InvalidParameter',
      `properties.timeLimitInSeconds does not apply to continuous capture; set the session's length with properties.captureSettings.sessionTimeLimitInSeconds (up to ${CAPTURE_SETTINGS_LIMITS.maxSessionTimeLimitInSeconds}).`,
      { target: 'properties.timeLimitInSeconds' },
    );
  }
  if (
    p.totalBytesPerSession !== undefined &&
    p.totalBytesPerSession !== PACKET_CAPTURE_LIMITS.defaultTotalBytesPerSession
  ) {
    throw new ApiError(
      'InvalidParameter',
      'properties.totalBytesPerSession does not apply to continuous capture: a ring holds at most fileCount × fileSizeInBytes; set properties.captureSettings instead.',
      { target: 'properties.totalBytesPerSession' },
    );
  }
  return ring;
}

/**
 * Where file `sequence` of a continuous capture's ring goes in its storage account: beside the
 * capture's blob path, in a folder of its name (…/packetcapture_16_39_41_077.cap →
 * …/packetcapture_16_39_41_077/ring-000003.cap), named as on the host. The server computes it
 * from the sequence alone, so an agent can never name (or have deleted) any other blob.
 */
export function ringBlobLocation(
  internal: CaptureInternal,
  sequence: number,
): { container: string; blobPath: string } | null {
  if (!internal.storage) return null;
  const folder = internal.storage.blobPath.replace(/\.cap$/i, '');
  return {
    container: internal.storage.container,
    blobPath: `${folder}/${ringFileName(internal.localFilePath ?? RING_SPOOL_NAME, sequence)}`,
  };
}

/** The ring's file name base when the capture keeps no file on the host (the agent spools ring.cap → ring-000001.cap …). */
export const RING_SPOOL_NAME = 'ring.cap';

/**
 * Validates and starts a capture (PacketCaptures_Create). Everything is checked before anything
 * is written, so a refused request changes nothing. Returns the stored record (as the answer shows
 * it: after the hosts found offline were recorded) and the create operation; the agent gets the
 * order right away and the operation finishes when the capture really runs on the host. The name
 * check, the session-limit check and the writes run in one transaction under the watcher's row
 * lock (shared by the creates that arrive together, capture-admission.ts), so concurrent creates
 * in one location never both take the last session.
 * @example
 * const { record, operation } = await createCapture(ctx, sub, 'rg', 'NetworkWatcher_westus', 'pc1', {
 *   properties: { target: vmId, storageLocation: { filePath: '/var/captures/pc1.cap' }, timeLimitInSeconds: 60 },
 * }, baseUrl);
 */
export async function createCapture(
  ctx: ServerContext,
  sub: string,
  rg: string,
  watcherName: string,
  name: string,
  request: PacketCaptureCreateRequest,
  baseUrl: string,
): Promise<{ record: ResourceRecord<CaptureBody>; operation: OperationRecord }> {
  const p = request.properties;
  // Also for names made by alert-triggered captures ({vm} filled in), which reach no route.
  assertResourceName('packetCaptures', name, true);
  const watcher: ResourceRecord<WatcherBody> = await getWatcher(ctx, sub, rg, watcherName);
  const location = watcher.location ?? ctx.config.defaultLocation;

  // Filters first: they are the most common mistake and need no lookups.
  const filters = normalizeFilters(p.filters ?? []);
  const bpfExpression = compileFilters(filters);
  if (bpfExpression !== '' && existsSync(ctx.config.tcpdumpPath ?? '/usr/bin/tcpdump')) {
    await checkBpfExpression(bpfExpression, { tcpdumpPath: ctx.config.tcpdumpPath });
  }

  const ring = continuousRing(p);
  // Not supported together yet, so refused rather than half done: a ring's files merged with a
  // buffer's past, and a ring on several hosts (its blobs are named per capture, not per host).
  if (ring && p.lookbackInSeconds !== undefined) {
    throw new ApiError(
      'InvalidParameter',
      'properties.lookbackInSeconds is not supported with continuousCapture true; start the ring without it (a ring keeps the past itself: its oldest files).',
      { target: 'properties.lookbackInSeconds' },
    );
  }
  if (ring && (p.targetType === 'AzureVMSS' || p.targetSelector !== undefined)) {
    throw new ApiError(
      'InvalidParameter',
      'continuousCapture true is supported on one virtual machine only, not on a scale set or a target selector; start one ring per host.',
      { target: 'properties.continuousCapture' },
    );
  }
  const sl = p.storageLocation;
  const filePathInput = sl.filePath || sl.localPath || '';
  if (!sl.storageId && !filePathInput) {
    throw new ApiError(
      'MissingRequiredProperty',
      `properties.storageLocation needs storageId (a storage account) or ${p.continuousCapture === true || p.continuousCapture === false ? 'localPath' : 'filePath'} (a path on the host under ${CAPTURE_ROOT}), or both.`,
      { target: 'properties.storageLocation' },
    );
  }
  // The request's own mistakes before the state of the world (VM, agent), so fixing one never reveals another.
  const localFilePath = filePathInput
    ? parseCaptureFilePath(
        filePathInput,
        sl.filePath ? 'properties.storageLocation.filePath' : 'properties.storageLocation.localPath',
      )
    : null;
  const targetRef = p.targetSelector === undefined ? parseArmId(p.target) : null;
  if (p.targetSelector === undefined && !targetRef)
    throw new ApiError(
      'InvalidResourceId',
      `properties.target '${p.target}' is not a resource id (expected /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}).`,
      { target: 'properties.target' },
    );
  const resolved = targetRef
    ? await resolveCaptureTargets(ctx, p, targetRef, location, watcher.name)
    : await resolveSelectorTargets(ctx, sub, p, location);
  const targetType = resolved.targetType;
  const scaleSet = resolved.scaleSet;
  const vm = resolved.hosts[0]!.vm;
  if (ring && (resolved.scaleSet || resolved.hosts.length > 1)) {
    throw new ApiError(
      'InvalidParameter',
      'continuousCapture true is supported on one virtual machine only, not on a scale set or a target selector; start one ring per host.',
      { target: 'properties.continuousCapture' },
    );
  }
  // An accepted property is never ignored: look-back needs the host's buffer, so a host without
  // one is refused now, naming the property and the command that enables it (docs/continuous.md).
  const withoutBuffer =
    p.lookbackInSeconds === undefined ? undefined : resolved.hosts.find((h) => lookbackOf(h.vm) === null)?.vm;
  if (p.lookbackInSeconds !== undefined && withoutBuffer) {
    throw new ApiError(
      'InvalidParameter',
      `properties.lookbackInSeconds needs a look-back buffer on virtual machine '${withoutBuffer.name}', which has none; enable it with 'nw vm lookback enable --resource-group ${withoutBuffer.resourceGroup} --vm-name ${withoutBuffer.name} --seconds ${Math.max(p.lookbackInSeconds, 60)} --max-size 256MiB', or omit lookbackInSeconds.`,
      { target: 'properties.lookbackInSeconds' },
    );
  }

  const createdAt = new Date();
  let storage: CaptureInternal['storage'] = null;
  let storageId = '';
  const instanceBlobPaths = new Map<string, string>();
  if (sl.storageId) {
    const account = await getStorageAccountById(ctx, sl.storageId);
    storageId = account.id;
    // With several replicas a local folder must be one they all share (src/server/replicas.ts).
    const secret = account.secret as { type?: string; rootDir?: string } | null | undefined;
    if (secret?.type === 'local' && secret.rootDir && ctx.replicas)
      await ctx.replicas.assertLocalStorageUsable(account.name, secret.rootDir, 'properties.storageLocation.storageId');
    const blobs = blobStoreOf(ctx, account, baseUrl);
    const locate = (host: ResourceRecord<VmBody>) => {
      let location;
      try {
        location = resolveCaptureLocation((url) => blobs.parseContainerUrl(url), sl.storagePath, {
          subscriptionId: host.subscriptionId,
          resourceGroup: host.resourceGroup,
          vmName: host.name,
          createdAt,
          ...(scaleSet ? { scaleSet: { name: scaleSet.name, instanceId: host.body.instanceId ?? host.name } } : {}),
        });
      } catch (error) {
        throw new ApiError(
          'InvalidParameter',
          `properties.storageLocation.storagePath '${sl.storagePath}' is invalid: ${(error as Error).message}.`,
          { target: 'properties.storageLocation.storagePath' },
        );
      }
      if (!location)
        throw new ApiError(
          'InvalidParameter',
          `properties.storageLocation.storagePath '${sl.storagePath}' is not a container URL of storage account '${account.name}' (expected ${blobEndpointOf(blobs)}CONTAINER[/PREFIX]).`,
          { target: 'properties.storageLocation.storagePath' },
        );
      return location;
    };
    const location = locate(vm);
    storage = { accountKey: account.key, container: location.container, blobPath: location.blobPath };
    if (scaleSet) {
      // Every instance its own blob (Azure's scale-set layout); one named .cap blob cannot hold several hosts' files.
      for (const h of resolved.hosts) instanceBlobPaths.set(h.vm.key, locate(h.vm).blobPath);
      if (new Set(instanceBlobPaths.values()).size < resolved.hosts.length) {
        throw new ApiError(
          'InvalidParameter',
          `properties.storageLocation.storagePath '${sl.storagePath}' names one blob, but the capture runs on ${resolved.hosts.length} instances; give a container URL (each instance gets its own blob under it).`,
          { target: 'properties.storageLocation.storagePath' },
        );
      }
    }
  }

  const id = captureId(sub, rg, watcher.name, name);
  const targets: CaptureTarget[] = resolved.hosts.map(({ vm: host }) => ({
    vmKey: host.key,
    vmId: host.id,
    vmName: host.name,
    resourceGroup: host.resourceGroup,
    ...(host.body.instanceId !== undefined ? { instanceId: host.body.instanceId } : {}),
    ...(host.body.properties.osProfile ? { computerName: host.body.properties.osProfile.computerName } : {}),
    ...(instanceBlobPaths.has(host.key) ? { blobPath: instanceBlobPaths.get(host.key)! } : {}),
  }));
  const internal: CaptureInternal = {
    uid: randomUUID(),
    createdAt: createdAt.toISOString(),
    location,
    bpfExpression,
    targets,
    storage,
    localFilePath,
    stopRequested: false,
    deleting: null,
    active: true,
    ...(ring ? { ring } : {}),
  };
  const properties = {
    provisioningState: 'Updating' as const,
    target: resolved.targetId,
    targetType,
    ...(resolved.selector ? { targetSelector: { tags: resolved.selector.tags } } : {}),
    scope: { include: p.scope?.include ?? [], exclude: p.scope?.exclude ?? [] },
    bytesToCapturePerPacket: p.bytesToCapturePerPacket ?? 0,
    // 0 means "no limit of our own" for these two, as Azure's API allows 0: the session's hard caps
    // apply, and the capture says so (it stores and shows the cap the engine enforces, not 0).
    totalBytesPerSession: effectiveLimit(
      p.totalBytesPerSession,
      PACKET_CAPTURE_LIMITS.defaultTotalBytesPerSession,
      PACKET_CAPTURE_LIMITS.maxTotalBytesPerSession,
    ),
    timeLimitInSeconds: effectiveLimit(
      p.timeLimitInSeconds,
      PACKET_CAPTURE_LIMITS.defaultTimeLimitInSeconds,
      PACKET_CAPTURE_LIMITS.maxTimeLimitInSeconds,
    ),
    storageLocation: {
      storageId,
      storagePath: '',
      filePath: sl.filePath ? localFilePath : null,
      ...(sl.localPath ? { localPath: localFilePath } : {}),
    },
    filters,
    ...(p.continuousCapture !== undefined ? { continuousCapture: p.continuousCapture } : {}),
    ...(p.lookbackInSeconds !== undefined ? { lookbackInSeconds: p.lookbackInSeconds } : {}),
    ...(ring ? { captureSettings: ring } : {}),
  };
  const connected = new Set(resolved.hosts.filter((h) => h.connected).map((h) => h.vm.key));
  const { inserted, operation } = await admitCapture(ctx, watcher, {
    record: {
      key: armIdKey(id),
      type: 'packetCapture',
      parentKey: watcher.key,
      id,
      name,
      subscriptionId: sub,
      resourceGroup: watcher.resourceGroup,
      location,
      body: { type: 'Microsoft.Network/networkWatchers/packetCaptures', properties, _internal: internal },
    },
    offlineTargets: targets.filter((t) => !connected.has(t.vmKey)),
  });
  for (const target of targets) if (connected.has(target.vmKey)) sendStart(ctx, inserted, target);
  if (connected.size === targets.length) return { record: inserted, operation };
  await evaluateCapture(ctx, inserted.key);
  // The answer shows what the evaluation decided (a capture on offline hosts only has failed).
  return { record: (await ctx.store.getResource<CaptureBody>(inserted.key)) ?? inserted, operation };
}

/** A size or time limit as enforced: absent → the default, 0 → the hard maximum, else as given. */
export function effectiveLimit(given: number | undefined, defaultValue: number, maximum: number): number {
  if (given === undefined) return defaultValue;
  return given === 0 ? maximum : given;
}

/** The order an agent gets for one host of a capture. */
export function captureOrder(rec: ResourceRecord<CaptureBody>): AgentCaptureOrder {
  const p = rec.body.properties as Record<string, number>;
  const internal = rec.body._internal;
  return {
    captureUid: internal.uid,
    captureName: rec.name,
    bpfExpression: internal.bpfExpression,
    snapLengthInBytes: p.bytesToCapturePerPacket ?? 0,
    totalBytesLimit: p.totalBytesPerSession || PACKET_CAPTURE_LIMITS.maxTotalBytesPerSession,
    timeLimitInSeconds: p.timeLimitInSeconds || PACKET_CAPTURE_LIMITS.maxTimeLimitInSeconds,
    localFilePath: internal.localFilePath,
    upload: internal.storage !== null,
    ...(typeof p.lookbackInSeconds === 'number'
      ? { lookbackInSeconds: p.lookbackInSeconds, createdAt: internal.createdAt }
      : {}),
    ...(internal.ring ? { ring: internal.ring } : {}),
  };
}

function sendStart(ctx: ServerContext, rec: ResourceRecord<CaptureBody>, target: CaptureTarget): void {
  // If the agent dropped in between, the order is sent again when it reconnects (reconcileAgent).
  ctx.hub.send(target.vmKey, { type: 'capture.start', order: captureOrder(rec) });
}

/**
 * Stops a capture (PacketCaptures_Stop). Returns 'done' when nothing runs any more (Azure answers
 * 200 then), or 'accepted' with the stop operation pending until every host reports it stopped.
 */
export async function stopCapture(ctx: ServerContext, rec: ResourceRecord<CaptureBody>): Promise<'done' | 'accepted'> {
  const states = await captureStates(ctx, rec);
  const running = [...states.entries()].filter(([, s]) => !isTerminal(s));
  if (running.length === 0) return 'done';
  await inTransaction(ctx, async (tx) => {
    await tx.store.modifyResourceBody<CaptureBody>(rec.key, (current) => ({
      ...current,
      _internal: { ...current._internal, stopRequested: true },
    }));
    await tx.store.createOperation({
      subscriptionId: rec.subscriptionId,
      location: rec.body._internal.location,
      kind: 'stop',
      resourceKey: rec.key,
    });
  });
  for (const [vmKey, s] of running) {
    if (s.sequence === 0 && !(await agentConnectedAnywhere(ctx, vmKey))) {
      // The agent never reported this capture and is away: record it as stopped by hand; a later
      // report from the agent (higher sequence) wins, and reconcileAgent then stops it there.
      await ctx.store.upsertCaptureInstance({
        captureUid: rec.body._internal.uid,
        vmKey,
        captureKey: rec.key,
        state: { ...notStartedState(rec.body._internal.uid), status: 'Stopped', stopReason: 'Manual' },
      });
    } else {
      ctx.hub.send(vmKey, { type: 'capture.stop', captureUid: rec.body._internal.uid });
    }
  }
  await evaluateCapture(ctx, rec.key);
  return 'accepted';
}

/**
 * Deletes a capture (PacketCaptures_Delete). A running capture is stopped first and its file is
 * still stored; the resource goes when every host has settled. Files are kept (as Azure) unless
 * deleteFiles is set. Returns 'done' when the capture is already gone.
 */
export async function deleteCapture(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  deleteFiles: boolean,
): Promise<'done' | 'accepted'> {
  // Onto the record as it is now (locked), so a concurrent evaluation's or report's changes are kept.
  const body =
    (
      await ctx.store.modifyResourceBody<CaptureBody>(rec.key, (current) => ({
        ...current,
        properties: { ...current.properties, provisioningState: 'Deleting' },
        _internal: { ...current._internal, deleting: { deleteFiles }, stopRequested: true },
      }))
    )?.body ?? rec.body;
  const states = await captureStates(ctx, rec);
  if (await allReleasedForDelete(ctx, states, body._internal)) {
    await finalizeDelete(ctx, { ...rec, body });
    return 'done';
  }
  await ctx.store.createOperation({
    subscriptionId: rec.subscriptionId,
    location: rec.body._internal.location,
    kind: 'delete',
    resourceKey: rec.key,
  });
  for (const [vmKey, s] of states)
    if (!isTerminal(s)) ctx.hub.send(vmKey, { type: 'capture.stop', captureUid: rec.body._internal.uid });
  await evaluateCapture(ctx, rec.key);
  return 'accepted';
}

async function finalizeDelete(ctx: ServerContext, rec: ResourceRecord<CaptureBody>): Promise<void> {
  const internal = rec.body._internal;
  const deleteFiles = internal.deleting?.deleteFiles ?? false;
  if (deleteFiles && internal.storage) {
    const account = await ctx.store.getResource<StorageAccountBody>(internal.storage.accountKey);
    if (account) {
      const blobs = blobStoreOf(ctx, account, 'http://localhost');
      // A ring's files are one blob each: those its hosts still list (older ones the ring deleted already).
      const locations = internal.ring
        ? [...(await captureStates(ctx, rec)).values()]
            .flatMap((s) => s.ring?.files ?? [])
            .map((f) => ringBlobLocation(internal, f.sequence)!)
        : // One blob per scale-set instance, else the capture's one.
          [...new Set(internal.targets.map((t) => targetStorage(internal, t.vmKey)!.blobPath))].map((blobPath) => ({
            container: internal.storage!.container,
            blobPath,
          }));
      for (const location of locations) {
        await blobs.delete(location).catch((error: unknown) => {
          ctx.logger.warn({ err: error, capture: rec.id }, 'could not delete the capture file from storage');
        });
      }
    }
  }
  for (const t of internal.targets)
    ctx.hub.send(t.vmKey, { type: 'capture.forget', captureUid: internal.uid, deleteFiles });
  await inTransaction(ctx, async (tx) => {
    await tx.store.deleteCaptureInstances(internal.uid);
    await tx.store.deleteResource(rec.key);
    await tx.store.finishOperations(rec.key, 'delete', { status: 'Succeeded' });
  });
}

/**
 * Re-reads a capture's host states and moves its pending operations and provisioning state on:
 * create finishes when the capture runs (or failed to start), stop when every host stopped,
 * delete when every host settled. Called after every change of a host state.
 */
export function evaluateCapture(ctx: ServerContext, captureKey: string): Promise<void> {
  // Coalesced per capture: a fleet's reports arriving together share re-evaluations (coalesce.ts).
  return coalesce(ctx.memory.captureEvaluations, captureKey.toLowerCase(), () => evaluateCaptureOnce(ctx, captureKey));
}

async function evaluateCaptureOnce(ctx: ServerContext, captureKey: string): Promise<void> {
  const rec = await ctx.store.getResource<CaptureBody>(captureKey);
  if (!rec) {
    // Gone means deleted: a delete whose operation was written after another evaluation had
    // already finished the capture (the last file stored between the delete's check and its
    // operation row) would otherwise wait forever.
    await ctx.store.finishOperations(captureKey, 'delete', { status: 'Succeeded' });
    return;
  }
  const states = [...(await captureStates(ctx, rec)).values()];
  const agg = aggregateStatus(states);
  const allTerminal = states.every(isTerminal);
  const allStarted = states.every((s) => s.status !== 'NotStarted');
  const active = !allTerminal;
  let provisioned: 'Failed' | 'Succeeded' | null = null;
  if (allStarted && rec.body.properties.provisioningState === 'Updating') {
    const failed = agg.packetCaptureStatus === 'Error';
    provisioned = failed ? 'Failed' : 'Succeeded';
    const first = states.find((s) => s.errors.length > 0);
    await ctx.store.finishOperations(
      rec.key,
      'create',
      failed
        ? {
            status: 'Failed',
            error: {
              code: first?.errors[0] ?? 'CaptureFailed',
              message: first?.errorMessage ?? 'The capture failed to start on the host.',
            },
          }
        : { status: 'Succeeded' },
    );
  }
  if (allTerminal) await ctx.store.finishOperations(rec.key, 'stop', { status: 'Succeeded' });
  let body = rec.body;
  if (provisioned !== null || active !== rec.body._internal.active) {
    // Only what this evaluation decides is written, onto the record as it is now (locked): a delete
    // or stop that landed since the read above must not be overwritten by the stale copy (a lost
    // `deleting` left the delete's operation waiting forever).
    const updated = (
      await ctx.store.modifyResourceBody<CaptureBody>(rec.key, (current) => {
        let b = current;
        if (provisioned !== null && b.properties.provisioningState === 'Updating')
          b = { ...b, properties: { ...b.properties, provisioningState: provisioned } };
        if (b._internal.active !== active) b = { ...b, _internal: { ...b._internal, active } };
        return b;
      })
    )?.body;
    if (!updated) return;
    body = updated;
  } else {
    // The deleting flag as it is now, not as it was read (a delete may have landed meanwhile).
    const current = await ctx.store.getResource<CaptureBody>(rec.key);
    if (!current) return;
    body = current.body;
  }
  if (body._internal.deleting && (await allReleasedForDelete(ctx, await captureStates(ctx, rec), body._internal)))
    await finalizeDelete(ctx, { ...rec, body });
}

/** The queryStatus document (flat, as Azure's SDKs expect), with netwatcher's additive counters and files. */
export async function captureStatusView(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  baseUrl: string,
): Promise<Record<string, unknown>> {
  const states = await captureStates(ctx, rec);
  // A host whose agent is away cannot say whether its capture still runs: Azure's `Unknown`, with
  // the reason, rather than the last word it sent (`Running` forever).
  for (const [vmKey, s] of states) {
    if (!isTerminal(s) && !(await agentReachable(ctx, vmKey))) {
      states.set(vmKey, {
        ...s,
        status: 'Unknown',
        errorMessage:
          'AgentNotConnected: the agent of this host is unreachable (not connected to the server); the status is unknown until it reconnects.',
      });
    }
  }
  const agg = aggregateStatus([...states.values()]);
  const internal = rec.body._internal;
  const lookbackInSeconds = rec.body.properties['lookbackInSeconds'];
  const lookbackAsked = typeof lookbackInSeconds === 'number';
  const account = internal.storage
    ? await ctx.store.getResource<StorageAccountBody>(internal.storage.accountKey)
    : null;
  const blobs = account ? blobStoreOf(ctx, account, baseUrl) : null;
  const instances = internal.targets.map((t) => {
    const s = states.get(t.vmKey)!;
    const own =
      t.blobPath && blobs
        ? { storagePath: blobs.blobUrl({ container: internal.storage!.container, blobPath: t.blobPath }) }
        : {};
    return {
      target: t.vmId,
      ...(t.instanceId !== undefined ? { instanceId: t.instanceId, computerName: t.computerName ?? null } : {}),
      ...own,
      packetCaptureStatus: s.status,
      captureStartTime: s.captureStartTime,
      stopReason: s.stopReason,
      packetCaptureError: s.errors,
      errorMessage: s.errorMessage,
      packetsCaptured: s.packetsCaptured,
      bytesCaptured: s.bytesCaptured,
      kernelPacketsDropped: s.kernelPacketsDropped,
      kernelPacketsReceived: s.kernelPacketsReceived,
      file: s.file
        ? {
            sizeInBytes: s.file.sizeInBytes,
            sha256: s.file.sha256,
            stored: s.file.stored,
            localPath: internal.localFilePath,
          }
        : null,
      ...(lookbackAsked
        ? {
            lookbackStartTime: s.lookback?.startTime ?? null,
            lookbackPacketsCaptured: s.lookback?.packets ?? 0,
            lookbackReason: s.lookback ? s.lookback.reason : isTerminal(s) ? 'the host reported no look-back' : null,
          }
        : {}),
      ...(internal.ring
        ? {
            filesDeleted: s.ring?.filesDeleted ?? 0,
            files: (s.ring?.files ?? []).map((f) => ringFileView(f, t.vmName)),
          }
        : {}),
    };
  });
  const sum = (f: (i: (typeof instances)[number]) => number | null) => instances.reduce((a, i) => a + (f(i) ?? 0), 0);
  return {
    name: rec.name,
    id: rec.id,
    ...(agg.captureStartTime ? { captureStartTime: agg.captureStartTime } : {}),
    packetCaptureStatus: agg.packetCaptureStatus,
    ...(agg.stopReason ? { stopReason: agg.stopReason } : {}),
    packetCaptureError: agg.packetCaptureError,
    packetsCaptured: sum((i) => i.packetsCaptured),
    bytesCaptured: sum((i) => i.bytesCaptured),
    kernelPacketsDropped: instances.some((i) => i.kernelPacketsDropped !== null)
      ? sum((i) => i.kernelPacketsDropped)
      : null,
    storagePath: await storagePathOf(ctx, rec, baseUrl),
    // Look-back (netwatcher's own): how far back the file really reaches — the latest of the hosts' starts, null until known or when the buffer gave nothing.
    ...(lookbackAsked ? lookbackSummary(internal.createdAt, lookbackInSeconds, instances) : {}),
    // Continuous capture: every host's ring files, oldest first (netwatcher's additive field).
    ...(internal.ring
      ? {
          files: instances.flatMap((i) => i.files ?? []),
          filesDeleted: instances.reduce((a, i) => a + (i.filesDeleted ?? 0), 0),
        }
      : {}),
    instances,
  };

  function ringFileView(f: AgentRingFile, instance: string): Record<string, unknown> {
    const location = ringBlobLocation(internal, f.sequence);
    return {
      name: f.name,
      sequence: f.sequence,
      instance,
      firstPacketTime: f.firstPacketTime,
      lastPacketTime: f.lastPacketTime,
      packetsCaptured: f.packetsCaptured,
      sizeInBytes: f.sizeInBytes,
      sha256: f.sha256,
      stored: f.stored,
      storagePath: location && blobs ? blobs.blobUrl(location) : '',
      localPath: internal.localFilePath ? posix.join(posix.dirname(internal.localFilePath), f.name) : null,
    };
  }
}

function lookbackSummary(
  createdAt: string,
  lookbackInSeconds: number,
  instances: Array<{ lookbackStartTime?: string | null; lookbackReason?: string | null }>,
): Record<string, unknown> {
  const starts = instances.map((i) => i.lookbackStartTime ?? null);
  const known = starts.every((t) => t !== null);
  return {
    lookbackInSeconds,
    lookbackRequestedStartTime: new Date(Date.parse(createdAt) - lookbackInSeconds * 1000).toISOString(),
    lookbackStartTime:
      known && starts.length > 0 ? starts.reduce((a, b) => (Date.parse(a!) >= Date.parse(b!) ? a : b)) : null,
    lookbackReason: instances.map((i) => i.lookbackReason ?? null).find((r) => r !== null) ?? null,
  };
}

/** The real URL of the capture's blob, or '' when it goes to the host only. */
export async function storagePathOf(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  baseUrl: string,
): Promise<string> {
  const storage = rec.body._internal.storage;
  if (!storage) return '';
  const account = await ctx.store.getResource<StorageAccountBody>(storage.accountKey);
  if (!account) return '';
  const targets = rec.body._internal.targets;
  if (targets.length > 1 && targets.every((t) => t.blobPath)) {
    // Several instances (Azure's scale-set layout): the folder their blobs share; each instance's own is in queryStatus.
    const paths = targets.map((t) => t.blobPath!.split('/'));
    const common: string[] = [];
    for (let i = 0; paths.every((p) => i < p.length - 1 && p[i] === paths[0]![i]); i++) common.push(paths[0]![i]!);
    return blobStoreOf(ctx, account, baseUrl).blobUrl({ container: storage.container, blobPath: common.join('/') });
  }
  return blobStoreOf(ctx, account, baseUrl).blobUrl({ container: storage.container, blobPath: storage.blobPath });
}

/** The API view of a capture (GET, PUT, list). */
export async function captureView(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  baseUrl: string,
): Promise<Record<string, unknown>> {
  const storagePath = await storagePathOf(ctx, rec, baseUrl);
  return {
    name: rec.name,
    id: rec.id,
    etag: rec.etag,
    type: rec.body.type,
    properties: { ...rec.body.properties, storageLocation: { ...rec.body.properties.storageLocation, storagePath } },
  };
}

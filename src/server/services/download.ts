import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ApiError } from '../../lib/index.js';
import { mergeCaptures, type MergeFormat } from '../../pcap/index.js';
import type { ResourceRecord } from '../../store/index.js';
import { hostFileLocation, uploadDestination } from './agent-channel.js';
import { isTerminal } from './capture-status.js';
import type { CaptureBody, CaptureTarget, InstanceState } from './capture-types.js';
import { agentConnectedAnywhere, type ServerContext } from './context.js';
import { captureStates } from './packet-captures.js';
import { hostFilesStore } from './storage-accounts.js';

/** How long a download waits for a host to send a file kept only on the host. */
const HOST_FETCH_TIMEOUT_IN_MS = 120_000;

/** An open capture file for download, with the host it came from and the drop counters its status reported. */
export interface CaptureFileStream {
  stream: NodeJS.ReadableStream;
  sizeInBytes: number;
  sha256: string;
  fileName: string;
  instance: string;
  kernelPacketsDropped: number | null;
  kernelPacketsReceived: number | null;
}

/**
 * Opens a host's capture file: from the capture's storage account once stored, or — for a capture
 * kept only on the host (filePath) — fetched from the host through its agent into the server's
 * host-files store first. Refuses while the capture still runs (the file is not complete).
 */
export async function openCaptureFile(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  instance: string | undefined,
  baseUrl: string,
  ringFile?: string,
): Promise<CaptureFileStream> {
  const internal = rec.body._internal;
  let target: CaptureTarget | undefined = internal.targets[0];
  if (instance !== undefined) {
    target = internal.targets.find(
      (t) =>
        t.vmName.toLowerCase() === instance.toLowerCase() ||
        t.vmId.toLowerCase() === instance.toLowerCase() ||
        t.instanceId === instance ||
        (t.computerName ?? '').toLowerCase() === instance.toLowerCase(),
    );
    if (!target)
      throw new ApiError(
        'InvalidParameter',
        `Capture '${rec.name}' has no host '${instance}'; hosts: ${internal.targets.map((t) => (t.instanceId !== undefined ? `${t.instanceId} (${t.vmName})` : t.vmName)).join(', ')}.`,
        { target: 'instance' },
      );
  }
  if (!target) throw new ApiError('FileNotAvailable', `Capture '${rec.name}' has no host.`);
  const state = (await captureStates(ctx, rec)).get(target.vmKey)!;
  if (internal.ring || ringFile !== undefined) return openRingFile(ctx, rec, target, state, baseUrl, ringFile);
  if (!isTerminal(state))
    throw new ApiError(
      'FileNotAvailable',
      `Capture '${rec.name}' is ${state.status} on '${target.vmName}'; stop it (nw network watcher packet-capture stop) before downloading its file.`,
    );
  if (!state.file)
    throw new ApiError(
      'FileNotAvailable',
      `Capture '${rec.name}' produced no file on '${target.vmName}'${state.errorMessage ? `: ${state.errorMessage}` : ''}.`,
    );
  const fileName = `${rec.name}${internal.targets.length > 1 ? `_${target.vmName}` : ''}.cap`;
  const expected = { sizeInBytes: state.file.sizeInBytes, sha256: state.file.sha256 };
  const about = {
    fileName,
    instance: target.vmName,
    kernelPacketsDropped: state.kernelPacketsDropped,
    kernelPacketsReceived: state.kernelPacketsReceived,
  };

  if (internal.storage) {
    if (!state.file.stored) {
      const why = state.errors.includes('StorageFailed')
        ? ` Storing it failed (${state.errorMessage ?? 'StorageFailed'}); the host keeps the file and retries.`
        : ' The upload is still in progress.';
      throw new ApiError('FileNotAvailable', `The file of capture '${rec.name}' is not in storage yet.${why}`);
    }
    const dest = await uploadDestination(ctx, rec, target.vmKey, baseUrl);
    if (!dest) throw new ApiError('FileNotAvailable', `The storage account of capture '${rec.name}' no longer exists.`);
    const opened = await dest.store.openRead(dest.location);
    return { ...opened, sha256: expected.sha256, ...about };
  }

  const store = hostFilesStore(ctx, baseUrl);
  const location = hostFileLocation(internal.uid, target.vmKey);
  const present = async () => (await store.stat(location))?.sizeInBytes === expected.sizeInBytes;
  if (!(await present())) {
    // The host sends the file to whichever replica the load balancer picks, into that replica's
    // own data folder: with several replicas this one may never see it.
    if (ctx.replicas && ctx.replicas.otherLiveReplicas().length > 0) {
      throw new ApiError(
        'OperationNotSupported',
        `The file of capture '${rec.name}' is kept only on '${target.vmName}', and this server runs as one of several replicas whose data folders are not shared: a file fetched from a host cannot be served here. Give captures a storage account (Azure Blob or S3) with several replicas (docs/deploy.md).`,
      );
    }
    if (!(await agentConnectedAnywhere(ctx, target.vmKey)))
      throw new ApiError(
        'AgentUnavailable',
        `The file of capture '${rec.name}' is kept on '${target.vmName}', whose agent is not connected; try again when it is.`,
      );
    ctx.hub.send(target.vmKey, { type: 'file.fetch', requestId: randomUUID(), captureUid: internal.uid });
    const deadline = Date.now() + HOST_FETCH_TIMEOUT_IN_MS;
    while (!(await present())) {
      if (Date.now() > deadline)
        throw new ApiError(
          'AgentUnavailable',
          `'${target.vmName}' did not send the file of capture '${rec.name}' in time; try again.`,
        );
      await sleep(200);
    }
  }
  const opened = await store.openRead(location);
  return { ...opened, sha256: expected.sha256, ...about };
}

/**
 * One time-ordered file of every host's packets (`download --merge`, issue 14), streamed: each
 * host's file is opened as for a single download and read as the merge needs it. Hosts without a
 * file (offline at the start, failed) are named in the section comment; refused while a host runs.
 */
export async function openMergedCaptureFile(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  format: MergeFormat,
  baseUrl: string,
): Promise<{ stream: Readable; fileName: string }> {
  const internal = rec.body._internal;
  const states = await captureStates(ctx, rec);
  const running = internal.targets.filter((t) => !isTerminal(states.get(t.vmKey)!));
  if (running.length > 0)
    throw new ApiError(
      'FileNotAvailable',
      `Capture '${rec.name}' still runs on ${running.map((t) => t.vmName).join(', ')}; stop it before downloading the merged file.`,
    );
  const withFile = internal.targets.filter((t) => states.get(t.vmKey)!.file);
  const without = internal.targets.filter((t) => !states.get(t.vmKey)!.file);
  if (withFile.length === 0)
    throw new ApiError('FileNotAvailable', `Capture '${rec.name}' produced no file on any host.`);
  const sources = [];
  for (const t of withFile) {
    const file = await openCaptureFile(ctx, rec, t.vmId, baseUrl);
    const hostName = t.computerName ?? t.vmName;
    sources.push({
      name: hostName,
      comment: `${t.instanceId !== undefined ? `instance ${t.instanceId} (${t.vmName}), ` : ''}${t.vmId}; filter: ${internal.bpfExpression || '(none)'}`,
      chunks: file.stream as AsyncIterable<Buffer>,
    });
  }
  const comment = `netwatcher capture ${rec.id}; filter: ${internal.bpfExpression || '(none)'}; hosts: ${withFile.map((t) => t.computerName ?? t.vmName).join(', ')}${without.length ? `; without a file: ${without.map((t) => t.computerName ?? t.vmName).join(', ')}` : ''}`;
  return {
    stream: Readable.from(mergeCaptures(sources, format, comment)),
    fileName: `${rec.name}.${format === 'pcapng' ? 'pcapng' : 'pcap'}`,
  };
}

/**
 * Opens one closed file of a continuous capture's ring — also while the ring still runs, as each
 * file is final once closed: from the storage account once stored, or fetched from the host.
 */
async function openRingFile(
  ctx: ServerContext,
  rec: ResourceRecord<CaptureBody>,
  target: CaptureTarget,
  state: InstanceState,
  baseUrl: string,
  name: string | undefined,
): Promise<CaptureFileStream> {
  const internal = rec.body._internal;
  const files = state.ring?.files ?? [];
  if (!internal.ring)
    throw new ApiError(
      'InvalidParameter',
      `Capture '${rec.name}' is not a continuous capture; it has one file (omit 'file').`,
      { target: 'file' },
    );
  if (name === undefined)
    throw new ApiError(
      'InvalidParameter',
      `Capture '${rec.name}' is a continuous capture: name one of its files with 'file' (${files.map((f) => f.name).join(', ') || 'none closed yet'}), or download them all with 'nw network watcher packet-capture download --all-files'.`,
      { target: 'file' },
    );
  const file = files.find((f) => f.name === name);
  if (!file)
    throw new ApiError(
      'FileNotAvailable',
      `Capture '${rec.name}' has no file '${name}' on '${target.vmName}'${files.length ? `; its files: ${files.map((f) => f.name).join(', ')}` : ''} (the ring deletes its oldest files).`,
      { target: 'file' },
    );
  const about = {
    fileName: file.name,
    instance: target.vmName,
    kernelPacketsDropped: state.kernelPacketsDropped,
    kernelPacketsReceived: state.kernelPacketsReceived,
  };
  if (internal.storage) {
    if (!file.stored)
      throw new ApiError(
        'FileNotAvailable',
        `Ring file '${name}' of capture '${rec.name}' is not in storage yet.${state.errors.includes('StorageFailed') ? ` Storing it failed (${state.errorMessage ?? 'StorageFailed'}); the host keeps the file and retries.` : ' The upload is in progress.'}`,
      );
    const dest = await uploadDestination(ctx, rec, target.vmKey, baseUrl, file.sequence);
    if (!dest) throw new ApiError('FileNotAvailable', `The storage account of capture '${rec.name}' no longer exists.`);
    return { ...(await dest.store.openRead(dest.location)), sha256: file.sha256, ...about };
  }
  const store = hostFilesStore(ctx, baseUrl);
  const location = hostFileLocation(internal.uid, target.vmKey, file.sequence);
  const present = async () => (await store.stat(location))?.sizeInBytes === file.sizeInBytes;
  if (!(await present())) {
    if (!(await agentConnectedAnywhere(ctx, target.vmKey)))
      throw new ApiError(
        'AgentUnavailable',
        `Ring file '${name}' of capture '${rec.name}' is kept on '${target.vmName}', whose agent is not connected; try again when it is.`,
      );
    ctx.hub.send(target.vmKey, {
      type: 'file.fetch',
      requestId: randomUUID(),
      captureUid: internal.uid,
      ringFileSequence: file.sequence,
    });
    const deadline = Date.now() + HOST_FETCH_TIMEOUT_IN_MS;
    while (!(await present())) {
      if (Date.now() > deadline)
        throw new ApiError(
          'AgentUnavailable',
          `'${target.vmName}' did not send ring file '${name}' of capture '${rec.name}' in time; try again.`,
        );
      await sleep(200);
    }
  }
  return { ...(await store.openRead(location)), sha256: file.sha256, ...about };
}

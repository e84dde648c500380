import { randomUUID } from 'node:crypto';
import { ApiError, armIdKey, buildArmId, shellCommand, vmId } from '../../lib/index.js';
import { AGENT_EXTENSION, type ExtensionBody, type HostState, type VmBody } from '../../model/index.js';
import type { OperationRecord, ResourceRecord } from '../../store/index.js';
import { SERVER_DEFAULTS } from '../config.js';
import type { ServerContext } from './context.js';
import { ensureWatcherForLocation } from './watchers.js';

/** Stored bodies of a host, its netwatcher state and its agent extension (model's vmBodySchema, hostStateSchema, extensionBodySchema). */
export type { ExtensionBody, HostState, VmBody };

/** Secret column of the agent extension: the latest install command (it holds a one-time enrolment token). */
export interface ExtensionSecret {
  installCommand: string;
}

/** Registers a host as a VM without installing anything (`PUT …/virtualMachines/{vm}`, as `az resource create` sends it); an existing VM is returned as it is. */
export async function registerVm(
  ctx: ServerContext,
  sub: string,
  rg: string,
  vmName: string,
  location: string,
): Promise<{ record: ResourceRecord<VmBody>; created: boolean }> {
  const id = vmId(sub, rg, vmName);
  const existing = await ctx.store.getResource<VmBody>(armIdKey(id));
  if (existing) {
    if (existing.location && existing.location.toLowerCase() !== location.toLowerCase()) {
      throw new ApiError(
        'InvalidParameter',
        `Location '${location}' does not match the location '${existing.location}' of virtual machine '${vmName}'.`,
        { target: 'location' },
      );
    }
    return { record: existing, created: false };
  }
  const inserted = await ctx.store.insertResource<VmBody>({
    key: armIdKey(id),
    type: 'vm',
    parentKey: null,
    id,
    name: vmName,
    subscriptionId: sub,
    resourceGroup: rg,
    location,
    body: {
      type: 'Microsoft.Compute/virtualMachines',
      location,
      properties: {
        provisioningState: 'Succeeded',
        vmId: randomUUID(),
        netwatcher: { agentConnected: false, agentVersion: null, hostname: null, enrolledAt: null, lastSeenAt: null },
      },
    },
  });
  // Null only when a concurrent PUT registered it first: that one is the VM.
  if (!inserted) return { record: (await ctx.store.getResource<VmBody>(armIdKey(id)))!, created: false };
  return { record: inserted, created: true };
}

/** Replaces a VM's tags (VirtualMachines_Update); selectors of later captures see them (issue 14). */
export async function updateVmTags(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
  tags: Record<string, string>,
): Promise<ResourceRecord<VmBody>> {
  const vm = await getVm(ctx, sub, rg, name);
  return (await ctx.store.updateResourceBody<VmBody>(vm.key, { ...vm.body, tags })) ?? vm;
}

/** A VM by its parts; 404 when missing. */
export async function getVm(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
): Promise<ResourceRecord<VmBody>> {
  const rec = await ctx.store.getResource<VmBody>(armIdKey(vmId(sub, rg, name)));
  if (!rec)
    throw new ApiError(
      'VirtualMachineNotFound',
      `Virtual machine '${name}' was not found in resource group '${rg}'. Register the host with 'nw vm extension set'.`,
      { target: 'vmName' },
    );
  return rec;
}

/** The agent extension of a VM, whatever its instance name, or null. */
export async function findAgentExtension(
  ctx: ServerContext,
  vm: ResourceRecord<VmBody>,
): Promise<ResourceRecord<ExtensionBody> | null> {
  const list = await ctx.store.listResources<ExtensionBody>('extension', { parentKey: vm.key });
  return list.find((e) => e.body.properties.publisher === AGENT_EXTENSION.publisher) ?? null;
}

/** Gets an extension; the conventional name AzureNetworkWatcherExtension also finds the agent extension installed under another name (seed 000 sets NetworkWatcherAgentLinux and then shows AzureNetworkWatcherExtension). */
export async function getExtension(
  ctx: ServerContext,
  sub: string,
  rg: string,
  vmName: string,
  extName: string,
): Promise<ResourceRecord<ExtensionBody>> {
  const vm = await getVm(ctx, sub, rg, vmName);
  const direct = await ctx.store.getResource<ExtensionBody>(armIdKey(`${vm.id}/extensions/${extName}`));
  if (direct) return direct;
  if (
    [AGENT_EXTENSION.conventionalName, AGENT_EXTENSION.linuxType].some((n) => n.toLowerCase() === extName.toLowerCase())
  ) {
    const agent = await findAgentExtension(ctx, vm);
    if (agent) return agent;
  }
  throw new ApiError('ResourceNotFound', `Extension '${extName}' was not found on virtual machine '${vmName}'.`, {
    target: 'vmExtensionName',
  });
}

/**
 * The command that installs the agent on a host: `nw agent --server URL CREDENTIAL… --data-dir DIR`,
 * where CREDENTIAL is a one-time `--token` or a reusable `--join-key`.
 */
export function agentInstallCommand(
  ctx: ServerContext,
  serverUrl: string,
  credentialArgs: string[],
  dataDir: string,
): string {
  // A self-signed server: the host fetches the CA from the server and trusts it only if its SHA-256
  // matches the pin, which travels with the token (docs/sdk.md, "Agents and a self-signed server").
  const caPin =
    ctx.tlsCa && serverUrl.toLowerCase().startsWith('https:')
      ? ['--ca-file', `${dataDir}/server-ca.pem`, '--ca-sha256', ctx.tlsCa.sha256]
      : [];
  // Pasted into a root shell on the host: every word quoted, whatever the URL or names hold.
  return shellCommand(['nw', 'agent', '--server', serverUrl, ...credentialArgs, '--data-dir', dataDir, ...caPin]);
}

/** Input of an extension PUT. */
export interface ExtensionInput {
  location?: string;
  publisher?: string;
  type?: string;
  typeHandlerVersion?: string;
  autoUpgradeMinorVersion?: boolean;
  settings?: unknown;
}

/**
 * Refuses an extension PUT that is not netwatcher's agent for Linux (a VM's or a scale set's):
 * another publisher, or another type (Windows named as such). The type defaults from the
 * extension's name, as az names it after the type.
 */
export function assertAgentExtension(input: ExtensionInput, extName: string): void {
  const publisher = input.publisher ?? AGENT_EXTENSION.publisher;
  if (publisher.toLowerCase() !== AGENT_EXTENSION.publisher.toLowerCase()) {
    throw new ApiError(
      'InvalidParameter',
      `Publisher '${publisher}' is not supported: netwatcher installs only the '${AGENT_EXTENSION.publisher}' agent.`,
      { target: 'properties.publisher' },
    );
  }
  const type =
    input.type ??
    (extName.toLowerCase() === AGENT_EXTENSION.windowsType.toLowerCase()
      ? AGENT_EXTENSION.windowsType
      : AGENT_EXTENSION.linuxType);
  if (type.toLowerCase() === AGENT_EXTENSION.windowsType.toLowerCase()) {
    throw new ApiError(
      'InvalidParameter',
      `Extension type '${type}' is not supported: netwatcher agents run on Linux hosts; use '${AGENT_EXTENSION.linuxType}'.`,
      { target: 'properties.type' },
    );
  }
  if (type.toLowerCase() !== AGENT_EXTENSION.linuxType.toLowerCase()) {
    throw new ApiError(
      'InvalidParameter',
      `Extension type '${type}' is not supported; use '${AGENT_EXTENSION.linuxType}'.`,
      { target: 'properties.type' },
    );
  }
}

/**
 * Installs the agent extension on a VM: registers the VM if it is new, records the extension and
 * issues a one-time enrolment token. The extension's provisioningState becomes Succeeded once the
 * agent connects. Returns the token and the command to run on the host (shown once).
 */
export async function putAgentExtension(
  ctx: ServerContext,
  serverUrl: string,
  sub: string,
  rg: string,
  vmName: string,
  extName: string,
  input: ExtensionInput,
): Promise<{
  record: ResourceRecord<ExtensionBody>;
  created: boolean;
  enrollmentToken: string;
  installCommand: string;
}> {
  assertAgentExtension(input, extName);
  const id = vmId(sub, rg, vmName);
  let vm = await ctx.store.getResource<VmBody>(armIdKey(id));
  if (!vm) {
    vm = (await registerVm(ctx, sub, rg, vmName, input.location ?? ctx.config.defaultLocation)).record;
  } else if (input.location && vm.location && input.location.toLowerCase() !== vm.location.toLowerCase()) {
    throw new ApiError(
      'InvalidParameter',
      `Location '${input.location}' does not match the location '${vm.location}' of virtual machine '${vmName}'.`,
      { target: 'location' },
    );
  }
  const existingAgent = await findAgentExtension(ctx, vm);
  if (existingAgent && existingAgent.name.toLowerCase() !== extName.toLowerCase()) {
    throw new ApiError(
      'Conflict',
      `Virtual machine '${vmName}' already has the Network Watcher agent as extension '${existingAgent.name}'.`,
      { target: 'vmExtensionName' },
    );
  }
  const extId = buildArmId({
    subscriptionId: sub,
    resourceGroup: rg,
    provider: 'Microsoft.Compute',
    types: ['virtualMachines', 'extensions'],
    names: [vm.name, extName],
  });
  const connected = vm.body.properties.netwatcher.agentConnected;
  const expiresAt = new Date(Date.now() + SERVER_DEFAULTS.enrollmentTokenLifetimeInSeconds * 1000);
  // One enrolment token per host at a time: a new one voids the earlier unused ones, so an
  // install command that leaked (a shell history, a ticket) stops working once it is re-issued.
  await ctx.store.revokeTokens('enrollment', vm.key);
  const { token } = await ctx.store.issueToken('enrollment', {
    vmKey: vm.key,
    expiresAt,
    description: `one-time enrolment token of host ${vm.id}`,
  });
  const dataDir = `/var/lib/netwatcher/agent-${rg}-${vm.name}`.replace(/[^A-Za-z0-9_./-]/g, '_');
  const installCommand = agentInstallCommand(ctx, serverUrl, ['--token', token], dataDir);
  const record = await ctx.store.putResource<ExtensionBody>({
    key: armIdKey(extId),
    type: 'extension',
    parentKey: vm.key,
    id: extId,
    name: extName,
    subscriptionId: sub,
    resourceGroup: rg,
    location: vm.location,
    body: {
      type: 'Microsoft.Compute/virtualMachines/extensions',
      location: vm.location ?? ctx.config.defaultLocation,
      properties: {
        publisher: AGENT_EXTENSION.publisher,
        type: AGENT_EXTENSION.linuxType,
        typeHandlerVersion: input.typeHandlerVersion ?? AGENT_EXTENSION.typeHandlerVersion,
        autoUpgradeMinorVersion: input.autoUpgradeMinorVersion ?? true,
        provisioningState: connected ? 'Succeeded' : 'Creating',
        settings: input.settings ?? null,
      },
    },
    // Kept (never in a body) so a plain-az user can read it in the instance view while the host
    // awaits enrolment (vm-views.ts); the token is one-time and expires like any enrolment token.
    secret: { installCommand } satisfies ExtensionSecret,
  });
  return { record, created: !existingAgent, enrollmentToken: token, installCommand };
}

/** Trades a one-time enrolment token for the agent's own credential. */
export async function enrollAgent(
  ctx: ServerContext,
  enrollmentToken: string,
  hostname: string,
): Promise<{ credential: string; vm: ResourceRecord<VmBody> }> {
  const used = await ctx.store.consumeEnrollmentToken(enrollmentToken);
  if (!used)
    throw new ApiError(
      'InvalidEnrollmentToken',
      'The enrolment token is unknown, expired or already used. Run `nw vm extension set` again for a new one.',
    );
  const vm = await ctx.store.getResource<VmBody>(used.vmKey);
  if (!vm)
    throw new ApiError('VirtualMachineNotFound', 'The virtual machine of this enrolment token no longer exists.');
  // A host has one credential: a re-enrolment replaces the old one, and the old one's live
  // connection (an agent the re-installed extension replaces) is cut at once.
  await ctx.store.revokeTokens('agent', vm.key);
  await ctx.hub.disconnect(vm.key, 'the host was enrolled again with a new credential');
  const { token } = await ctx.store.issueToken('agent', {
    vmKey: vm.key,
    description: `agent credential of host ${vm.id}`,
  });
  await ctx.store.updateResourceBody<VmBody>(vm.key, {
    ...vm.body,
    properties: {
      ...vm.body.properties,
      netwatcher: { ...vm.body.properties.netwatcher, hostname, enrolledAt: new Date().toISOString() },
    },
  });
  await ensureWatcherForLocation(ctx, vm.subscriptionId, vm.location ?? ctx.config.defaultLocation);
  return { credential: token, vm };
}

/** Records an agent (dis)connection on its VM and extension. */
export async function setAgentConnected(
  ctx: ServerContext,
  vmKey: string,
  connected: boolean,
  info: { agentVersion?: string; hostname?: string } = {},
): Promise<ResourceRecord<VmBody> | null> {
  // One statement, shared with the hellos (or goodbyes) recorded at the same moment; the VM's
  // other fields (a look-back setting, tags written meanwhile) are kept (Store.mergeHostState).
  const vm = await ctx.store.mergeHostState<VmBody>(vmKey, {
    agentConnected: connected,
    lastSeenAt: new Date().toISOString(),
    ...(info.agentVersion !== undefined ? { agentVersion: info.agentVersion } : {}),
    ...(info.hostname !== undefined ? { hostname: info.hostname } : {}),
  });
  if (!vm) return null;
  // Only a connection can make the extension Succeeded: a disconnect (10,000 of them when a
  // replica stops) needs no look-up of it.
  if (!connected) return vm;
  const ext = await findAgentExtension(ctx, vm);
  // Under the extension's lock, and so in one statement with the other hosts greeted at the same
  // moment (a new fleet's first connections: 10,000 single-row updates, each its own WAL flush,
  // were most of the database's time while it connected).
  if (ext && ext.body.properties.provisioningState !== 'Succeeded') {
    await ctx.store.modifyResourceBody<ExtensionBody>(ext.key, (body) =>
      body.properties.provisioningState === 'Succeeded'
        ? body
        : { ...body, properties: { ...body.properties, provisioningState: 'Succeeded' } },
    );
  }
  return vm;
}

/**
 * Revokes a host's access: its agent credential and unused enrolment tokens are deleted and its
 * live agent connection is cut at once (nothing more is sent to it or accepted from it); the VM
 * shows disconnected. Other replicas cut their connection to it at their next credential sweep.
 * Returns how many tokens were revoked.
 */
export async function revokeAgentAccess(ctx: ServerContext, vmKey: string, reason: string): Promise<number> {
  const revoked = (await ctx.store.revokeTokens('agent', vmKey)) + (await ctx.store.revokeTokens('enrollment', vmKey));
  const cut = await ctx.hub.disconnect(vmKey, reason);
  if (!cut) await setAgentConnected(ctx, vmKey, false);
  // The host can send nothing more (deleted, its extension deleted, or revoked until it enrols
  // again): its per-host metric state goes now, not an idle hour later (what it sent is written).
  ctx.alerts.metrics.forgetHost(vmKey);
  ctx.logger.info({ vm: vmKey, tokens: revoked, connectionClosed: cut }, 'agent access revoked');
  return revoked;
}

/** One page of the top-level VMs of a subscription or resource group, in list order (a scale set's instances are listed under it). */
export async function listVmPage(
  ctx: ServerContext,
  filter: { subscriptionId: string; resourceGroup?: string },
  after: { createdAtInMs: number; key: string } | null,
  limit: number,
): Promise<ResourceRecord<VmBody>[]> {
  return ctx.store.listResourcesPage<VmBody>('vm', { ...filter, topLevelOnly: true }, after, limit);
}

/** The extensions of a VM or scale set (by its key). */
export async function listExtensions(ctx: ServerContext, parentKey: string): Promise<ResourceRecord<ExtensionBody>[]> {
  return ctx.store.listResources<ExtensionBody>('extension', { parentKey });
}

/**
 * Installs the agent extension ({@link putAgentExtension}) and records its operation, done at
 * once: installing means running the command on the host, which the caller does after the answer;
 * the extension's provisioningState turns Succeeded when the agent connects.
 */
export async function installAgentExtension(
  ctx: ServerContext,
  serverUrl: string,
  sub: string,
  rg: string,
  vmName: string,
  extName: string,
  input: ExtensionInput,
): Promise<Awaited<ReturnType<typeof putAgentExtension>> & { operation: OperationRecord }> {
  const result = await putAgentExtension(ctx, serverUrl, sub, rg, vmName, extName, input);
  return { ...result, operation: await recordExtensionOperation(ctx, sub, result.record) };
}

/**
 * The operation of an extension install, for a VM's or a scale set's: done at once (installing is
 * running the command on the host, after the answer).
 */
export function recordExtensionOperation(
  ctx: ServerContext,
  sub: string,
  record: ResourceRecord<ExtensionBody>,
): Promise<OperationRecord> {
  return ctx.store.createOperation({
    subscriptionId: sub,
    location: record.location ?? ctx.config.defaultLocation,
    kind: 'extension',
    resourceKey: record.key,
    status: 'Succeeded',
  });
}

/**
 * Deletes an extension of a VM; deleting it revokes the host's credential and cuts its live
 * connection (the agent is the extension). Returns false when the VM or the extension is missing.
 */
export async function deleteExtension(
  ctx: ServerContext,
  sub: string,
  rg: string,
  vmName: string,
  extName: string,
): Promise<boolean> {
  const vm = await ctx.store.getResource<VmBody>(armIdKey(vmId(sub, rg, vmName)));
  if (!vm) return false;
  let ext;
  try {
    ext = await getExtension(ctx, sub, rg, vmName, extName);
  } catch (error) {
    // Not found (getExtension's only ApiError) is an answer; a database failure is not.
    if (error instanceof ApiError) return false;
    throw error;
  }
  await ctx.store.deleteResource(ext.key);
  // After the delete, outside any transaction: revocation tells the credential caches and the hub.
  await revokeAgentAccess(ctx, vm.key, 'the agent extension was deleted');
  return true;
}

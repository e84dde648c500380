import type { ResourceRecord } from '../../store/index.js';
import { resourceView } from './view.js';
import type { ExtensionBody, ExtensionSecret, VmBody } from './vms.js';

/** One instance-view status, as Azure's compute API writes them. */
interface InstanceViewStatus {
  code: string;
  level: 'Info' | 'Warning' | 'Error';
  displayStatus: string;
  message?: string;
  time?: string;
}

/**
 * The instance view of the agent extension (VirtualMachineExtensionInstanceView). While the host
 * awaits enrolment, and only for callers allowed to write the extension, the status message holds
 * the install command: plain `az vm extension show --instance-view` then gives what `nw vm
 * extension set` prints, since az itself prints the final GET of `az vm extension set`, not the PUT.
 */
export function extensionInstanceView(
  ext: ResourceRecord<ExtensionBody>,
  options: { showInstallCommand: boolean },
): Record<string, unknown> {
  const p = ext.body.properties;
  const state = p.provisioningState;
  const install = (ext.secret as Partial<ExtensionSecret> | null)?.installCommand;
  const awaiting = state === 'Creating';
  const status: InstanceViewStatus = {
    code: `ProvisioningState/${state.toLowerCase()}`,
    level: 'Info',
    displayStatus: awaiting ? 'Awaiting enrolment' : state === 'Succeeded' ? 'Provisioning succeeded' : state,
    ...(awaiting
      ? {
          message:
            options.showInstallCommand && install
              ? `Run on the host: ${install}`
              : "The agent has not enrolled yet; run 'az vm extension set' again for a new install command.",
        }
      : { message: 'The agent is enrolled.' }),
    time: ext.updatedAt.toISOString(),
  };
  return {
    name: ext.name,
    type: `${p.publisher}.${p.type}`,
    typeHandlerVersion: p.typeHandlerVersion,
    statuses: [status],
  };
}

/** The API view of an extension, with `properties.instanceView` when `$expand=instanceView` was asked. */
export function extensionView(
  ext: ResourceRecord<ExtensionBody>,
  expand: { instanceView: boolean; showInstallCommand: boolean },
): Record<string, unknown> {
  const view = resourceView(ext) as { properties: Record<string, unknown> };
  if (!expand.instanceView) return view;
  return { ...view, properties: { ...view.properties, instanceView: extensionInstanceView(ext, expand) } };
}

/**
 * The API view of a VM: its extensions as the top-level `resources` array (az's `vm extension
 * list` reads it) and, when asked with `$expand=instanceView`, `properties.instanceView` with the
 * extensions' instance views (az's `vm extension set` reads it before the PUT).
 */
export function vmView(
  vm: ResourceRecord<VmBody>,
  extensions: ResourceRecord<ExtensionBody>[],
  expand: { instanceView: boolean; showInstallCommand: boolean },
): Record<string, unknown> {
  const view = resourceView(vm) as { properties: Record<string, unknown> };
  const out: Record<string, unknown> = { ...view, resources: extensions.map((e) => resourceView(e)) };
  if (!expand.instanceView) return out;
  const host = vm.body.properties.netwatcher;
  const instanceView = {
    ...(host.hostname ? { computerName: host.hostname } : {}),
    vmAgent: {
      vmAgentVersion: host.agentVersion ?? 'Unknown',
      statuses: [
        host.agentConnected
          ? {
              code: 'ProvisioningState/succeeded',
              level: 'Info',
              displayStatus: 'Ready',
              message: 'The netwatcher agent is connected.',
            }
          : {
              code: 'ProvisioningState/Unavailable',
              level: 'Warning',
              displayStatus: 'Not Ready',
              message: 'The netwatcher agent is not connected.',
            },
      ],
    },
    extensions: extensions.map((e) => extensionInstanceView(e, expand)),
    statuses: [
      { code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded' },
      host.agentConnected
        ? { code: 'PowerState/running', level: 'Info', displayStatus: 'VM running' }
        : { code: 'PowerState/unknown', level: 'Info', displayStatus: 'VM status unknown (no agent connected)' },
    ],
  };
  return { ...out, properties: { ...view.properties, instanceView } };
}

/** True when a `$expand` query asks for the instance view (ARM compares case-insensitively). */
export function wantsInstanceView(query: unknown): boolean {
  const expand = (query as Record<string, unknown> | undefined)?.['$expand'];
  return typeof expand === 'string' && expand.split(',').some((x) => x.trim().toLowerCase() === 'instanceview');
}

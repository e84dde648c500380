import { z } from 'zod';
import { ciObject } from './case-insensitive.js';

/** PUT body of a network watcher (NetworkWatchers_CreateOrUpdate; not a long-running operation). */
export const networkWatcherPutSchema = ciObject({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
});

/** PUT body of a VM extension (the agent). `location` is optional: the VM's is used. */
export const vmExtensionPutSchema = ciObject({
  location: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: ciObject({
    publisher: z.string().optional(),
    type: z.string().optional(),
    typeHandlerVersion: z.string().optional(),
    autoUpgradeMinorVersion: z.boolean().optional(),
    settings: z.unknown().optional(),
  }).optional(),
});

/** PUT body of a virtual machine: registers a host (what `az resource create` sends); nothing else of a VM can be set. */
export const vmRegisterPutSchema = ciObject({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
});

/** PATCH body of a virtual machine (VirtualMachines_Update): only its tags can change (`nw vm update --set tags.K=V`). */
export const vmUpdatePatchSchema = ciObject({
  tags: z.record(z.string().min(1).max(512), z.string().max(256)).refine((t) => Object.keys(t).length <= 50, 'at most 50 tags (Azure\'s limit)'),
});

/** PUT body of a storage account; `properties.backend` is checked by src/storage's schema. */
export const storageAccountPutSchema = ciObject({
  location: z.string().optional(),
  kind: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: ciObject({ backend: z.unknown().optional() }).optional(),
});

/** Publisher and types of the agent extension (as Azure's). */
export const AGENT_EXTENSION = {
  publisher: 'Microsoft.Azure.NetworkWatcher',
  linuxType: 'NetworkWatcherAgentLinux',
  windowsType: 'NetworkWatcherAgentWindows',
  conventionalName: 'AzureNetworkWatcherExtension',
  typeHandlerVersion: '1.4',
} as const;

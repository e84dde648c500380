import { z } from 'zod';
import { ciObject } from './case-insensitive.js';
import { LOOKBACK_MAX_SECONDS } from './agent-protocol.js';

/** The api-version of az's packet-capture commands: what the CLI sends, and what the server echoes when a request names none (it accepts any). */
export const DEFAULT_API_VERSION = '2022-01-01';

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

/**
 * PUT body of a host's look-back buffer (`PUT …/virtualMachines/{vm}/lookback`, netwatcher's own
 * singleton child resource; DELETE turns it off). Off by default; src/capture LOOKBACK_LIMITS are the bounds.
 */
export const vmLookbackPutSchema = ciObject({
  properties: ciObject({
    /** No packet older than this many seconds is kept. */
    seconds: z.number().int().min(1).max(LOOKBACK_MAX_SECONDS),
    /** The buffer never holds more than this many bytes on the host (at least 4 MiB). */
    maxSizeInBytes: z
      .number()
      .int()
      .min(4 * 1024 * 1024)
      .max(64 * 1024 * 1024 * 1024),
    /** Bytes kept per packet; 0 (the default) keeps whole packets. */
    snapLengthInBytes: z.number().int().min(0).max(262144).optional(),
  }),
});

/** A validated look-back PUT. */
export type VmLookbackPut = z.output<typeof vmLookbackPutSchema>;

/** PATCH body of a virtual machine (VirtualMachines_Update): only its tags can change (`nw vm update --set tags.K=V`). */
export const vmUpdatePatchSchema = ciObject({
  tags: z
    .record(z.string().min(1).max(512), z.string().max(256))
    .refine((t) => Object.keys(t).length <= 50, "at most 50 tags (Azure's limit)"),
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

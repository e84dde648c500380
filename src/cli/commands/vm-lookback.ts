import { vmPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { parseIntegerOption, parseSizeOption, requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** Table columns of `nw vm lookback show|enable|disable`. */
export const LOOKBACK_TABLE: readonly TableColumn[] = [
  { header: 'Enabled', value: (r) => (r['properties'] as Record<string, unknown>)['enabled'] },
  { header: 'Seconds', value: (r) => (r['properties'] as Record<string, unknown>)['seconds'] },
  { header: 'MaxSizeInBytes', value: (r) => (r['properties'] as Record<string, unknown>)['maxSizeInBytes'] },
  {
    header: 'SizeInBytes',
    value: (r) =>
      ((r['properties'] as Record<string, unknown>)['status'] as Record<string, unknown> | null)?.['sizeInBytes'],
  },
  {
    header: 'SpanInSeconds',
    value: (r) =>
      ((r['properties'] as Record<string, unknown>)['status'] as Record<string, unknown> | null)?.['spanInSeconds'],
  },
  {
    header: 'KernelDropped',
    value: (r) =>
      ((r['properties'] as Record<string, unknown>)['status'] as Record<string, unknown> | null)?.[
        'kernelPacketsDropped'
      ],
  },
];

/** The flags of `nw vm lookback show|disable`: the host. */
export const VM_LOOKBACK_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
  vmName: { flags: '--vm-name <vm>', description: 'name of the VM', required: true },
} as const satisfies OptionTable;

/** Options of `nw vm lookback show|disable`. */
export type VmLookbackOptions = CommonOptions & OptionValues<typeof VM_LOOKBACK_OPTIONS>;

/** The flags of `nw vm lookback enable`. */
export const VM_LOOKBACK_ENABLE_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
  vmName: { flags: '--vm-name <vm>', description: 'name of the VM', required: true },
  seconds: {
    flags: '--seconds <n>',
    description: 'keep no packet older than this many seconds (1-3600)',
    required: true,
  },
  maxSize: {
    flags: '--max-size <size>',
    description: 'keep at most this much on the host, e.g. 256MiB, 1GiB (at least 4MiB)',
    required: true,
  },
  snapLength: {
    flags: '--snap-length <bytes>',
    description: 'bytes kept per packet, 0 = whole packets (default 0)',
  },
} as const satisfies OptionTable;

/** Options of `nw vm lookback enable`. */
export type VmLookbackEnableOptions = CommonOptions & OptionValues<typeof VM_LOOKBACK_ENABLE_OPTIONS>;

function lookbackPath(subscriptionId: string, options: VmLookbackOptions): string {
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const vmName = requireOption('--vm-name', options.vmName);
  return `${vmPath(subscriptionId, resourceGroup, vmName)}/lookback`;
}

/**
 * `nw vm lookback enable`: the host keeps a rolling buffer of its recent packets within both bounds.
 * @example await vmLookbackEnable({ resourceGroup: 'rg', vmName: 'web1', seconds: '120', maxSize: '256MiB', snapLength: '128' }, ctx);
 */
export async function vmLookbackEnable(
  options: VmLookbackEnableOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const seconds = requireOption('--seconds', parseIntegerOption('--seconds', options.seconds, 1, 3600));
  const maxSizeInBytes = requireOption('--max-size', parseSizeOption('--max-size', options.maxSize));
  const snapLengthInBytes = parseIntegerOption('--snap-length', options.snapLength, 0, 262144);
  return lookbackCall('PUT', options, ctx, {
    properties: { seconds, maxSizeInBytes, ...(snapLengthInBytes !== undefined ? { snapLengthInBytes } : {}) },
  });
}

/** One call on the VM's look-back resource, its answer printed as the three commands print it. */
async function lookbackCall(
  method: 'GET' | 'PUT' | 'DELETE',
  options: VmLookbackOptions,
  ctx: CliContext,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const conn = connect(ctx, options);
  const r = await conn.client.request(
    method,
    lookbackPath(conn.subscriptionId, options),
    body === undefined ? {} : { body },
  );
  const result = r.body as Record<string, unknown>;
  writeOutput(ctx.out, result, options.output, LOOKBACK_TABLE);
  return result;
}

/** `nw vm lookback show`: the host's buffer, its bounds and what it holds now. */
export async function vmLookbackShow(options: VmLookbackOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  return lookbackCall('GET', options, ctx);
}

/** `nw vm lookback disable`: the host stops its buffer and deletes its files. */
export async function vmLookbackDisable(options: VmLookbackOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  return lookbackCall('DELETE', options, ctx);
}

/** The commands of this file, in help order. */
export const VM_LOOKBACK_COMMANDS: readonly Declaration[] = [
  defineGroup({
    path: ['vm', 'lookback'],
    description:
      "the host's look-back buffer: its recent packets, kept on the host, so a capture can begin in the past (docs/continuous.md)",
  }),
  defineCommand({
    path: ['vm', 'lookback', 'enable'],
    description:
      "keep a rolling buffer of the host's recent packets, bounded by --seconds and --max-size (off by default; the buffer never leaves the host unless a capture asks)",
    examples: [
      'nw vm lookback enable -g myRG --vm-name web1 --seconds 120 --max-size 256MiB',
      'nw vm lookback enable -g myRG --vm-name web1 --seconds 300 --max-size 1GiB --snap-length 128',
    ],
    options: VM_LOOKBACK_ENABLE_OPTIONS,
    run: (o, { ctx }) => vmLookbackEnable(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'lookback', 'show'],
    description: "show the host's buffer: its bounds and what it holds (size, time span, kernel drops)",
    examples: ['nw vm lookback show -g myRG --vm-name web1 -o table'],
    options: VM_LOOKBACK_OPTIONS,
    run: (o, { ctx }) => vmLookbackShow(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'lookback', 'disable'],
    description: "turn the host's buffer off; the host deletes its files",
    examples: ['nw vm lookback disable -g myRG --vm-name web1'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
      vmName: { flags: '--vm-name <vm>', description: 'name of the VM', required: true },
    },
    run: (o, { ctx }) => vmLookbackDisable(o, ctx),
  }),
];

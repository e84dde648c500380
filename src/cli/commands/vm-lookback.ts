import { vmPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { parseIntegerOption, parseSizeOption, requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';

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

/** Options every `nw vm lookback` command takes. */
export interface VmLookbackOptions extends CommonOptions {
  resourceGroup?: string;
  vmName?: string;
}

/** Options of `nw vm lookback enable`. */
export interface VmLookbackEnableOptions extends VmLookbackOptions {
  /** No packet older than this is kept. */
  seconds?: string;
  /** e.g. 256MiB. */
  maxSize?: string;
  /** Bytes per packet, 0 = whole packets. */
  snapLength?: string;
}

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

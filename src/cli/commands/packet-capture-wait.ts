import { setTimeout as sleep } from 'node:timers/promises';
import { packetCapturePath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import { compileCondition, type Condition } from '../condition-expression.js';
import type { CliContext } from '../context.js';
import { CliError, UsageError, WaitTimeoutError } from '../errors.js';
import { parseSecondsOption, requireOption } from '../option-values.js';
import { shapePacketCapture } from '../shape.js';
import {
  CAPTURE_NAME_OPTIONS,
  queryPacketCaptureStatus,
  watcherFor,
  type PacketCaptureNameOptions,
} from './packet-capture.js';
import { defineCommand, type Declaration, type OptionTable, type OptionValues } from '../command-declaration.js';

/** The flags of `packet-capture wait` (az's conditions, and --stopped). */
export const PACKET_CAPTURE_WAIT_OPTIONS = {
  ...CAPTURE_NAME_OPTIONS,
  created: { flags: '--created', description: "until it exists with provisioningState 'Succeeded'" },
  updated: { flags: '--updated', description: "until provisioningState is 'Succeeded'" },
  exists: { flags: '--exists', description: 'until it exists' },
  deleted: { flags: '--deleted', description: 'until it is deleted' },
  custom: {
    flags: '--custom <expression>',
    description: 'until a JMESPath-style condition holds, e.g. "provisioningState==\'Succeeded\'"',
  },
  stopped: { flags: '--stopped', description: 'until its status is Stopped or Error (queryStatus)' },
  interval: {
    flags: '--interval <seconds>',
    parsed: 'number',
    description: 'polling interval (default 30; 5 with --stopped)',
  },
  timeout: {
    flags: '--timeout <seconds>',
    parsed: 'number',
    description: 'maximum wait (default 3600; none with --stopped)',
  },
} as const satisfies OptionTable;

/** Options of `packet-capture wait`. */
export type PacketCaptureWaitOptions = PacketCaptureNameOptions & OptionValues<typeof PACKET_CAPTURE_WAIT_OPTIONS>;

type WaitKind = 'created' | 'exists' | 'deleted' | 'custom' | 'stopped';

function kindOf(options: PacketCaptureWaitOptions): WaitKind {
  const chosen: WaitKind[] = [];
  if (options.created || options.updated) chosen.push('created');
  if (options.exists) chosen.push('exists');
  if (options.deleted) chosen.push('deleted');
  if (options.custom !== undefined) chosen.push('custom');
  if (options.stopped) chosen.push('stopped');
  if (chosen.length !== 1)
    throw new UsageError('usage error: --created | --updated | --deleted | --exists | --custom JMESPATH | --stopped');
  return chosen[0]!;
}

/**
 * `nw network watcher packet-capture wait`: polls until the condition holds; prints nothing
 * (as az). Returns the last capture or status document seen (null after --deleted).
 * @example await packetCaptureWait({ name: 'pc1', location: 'westcentralus', stopped: true, interval: 1 }, ctx);
 */
export async function packetCaptureWait(
  options: PacketCaptureWaitOptions,
  ctx: CliContext,
): Promise<Record<string, unknown> | null> {
  const name = requireOption('--name/-n', options.name);
  const kind = kindOf(options);
  const condition: Condition | undefined = options.custom !== undefined ? compileCondition(options.custom) : undefined;
  const intervalInSeconds = parseSecondsOption('--interval', options.interval) ?? (kind === 'stopped' ? 5 : 30);
  const timeoutInSeconds = parseSecondsOption('--timeout', options.timeout) ?? (kind === 'stopped' ? undefined : 3600);
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const path = packetCapturePath(watcher.path, name);
  const deadline = timeoutInSeconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutInSeconds * 1000;

  for (;;) {
    if (kind === 'stopped') {
      const status = await queryPacketCaptureStatus(conn, watcher, name);
      if (status['packetCaptureStatus'] === 'Stopped' || status['packetCaptureStatus'] === 'Error') return status;
    } else {
      const response = await conn.client.request('GET', path, { allowStatuses: [404] });
      if (response.status === 404) {
        if (kind === 'deleted') return null;
      } else {
        const capture = shapePacketCapture(response.body);
        const state = String(capture['provisioningState'] ?? '').toLowerCase();
        if (kind === 'exists') return capture;
        if (kind === 'created') {
          if (state === 'succeeded') return capture;
          if (state === 'failed') throw new CliError(`the packet capture '${name}' is in provisioningState Failed`);
        }
        if (kind === 'custom' && condition!(capture)) return capture;
      }
    }
    if (Date.now() + intervalInSeconds * 1000 > deadline) {
      const remainingInMs = deadline - Date.now();
      if (remainingInMs <= 0) throw new WaitTimeoutError(timeoutInSeconds!);
      await sleep(remainingInMs);
      continue;
    }
    await sleep(intervalInSeconds * 1000);
  }
}

/** The commands of this file, in help order. */
export const PACKET_CAPTURE_WAIT_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'wait'],
    description: 'wait until a packet capture reaches a state; prints nothing',
    examples: [
      'nw network watcher packet-capture wait --name pc1 --location westcentralus --created',
      'nw network watcher packet-capture wait --name pc1 --location westcentralus --stopped --interval 2',
      'nw network watcher packet-capture wait --name pc1 --location westcentralus --custom "provisioningState==\'Succeeded\'"',
      'nw network watcher packet-capture wait --name pc1 --location westcentralus --deleted --timeout 60',
    ],
    options: PACKET_CAPTURE_WAIT_OPTIONS,
    run: (o, { ctx }) => packetCaptureWait(o, ctx),
  }),
];

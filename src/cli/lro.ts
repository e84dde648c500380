import { setTimeout as sleep } from 'node:timers/promises';
import type { ArmClient, ArmRequestOptions, ArmResponse } from './arm-client.js';
import { CliError, OperationFailedError } from './errors.js';

/**
 * Long-running operations, polled the way the Azure SDK does (core-lro, as measured with
 * @azure/core-lro 3.3.1; https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations):
 * - `Azure-AsyncOperation` (or `Operation-Location`): poll it until `status` is terminal, then
 *   GET the original URL (PUT), the initial `Location` (POST), or nothing (DELETE);
 * - only `Location`: GET it while it answers 202; the first other 2xx body is the result;
 * - no header: a PUT whose body has a non-terminal `provisioningState` is polled by GETting the
 *   resource; anything else is done and the first body is the result.
 */

/** The methods that start long-running operations. */
export type LroMethod = 'PUT' | 'POST' | 'DELETE';

/** Polling options. */
export interface LroPollOptions {
  /** Interval between polls unless the server sends Retry-After. */
  pollIntervalInMs: number;
  /** Give up after this long (absent: wait for ever, like az). */
  timeoutInMs?: number;
}

/** The end of a long-running operation. */
export interface LroOutcome {
  /** The first response (201/202/200…). */
  initial: ArmResponse;
  /** The final result body (resource, queryStatus document, or null). */
  result: unknown;
  /** The terminal status: always Succeeded here (failures throw). */
  status: 'Succeeded';
}

/** The operation did not finish within timeoutInMs. */
export class OperationTimeoutError extends CliError {
  constructor(timeoutInMs: number) {
    super(`the operation did not finish within ${Math.round(timeoutInMs / 1000)} seconds`);
    this.name = 'OperationTimeoutError';
  }
}

/**
 * Starts an operation and waits for it.
 * @example const { result } = await beginAndWait(client, 'PUT', pcPath, { body }, { pollIntervalInMs: 500 });
 */
export async function beginAndWait(
  client: ArmClient,
  method: LroMethod,
  path: string,
  request: ArmRequestOptions,
  options: LroPollOptions,
): Promise<LroOutcome> {
  const initial = await client.request(method, path, request);
  return pollUntilDone(client, method, path, initial, options);
}

/** Waits for an operation whose first response is `initial`. */
export async function pollUntilDone(
  client: ArmClient,
  method: LroMethod,
  path: string,
  initial: ArmResponse,
  options: LroPollOptions,
): Promise<LroOutcome> {
  const deadline = options.timeoutInMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutInMs;
  const asyncUrl = initial.headers.get('operation-location') ?? initial.headers.get('azure-asyncoperation');
  const locationUrl = initial.headers.get('location');

  if (asyncUrl) {
    const statusDocument = await pollStatusDocument(client, asyncUrl, options, deadline);
    const resourceLocation =
      typeof statusDocument['resourceLocation'] === 'string' ? statusDocument['resourceLocation'] : undefined;
    if (method === 'DELETE') return { initial, result: null, status: 'Succeeded' };
    const finalUrl = resourceLocation ?? (method === 'PUT' ? path : locationUrl);
    if (!finalUrl) return { initial, result: statusDocument, status: 'Succeeded' };
    const final = await client.request('GET', finalUrl);
    return { initial, result: final.body, status: 'Succeeded' };
  }

  if (locationUrl && (initial.status === 202 || initial.status === 201)) {
    let intervalInMs = options.pollIntervalInMs;
    for (;;) {
      checkDeadline(deadline, options);
      const poll = await client.request('GET', locationUrl);
      if (poll.status !== 202) return { initial, result: poll.body, status: 'Succeeded' };
      intervalInMs = retryAfterInMs(poll.headers) ?? intervalInMs;
      await sleep(intervalInMs);
    }
  }

  if (method === 'PUT') {
    let current = initial;
    let intervalInMs = options.pollIntervalInMs;
    for (;;) {
      const state = provisioningStateOf(current.body);
      if (state === undefined || state === 'succeeded') return { initial, result: current.body, status: 'Succeeded' };
      if (state === 'failed' || state === 'canceled')
        throw new OperationFailedError(
          state === 'failed' ? 'Failed' : 'Canceled',
          `The long-running operation has ${state === 'failed' ? 'failed' : 'been canceled'}`,
        );
      checkDeadline(deadline, options);
      await sleep(intervalInMs);
      current = await client.request('GET', path);
      intervalInMs = retryAfterInMs(current.headers) ?? options.pollIntervalInMs;
    }
  }

  return { initial, result: initial.body, status: 'Succeeded' };
}

async function pollStatusDocument(
  client: ArmClient,
  url: string,
  options: LroPollOptions,
  deadline: number,
): Promise<Record<string, unknown>> {
  let intervalInMs = options.pollIntervalInMs;
  for (let attempt = 0; ; attempt++) {
    // The first poll goes out at once (arm-network does the same): a fast server is done by then.
    if (attempt > 0) await sleep(intervalInMs);
    checkDeadline(deadline, options);
    const poll = await client.request('GET', url);
    const document = (poll.body !== null && typeof poll.body === 'object' ? poll.body : {}) as Record<string, unknown>;
    const status = typeof document['status'] === 'string' ? document['status'].toLowerCase() : undefined;
    if (status === undefined) {
      if (poll.status !== 202) return document;
    } else if (status.includes('succeeded')) {
      return document;
    } else if (status.includes('fail')) {
      throw operationFailure(document);
    } else if (status === 'canceled' || status === 'cancelled') {
      throw new OperationFailedError('Canceled', 'Operation was canceled');
    }
    intervalInMs = retryAfterInMs(poll.headers) ?? options.pollIntervalInMs;
  }
}

function operationFailure(document: Record<string, unknown>): OperationFailedError {
  const error = (
    document['error'] !== null && typeof document['error'] === 'object' ? document['error'] : {}
  ) as Record<string, unknown>;
  const code = typeof error['code'] === 'string' ? error['code'] : 'OperationFailed';
  const message = typeof error['message'] === 'string' ? error['message'] : 'The long-running operation has failed';
  return new OperationFailedError(code, message);
}

function provisioningStateOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const record = body as Record<string, unknown>;
  const properties = record['properties'] as Record<string, unknown> | undefined;
  const state =
    (properties && typeof properties === 'object' ? properties['provisioningState'] : undefined) ??
    record['provisioningState'];
  if (typeof state !== 'string') return undefined;
  const lower = state.toLowerCase();
  return lower === 'cancelled' ? 'canceled' : lower;
}

/** Retry-After in milliseconds (seconds or an HTTP date); 0 and garbage are ignored, as core-lro does. */
export function retryAfterInMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds > 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  const delta = date - Date.now();
  return delta > 0 ? delta : undefined;
}

function checkDeadline(deadline: number, options: LroPollOptions): void {
  if (Date.now() > deadline) throw new OperationTimeoutError(options.timeoutInMs ?? 0);
}

import { setTimeout as sleep } from 'node:timers/promises';
import { OutboundPolicy, isRetryableHttpStatus, outboundFetch } from '../lib/index.js';

/** The fetch function webhook deliveries use (global fetch in production). */
export type WebhookFetch = (url: string, init: RequestInit) => Promise<Response>;

/** How a webhook is delivered. */
export interface WebhookDeliveryOptions {
  fetch?: WebhookFetch;
  /** Waits before each retry; its length is the number of retries. */
  retryDelaysInMs?: readonly number[];
  /** Limit of one attempt. */
  attemptTimeoutInMs?: number;
  /** Aborts waiting retries (server shutting down). */
  signal?: AbortSignal;
  /** Where deliveries may connect (default: the built-in denials of link-local and metadata addresses); unused when `fetch` is given. */
  outboundPolicy?: OutboundPolicy;
  /** Told why an attempt could not reach the receiver, for the server log only (the result says less, see {@link UNREACHABLE_RECEIVER}). */
  onUnreachable?: (detail: string) => void;
}

/**
 * The one error recorded when an attempt gets no HTTP answer, whatever the reason (refused,
 * reset, timeout, TLS, DNS, outbound policy): alert history and run details are readable
 * through the API, and telling ECONNREFUSED from a timeout per address would make the
 * webhook API a port scanner of the server's network. The reason goes to the server log.
 */
export const UNREACHABLE_RECEIVER = 'delivery failed: cannot reach the receiver';

let defaultFetch: WebhookFetch | null = null;

/**
 * Default retries: Azure's action groups retry a failed webhook a few times over about a minute;
 * so do we (5 s, 20 s, 40 s), then record the failure.
 */
export const DEFAULT_WEBHOOK_RETRY_DELAYS_IN_MS: readonly number[] = [5_000, 20_000, 40_000];

/** Limit of one delivery attempt (Azure's action groups wait 10 s). */
export const DEFAULT_WEBHOOK_ATTEMPT_TIMEOUT_IN_MS = 10_000;

/** The end of a delivery: a value, never an exception. */
export interface WebhookDeliveryResult {
  outcome: 'Succeeded' | 'Failed';
  attempts: number;
  /** Status of the last answer, or null when none came. */
  httpStatus: number | null;
  /** Why the last attempt failed (no URL in it: webhook URLs may carry keys). */
  error: string | null;
}

/**
 * Whether a failed delivery is worth repeating: no answer at all, or a status
 * {@link isRetryableHttpStatus} retries (a server error, 408 or 429).
 * @example isRetryableDelivery(null) === true && isRetryableDelivery(400) === false
 */
export function isRetryableDelivery(status: number | null): boolean {
  return status === null || isRetryableHttpStatus(status);
}

/**
 * POSTs a JSON payload to a webhook, retrying as {@link isRetryableDelivery} says. The URL never
 * appears in the result or in errors: an alert-capture URL carries its key in the query.
 * @example const r = await deliverWebhook('http://hooks.example/alert', payload);
 */
export async function deliverWebhook(
  url: string,
  payload: unknown,
  options: WebhookDeliveryOptions = {},
): Promise<WebhookDeliveryResult> {
  const doFetch =
    options.fetch ??
    (options.outboundPolicy
      ? outboundFetch(options.outboundPolicy)
      : (defaultFetch ??= outboundFetch(OutboundPolicy.fromSettings())));
  const delays = options.retryDelaysInMs ?? DEFAULT_WEBHOOK_RETRY_DELAYS_IN_MS;
  const body = JSON.stringify(payload);
  let attempts = 0;
  let httpStatus: number | null = null;
  let error: string | null = null;
  for (;;) {
    attempts++;
    httpStatus = null;
    try {
      const res = await doFetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json; charset=utf-8', 'User-Agent': 'netwatcher-alerts' },
        body,
        signal: AbortSignal.timeout(options.attemptTimeoutInMs ?? DEFAULT_WEBHOOK_ATTEMPT_TIMEOUT_IN_MS),
        redirect: 'manual',
      });
      httpStatus = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { outcome: 'Succeeded', attempts, httpStatus, error: null };
      error = `the receiver answered HTTP ${res.status}`;
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      error = UNREACHABLE_RECEIVER;
      options.onUnreachable?.(
        (e as Error).name === 'TimeoutError'
          ? 'no answer within the attempt timeout'
          : `${cause?.code ?? ''} ${cause?.message ?? (e as Error).message}`.trim(),
      );
    }
    const delay = delays[attempts - 1];
    if (delay === undefined || !isRetryableDelivery(httpStatus) || options.signal?.aborted) break;
    try {
      await sleep(delay, undefined, { signal: options.signal });
    } catch {
      break;
    }
  }
  return { outcome: 'Failed', attempts, httpStatus, error };
}

import type { Logger } from '../lib/index.js';
import type { PacketCaptureCreateRequest, PacketCaptureStatus } from '../model/index.js';
import type { Store } from '../store/index.js';
import type { HostInfo } from './hosts.js';
import type { AlertsTelemetry } from './telemetry.js';
import type { WebhookDeliveryOptions, WebhookDeliveryResult } from './webhook.js';

/** A network watcher, as alert-triggered captures need it. */
export interface WatcherRef {
  key: string;
  id: string;
  name: string;
  resourceGroup: string;
  subscriptionId: string;
  location: string;
}

/** A packet capture, as alert-triggered captures need it. */
export interface CaptureSummary {
  key: string;
  id: string;
  name: string;
  /** Keys of the hosts it runs on. */
  vmKeys: string[];
  status: PacketCaptureStatus;
  /** True while it holds a session (counts against session limits). */
  active: boolean;
  /** True once it ended and its file is stored (or storing failed for good). */
  settled: boolean;
}

/**
 * What alert-triggered capture needs from the packet-capture service. The server provides it
 * (src/server wires its services in); src/alerts never imports the server.
 */
export interface CaptureOperations {
  /** The watcher of a location in a subscription, or null. */
  findWatcher(subscriptionId: string, location: string): Promise<WatcherRef | null>;
  /** The captures of a watcher. */
  listCaptures(watcherKey: string): Promise<CaptureSummary[]>;
  /** One capture by key, or null when it is gone. */
  getCapture(captureKey: string): Promise<CaptureSummary | null>;
  /** Starts a capture exactly as a PUT would (same checks and errors). */
  createCapture(
    watcher: WatcherRef,
    name: string,
    request: PacketCaptureCreateRequest,
    baseUrl: string,
  ): Promise<CaptureSummary>;
  /** Deletes a capture, keeping its files. */
  deleteCapture(captureKey: string): Promise<void>;
  /** The queryStatus document of a capture, or null when it is gone. */
  captureStatus(captureKey: string, baseUrl: string): Promise<Record<string, unknown> | null>;
  /** The id of a storage account given by name or id (null: the server's default account); throws the API's StorageAccountNotFound. */
  resolveStorageAccountId(nameOrId: string | null): Promise<string>;
}

/** What the alerts services share: the store, the hosts, the server's public URL, telemetry. */
export interface AlertsContext {
  store: Store;
  logger: Logger;
  /** Every host the server knows. */
  listHosts(): Promise<HostInfo[]>;
  /** Base URL the server is reached at (links in payloads, alert-capture URLs). */
  baseUrl(): string;
  telemetry: AlertsTelemetry;
  /** Webhook delivery settings (tests shorten the retries). */
  webhook: WebhookDeliveryOptions;
  /** Delivers to this server's own alert-capture endpoint in-process when `url` is one (no key needed), else null: send it over HTTP. */
  deliverToOwnEndpoint?(url: string, payload: unknown): Promise<WebhookDeliveryResult> | null;
}

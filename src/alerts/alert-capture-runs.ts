import type { AlertCaptureRunRecord, ResourceRecord } from '../store/index.js';
import { redactUrl } from '../storage/index.js';
import {
  FINISHED_RUN_STATES,
  notificationUrisOf,
  type AlertCaptureBody,
  type AlertCaptureRunDetail,
} from './alert-capture.js';
import type { AlertsContext, CaptureOperations } from './context.js';
import { deliverWebhook } from './webhook.js';

/** How often running alert-triggered captures are checked. */
export const RUN_WATCH_INTERVAL_IN_MS = 1_000;

/** History of finished runs is kept this long. */
const RUN_HISTORY_RETENTION_IN_MS = 30 * 24 * 3600_000;

/** A run stuck in `starting` this long was interrupted (the server stopped mid-way). */
const STARTING_TIMEOUT_IN_MS = 5 * 60_000;

/** schemaId of the completion notification. */
export const COMPLETION_SCHEMA_ID = 'netwatcherAlertCaptureCompleted';

/**
 * Step 5 of seed 002's function — poll the capture until it is done and tell someone — made
 * durable: runs live in the database, so a notification survives a server restart, and replicas
 * claim each run once. A run is done when its capture ended and its file is stored (or storing
 * failed for good); the notification then carries the capture id, status, stop reason, storage
 * path and counters to the endpoint's notification webhooks.
 */
export class AlertCaptureRunWatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly abort = new AbortController();
  private lastPruneInMs = 0;

  constructor(
    private readonly actx: AlertsContext,
    private readonly ops: CaptureOperations,
    private readonly intervalInMs = RUN_WATCH_INTERVAL_IN_MS,
  ) {}

  /** Starts watching. */
  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => (this.closed ? undefined : this.tick()));
    }, this.intervalInMs);
    this.timer.unref();
  }

  /** Checks every running run once. */
  async tick(now: Date = new Date()): Promise<void> {
    try {
      // One read of the three states a second, not one each: with no run under way that was most
      // of what an idle server asked its database besides alert evaluation (bench/scale/idle.ts).
      // Each step below changes a run only if it is still in the state read (a conditional update).
      const open = await this.actx.store.listAlertCaptureRuns<AlertCaptureRunDetail>({
        state: ['running', 'starting', 'notifying'],
        limit: 3000,
      });
      const inState = (state: string) => open.filter((run) => run.state === state);
      for (const run of inState('running')) await this.check(run, now);
      for (const run of inState('starting')) {
        if (now.getTime() - run.createdAt.getTime() > STARTING_TIMEOUT_IN_MS) {
          await this.actx.store.updateAlertCaptureRun(
            run.id,
            {
              state: 'failed',
              detail: {
                ...run.detail,
                reason: 'interrupted while starting (server stopped?)',
                errorCode: 'InternalServerError',
              },
            },
            'starting',
          );
        }
      }
      // A server that stopped while sending leaves a run `notifying`: send it again.
      for (const run of inState('notifying')) {
        if (now.getTime() - run.updatedAt.getTime() > STARTING_TIMEOUT_IN_MS)
          await this.actx.store.updateAlertCaptureRun(run.id, { state: 'running', detail: run.detail }, 'notifying');
      }
      if (now.getTime() - this.lastPruneInMs > 3600_000) {
        this.lastPruneInMs = now.getTime();
        await this.actx.store.pruneAlertCaptureRuns(
          new Date(now.getTime() - RUN_HISTORY_RETENTION_IN_MS),
          FINISHED_RUN_STATES,
        );
      }
    } catch (error) {
      this.actx.logger.error({ err: error }, 'checking alert-triggered captures failed');
    }
  }

  private async check(run: AlertCaptureRunRecord<AlertCaptureRunDetail>, now: Date): Promise<void> {
    const capture = run.captureKey ? await this.ops.getCapture(run.captureKey) : null;
    const overdue = run.detail.deadline !== null && now.getTime() > Date.parse(run.detail.deadline);
    if (capture && !capture.settled && !overdue) return;
    // Claim it: another replica (or an earlier tick still sending) may be on it.
    if (!(await this.actx.store.updateAlertCaptureRun(run.id, { state: 'notifying', detail: run.detail }, 'running')))
      return;
    const baseUrl = this.actx.baseUrl();
    const status = run.captureKey ? await this.ops.captureStatus(run.captureKey, baseUrl) : null;
    const completion = {
      captureId: run.detail.captureId,
      packetCaptureStatus: status?.['packetCaptureStatus'] ?? (capture ? capture.status : 'Deleted'),
      stopReason: status?.['stopReason'] ?? null,
      packetCaptureError: status?.['packetCaptureError'] ?? [],
      captureStartTime: status?.['captureStartTime'] ?? null,
      storagePath: status?.['storagePath'] ?? null,
      packetsCaptured: status?.['packetsCaptured'] ?? null,
      bytesCaptured: status?.['bytesCaptured'] ?? null,
      kernelPacketsDropped: status?.['kernelPacketsDropped'] ?? null,
      instances: status?.['instances'] ?? [],
      timedOut: overdue && !!capture && !capture.settled,
      completedDateTime: now.toISOString(),
    };
    const endpoint = await this.actx.store.getResource<AlertCaptureBody>(run.configKey);
    const notifications = await this.notify(endpoint, run, completion);
    await this.actx.store.updateAlertCaptureRun(
      run.id,
      { state: 'completed', detail: { ...run.detail, completion: { ...completion, notifications } } },
      'notifying',
    );
  }

  private async notify(
    endpoint: ResourceRecord<AlertCaptureBody> | null,
    run: AlertCaptureRunRecord<AlertCaptureRunDetail>,
    completion: Record<string, unknown>,
  ): Promise<Record<string, unknown>[]> {
    if (!endpoint) return [];
    const payload = {
      schemaId: COMPLETION_SCHEMA_ID,
      data: {
        alertCapture: { id: endpoint.id, name: endpoint.name },
        runId: run.id,
        trigger: {
          schema: run.detail.schema,
          ruleName: run.detail.ruleName,
          firedAt: run.detail.firedAt,
          hostReference: run.detail.hostReference,
        },
        target: run.detail.target,
        captureName: run.detail.captureName,
        ...completion,
      },
    };
    return Promise.all(
      notificationUrisOf(endpoint).map(async (uri) => {
        let unreachable: string | undefined;
        const r = await deliverWebhook(uri, payload, {
          ...this.actx.webhook,
          signal: this.abort.signal,
          onUnreachable: (d) => {
            unreachable = d;
          },
        });
        this.actx.telemetry.alertCaptureNotifications.inc({ outcome: r.outcome });
        if (r.outcome === 'Failed')
          this.actx.logger.warn(
            { run: run.id, url: redactUrl(uri), httpStatus: r.httpStatus, error: r.error, reason: unreachable },
            'alert-capture completion notification failed',
          );
        return { url: redactUrl(uri), ...r };
      }),
    );
  }

  /** Stops watching and waits for the check under way. */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}

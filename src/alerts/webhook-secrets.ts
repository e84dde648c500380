import { redactUrl } from '../storage/index.js';
import type { Store } from '../store/index.js';
import type { ActionGroupBody, ActionGroupSecret } from './action-groups.js';
import type { AlertCaptureBody } from './alert-capture.js';

/**
 * Moves webhook URLs that an earlier version kept in resource bodies (shown by the API, stored in
 * plain text) into the sealed secret column, leaving their redacted form in the body. Runs at
 * start; idempotent. Returns how many resources it changed.
 */
export async function moveWebhookUrlsToSecrets(store: Store): Promise<number> {
  let moved = 0;
  for (const group of await store.listResources<ActionGroupBody>('actionGroup')) {
    if ((group.secret as Partial<ActionGroupSecret> | null)?.webhookServiceUris) continue;
    const receivers = group.body.properties.webhookReceivers;
    const secret: ActionGroupSecret = {
      webhookServiceUris: Object.fromEntries(receivers.map((r) => [r.name, r.serviceUri])),
    };
    const body = {
      ...group.body,
      properties: {
        ...group.body.properties,
        webhookReceivers: receivers.map((r) => ({ ...r, serviceUri: redactUrl(r.serviceUri) })),
      },
    };
    await store.putResource<ActionGroupBody>({ ...group, body, secret });
    moved++;
  }
  for (const endpoint of await store.listResources<AlertCaptureBody>('alertCapture')) {
    const secret = (endpoint.secret as { keySha256?: string; notificationUris?: string[] } | null) ?? {};
    if (secret.notificationUris) continue;
    const hooks = endpoint.body.properties.notificationWebhooks;
    const body = {
      ...endpoint.body,
      properties: {
        ...endpoint.body.properties,
        notificationWebhooks: hooks.map((w) => ({ serviceUri: redactUrl(w.serviceUri) })),
      },
    };
    await store.putResource<AlertCaptureBody>({
      ...endpoint,
      body,
      secret: { ...secret, notificationUris: hooks.map((w) => w.serviceUri) },
    });
    moved++;
  }
  return moved;
}

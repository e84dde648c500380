import { ApiError, armIdKey, buildArmId } from '../lib/index.js';
import { UNSUPPORTED_RECEIVER_KINDS, type ActionGroupPut, type WebhookReceiver } from '../model/index.js';
import type { ResourceRecord } from '../store/index.js';
import type { AlertsContext } from './context.js';

/** Stored body of an action group (the API view is this without `_`-prefixed fields). */
export interface ActionGroupBody {
  type: string;
  location: string;
  tags?: Record<string, string>;
  properties: {
    groupShortName: string;
    enabled: boolean;
    webhookReceivers: Array<Required<Pick<WebhookReceiver, 'name' | 'serviceUri' | 'useCommonAlertSchema' | 'useAadAuth'>>>;
    provisioningState: string;
  } & Record<string, unknown>;
}

/** Id of an action group. */
export function actionGroupId(sub: string, rg: string, name: string): string {
  return buildArmId({ subscriptionId: sub, resourceGroup: rg, provider: 'Microsoft.Insights', types: ['actionGroups'], names: [name] });
}

/**
 * Creates or replaces an action group (ActionGroups_CreateOrUpdate). Only webhook receivers can be
 * sent to; a group with any other receiver is refused rather than half-honoured.
 */
export async function putActionGroup(actx: AlertsContext, sub: string, rg: string, name: string, input: ActionGroupPut): Promise<{ record: ResourceRecord<ActionGroupBody>; created: boolean }> {
  const p = input.properties;
  for (const kind of UNSUPPORTED_RECEIVER_KINDS) {
    if ((p[kind]?.length ?? 0) > 0) throw new ApiError('InvalidParameter', `properties.${kind} is not supported: netwatcher sends alerts to webhook receivers only.`, { target: `properties.${kind}` });
  }
  const receivers = p.webhookReceivers ?? [];
  const names = new Set<string>();
  for (const [i, r] of receivers.entries()) {
    if (names.has(r.name.toLowerCase())) throw new ApiError('InvalidParameter', `properties.webhookReceivers[${i}].name '${r.name}' is used twice; receiver names must be unique.`, { target: `properties.webhookReceivers[${i}].name` });
    names.add(r.name.toLowerCase());
    if (r.useAadAuth) throw new ApiError('InvalidParameter', `properties.webhookReceivers[${i}].useAadAuth is not supported: put a key in the URL instead.`, { target: `properties.webhookReceivers[${i}].useAadAuth` });
  }
  const id = actionGroupId(sub, rg, name);
  const existing = await actx.store.getResource<ActionGroupBody>(armIdKey(id));
  const location = input.location ?? 'Global';
  const body: ActionGroupBody = {
    type: 'Microsoft.Insights/ActionGroups',
    location,
    ...(input.tags ? { tags: input.tags } : {}),
    properties: {
      groupShortName: p.groupShortName,
      enabled: p.enabled,
      webhookReceivers: receivers.map((r) => ({ name: r.name, serviceUri: r.serviceUri, useCommonAlertSchema: r.useCommonAlertSchema ?? false, useAadAuth: false })),
      ...Object.fromEntries(UNSUPPORTED_RECEIVER_KINDS.map((k) => [k, []])),
      provisioningState: 'Succeeded',
    },
  };
  const record = await actx.store.putResource<ActionGroupBody>({
    key: armIdKey(id), type: 'actionGroup', parentKey: null, id: existing?.id ?? id, name: existing?.name ?? name, subscriptionId: sub, resourceGroup: rg, location, body,
  });
  return { record, created: !existing };
}

/** An action group by id parts; 404 ResourceNotFound when missing. */
export async function getActionGroup(actx: AlertsContext, sub: string, rg: string, name: string): Promise<ResourceRecord<ActionGroupBody>> {
  const rec = await actx.store.getResource<ActionGroupBody>(armIdKey(actionGroupId(sub, rg, name)));
  if (!rec) throw new ApiError('ResourceNotFound', `Action group '${name}' was not found in resource group '${rg}'.`, { target: 'actionGroupName' });
  return rec;
}

import { ApiError, armIdKey, buildArmId } from '../lib/index.js';
import { redactUrl } from '../storage/index.js';
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
    webhookReceivers: Array<
      Required<Pick<WebhookReceiver, 'name' | 'serviceUri' | 'useCommonAlertSchema' | 'useAadAuth'>>
    >;
    provisioningState: string;
  } & Record<string, unknown>;
}

/**
 * The secret of an action group: its receivers' full URLs by receiver name (a webhook URL often
 * carries a key in its query). The body keeps only their redacted form, so output never shows a
 * key, and the secret column is sealed at rest (src/store/secrets.ts).
 */
export interface ActionGroupSecret {
  webhookServiceUris: Record<string, string>;
}

/** The URL to deliver to for a receiver: from the sealed secret, or (a group stored before secrets were kept apart) the body. */
export function receiverServiceUri(group: ResourceRecord<ActionGroupBody>, receiverName: string): string {
  const uris = (group.secret as Partial<ActionGroupSecret> | null)?.webhookServiceUris;
  return (
    uris?.[receiverName] ??
    group.body.properties.webhookReceivers.find((r) => r.name === receiverName)?.serviceUri ??
    ''
  );
}

/**
 * The URL to keep for a receiver of a PUT: the one given, except that the redacted form of the
 * receiver's current URL (what a GET showed, sent back by a read-modify-write client such as
 * `az monitor action-group update`) keeps the current URL and its key.
 */
function keptServiceUri(existing: ResourceRecord<ActionGroupBody> | null, name: string, given: string): string {
  if (!existing) return given;
  const current = receiverServiceUri(existing, name);
  return current && given === redactUrl(current) ? current : given;
}

/** Id of an action group. */
export function actionGroupId(sub: string, rg: string, name: string): string {
  return buildArmId({
    subscriptionId: sub,
    resourceGroup: rg,
    provider: 'Microsoft.Insights',
    types: ['actionGroups'],
    names: [name],
  });
}

/**
 * Creates or replaces an action group (ActionGroups_CreateOrUpdate). Only webhook receivers can be
 * sent to; a group with any other receiver is refused rather than half-honoured.
 */
export async function putActionGroup(
  actx: AlertsContext,
  sub: string,
  rg: string,
  name: string,
  input: ActionGroupPut,
): Promise<{ record: ResourceRecord<ActionGroupBody>; created: boolean }> {
  const p = input.properties;
  for (const kind of UNSUPPORTED_RECEIVER_KINDS) {
    if ((p[kind]?.length ?? 0) > 0)
      throw new ApiError(
        'InvalidParameter',
        `properties.${kind} is not supported: netwatcher sends alerts to webhook receivers only.`,
        { target: `properties.${kind}` },
      );
  }
  const receivers = p.webhookReceivers ?? [];
  const names = new Set<string>();
  for (const [i, r] of receivers.entries()) {
    if (names.has(r.name.toLowerCase()))
      throw new ApiError(
        'InvalidParameter',
        `properties.webhookReceivers[${i}].name '${r.name}' is used twice; receiver names must be unique.`,
        { target: `properties.webhookReceivers[${i}].name` },
      );
    names.add(r.name.toLowerCase());
    if (r.useAadAuth)
      throw new ApiError(
        'InvalidParameter',
        `properties.webhookReceivers[${i}].useAadAuth is not supported: put a key in the URL instead.`,
        { target: `properties.webhookReceivers[${i}].useAadAuth` },
      );
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
      webhookReceivers: receivers.map((r) => ({
        name: r.name,
        serviceUri: redactUrl(r.serviceUri),
        useCommonAlertSchema: r.useCommonAlertSchema ?? false,
        useAadAuth: false,
      })),
      ...Object.fromEntries(UNSUPPORTED_RECEIVER_KINDS.map((k) => [k, []])),
      provisioningState: 'Succeeded',
    },
  };
  const record = await actx.store.putResource<ActionGroupBody>({
    key: armIdKey(id),
    type: 'actionGroup',
    parentKey: null,
    id: existing?.id ?? id,
    name: existing?.name ?? name,
    subscriptionId: sub,
    resourceGroup: rg,
    location,
    body,
    secret: {
      webhookServiceUris: Object.fromEntries(
        receivers.map((r) => [r.name, keptServiceUri(existing, r.name, r.serviceUri)]),
      ),
    } satisfies ActionGroupSecret,
  });
  return { record, created: !existing };
}

/** An action group by id parts; 404 ResourceNotFound when missing. */
export async function getActionGroup(
  actx: AlertsContext,
  sub: string,
  rg: string,
  name: string,
): Promise<ResourceRecord<ActionGroupBody>> {
  const rec = await actx.store.getResource<ActionGroupBody>(armIdKey(actionGroupId(sub, rg, name)));
  if (!rec)
    throw new ApiError('ResourceNotFound', `Action group '${name}' was not found in resource group '${rg}'.`, {
      target: 'actionGroupName',
    });
  return rec;
}

/** The action groups of a subscription, or of one of its resource groups. */
export async function listActionGroups(
  actx: AlertsContext,
  sub: string,
  rg?: string,
): Promise<ResourceRecord<ActionGroupBody>[]> {
  return actx.store.listResources<ActionGroupBody>('actionGroup', {
    subscriptionId: sub,
    ...(rg !== undefined ? { resourceGroup: rg } : {}),
  });
}

/** Deletes an action group; true if it existed. */
export async function deleteActionGroup(actx: AlertsContext, sub: string, rg: string, name: string): Promise<boolean> {
  return actx.store.deleteResource(armIdKey(actionGroupId(sub, rg, name)));
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OperationRecord } from '../store/index.js';
import { apiVersionOf, requestBaseUrl } from './request-context.js';

/**
 * ARM long-running operations as Azure's SDKs poll them (@azure/core-lro 3.3.1 as measured;
 * https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations):
 * the status document lives at …/locations/{loc}/operations/{id} and the final result at
 * …/operationResults/{id}. POST and DELETE must carry Location too, or the SDK never fetches the
 * result. Retry-After is added to these answers by app.ts only for clients that wait for it
 * (az, the Python SDK: retry-after.ts); for others it would override the caller's polling interval.
 */
export function operationUrls(
  request: FastifyRequest,
  op: OperationRecord,
): { asyncOperation: string; location: string } {
  // Encoded: a subscription id is any path segment the caller sent (non-ASCII included), and a raw
  // one would make the header invalid (Node refuses it: a 500 the API fuzz found).
  const base = `${requestBaseUrl(request)}/subscriptions/${encodeURIComponent(op.subscriptionId)}/providers/Microsoft.Network/locations/${encodeURIComponent(op.location)}`;
  const q = `?api-version=${encodeURIComponent(apiVersionOf(request))}`;
  return { asyncOperation: `${base}/operations/${op.id}${q}`, location: `${base}/operationResults/${op.id}${q}` };
}

/** Sends 201 with the resource and an Azure-AsyncOperation header (PUT). */
export function replyCreated(
  request: FastifyRequest,
  reply: FastifyReply,
  op: OperationRecord,
  body: unknown,
  status = 201,
): FastifyReply {
  const urls = operationUrls(request, op);
  return reply
    .code(status)
    .header('Azure-AsyncOperation', urls.asyncOperation)
    .header('Azure-AsyncNotification', 'Enabled')
    .send(body);
}

/** Sends 202 with both Azure-AsyncOperation and Location (POST, DELETE). */
export function replyAccepted(request: FastifyRequest, reply: FastifyReply, op: OperationRecord): FastifyReply {
  const urls = operationUrls(request, op);
  return reply.code(202).header('Azure-AsyncOperation', urls.asyncOperation).header('Location', urls.location).send();
}

/** The status document of an operation (AzureAsyncOperationResult). */
export function operationStatusDocument(op: OperationRecord): Record<string, unknown> {
  return {
    id: op.id,
    name: op.id,
    status: op.status,
    startTime: op.createdAt.toISOString(),
    ...(op.status !== 'InProgress' ? { endTime: op.updatedAt.toISOString() } : {}),
    ...(op.error ? { error: op.error } : {}),
  };
}

import { toCompatResponse, type CompatResponse, type WebResourceLike } from '@azure/core-http-compat';
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import type { IHttpClient } from '@azure/storage-blob';
import type { OutboundPolicy } from '../lib/index.js';

/** How the server's own storage calls (not the agents' uploads) may connect. */
export interface StorageOutboundOptions {
  /** Where calls to a registered account's endpoint may connect; absent: the built-in denials only. */
  outboundPolicy?: OutboundPolicy;
}

/**
 * The Azure SDK's HTTP client with every connection checked by the outbound policy: the SDK
 * takes no lookup, but its Node client honours a request's own `agent`, so each request is
 * re-made with the policy's agents. A registered endpoint whose name resolves to the metadata
 * service (at any time, not just when registered) is never connected to.
 */
export function azureHttpClientFor(policy: OutboundPolicy): IHttpClient {
  const inner = createDefaultHttpClient();
  const httpAgent = policy.httpAgent({ keepAlive: true });
  const httpsAgent = policy.httpsAgent({ keepAlive: true });
  return {
    async sendRequest(resource: WebResourceLike): Promise<CompatResponse> {
      const request = createPipelineRequest({
        url: resource.url,
        method: resource.method,
        headers: createHttpHeaders(resource.headers.toJson({ preserveCase: true })),
        withCredentials: resource.withCredentials,
        timeout: resource.timeout,
        requestId: resource.requestId,
        abortSignal: resource.abortSignal,
        body: resource.body,
        formData: resource.formData,
        // As the SDK's own adapter maps it (its WebResourceLike carries the flag inverted).
        disableKeepAlive: !!resource.keepAlive,
        onDownloadProgress: resource.onDownloadProgress,
        onUploadProgress: resource.onUploadProgress,
        streamResponseStatusCodes: resource.streamResponseStatusCodes,
        agent: new URL(resource.url).protocol === 'https:' ? httpsAgent : httpAgent,
      });
      const response: PipelineResponse = await inner.sendRequest(request);
      return toCompatResponse(response);
    },
  };
}

/** S3 client settings that route its connections through the outbound policy's agents. */
export function s3RequestHandlerFor(policy: OutboundPolicy): { httpAgent: ReturnType<OutboundPolicy['httpAgent']>; httpsAgent: ReturnType<OutboundPolicy['httpsAgent']> } {
  return { httpAgent: policy.httpAgent({ keepAlive: true }), httpsAgent: policy.httpsAgent({ keepAlive: true }) };
}

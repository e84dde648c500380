import type { RequestPolicy, RequestPolicyFactory, WebResource } from '@azure/storage-blob';
import type { OutboundPolicy } from '../lib/index.js';

/** How the server's own storage calls (not the agents' uploads) may connect. */
export interface StorageOutboundOptions {
  /** Where calls to a registered account's endpoint may connect; absent: the built-in denials only. */
  outboundPolicy?: OutboundPolicy;
}

/** The outbound policy's keep-alive agents of one store, shared by its SDK client and its own plain requests. */
export interface OutboundAgents {
  httpAgent: ReturnType<OutboundPolicy['httpAgent']>;
  httpsAgent: ReturnType<OutboundPolicy['httpsAgent']>;
}

/** Agents whose every connection is checked by the policy (on the resolved address, at connect time). */
export function outboundAgentsFor(policy: OutboundPolicy): OutboundAgents {
  return { httpAgent: policy.httpAgent({ keepAlive: true }), httpsAgent: policy.httpsAgent({ keepAlive: true }) };
}

/**
 * How a store's own plain requests (the server's verify GET) go through the outbound policy:
 * its check of each connection, and its agent for the URL's protocol.
 */
export function outboundRouteFor(
  policy: OutboundPolicy,
  agents: OutboundAgents,
): {
  connectOptions<O extends { host?: string | null }>(options: O): O;
  agentFor(protocol: string): OutboundAgents['httpAgent'] | OutboundAgents['httpsAgent'];
} {
  return {
    connectOptions: (options) => policy.connectOptions(options),
    agentFor: (protocol) => (protocol === 'https:' ? agents.httpsAgent : agents.httpAgent),
  };
}

/**
 * A policy of the Azure SDK's pipeline that gives every request the outbound policy's agents:
 * the SDK takes no lookup, but its Node client connects through a request's own `agent`. A
 * registered endpoint whose name resolves to the metadata service (at any time, not just when
 * registered) is never connected to. (The policy sees the SDK's own request through a proxy, so
 * setting `agent` here reaches the request the client sends.)
 */
export function azureAgentPolicyFor({ httpAgent, httpsAgent }: OutboundAgents): RequestPolicyFactory {
  return {
    create: (next: RequestPolicy): RequestPolicy => ({
      sendRequest: (resource: WebResource) => {
        resource.agent = new URL(resource.url).protocol === 'https:' ? httpsAgent : httpAgent;
        return next.sendRequest(resource);
      },
    }),
  };
}

import type { FastifyRequest } from 'fastify';
import { ApiError } from '../lib/index.js';
import { assertResourceName, forbiddenCharacter } from '../model/index.js';

/** Longest request URL accepted (ARM's limit is 8 KB; ids are far shorter). */
export const MAX_URL_LENGTH = 8192;

function decoded(part: string, what: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    // Invalid percent-encoding or an encoded lone surrogate (%ED%A0%80 is not UTF-8).
    throw new ApiError('InvalidRequestContent', `The request ${what} is not valid percent-encoded UTF-8.`);
  }
}

/**
 * Refuses a URL whose path or query holds, once decoded, NUL, a control character or a lone
 * surrogate, or that is not valid percent-encoded UTF-8: 400 before any handler or database
 * sees it (PostgreSQL refuses NUL in text, which would otherwise be a 500).
 */
export function assertCleanUrl(rawUrl: string): void {
  if (rawUrl.length > MAX_URL_LENGTH)
    throw new ApiError('InvalidRequestContent', `The request URL is longer than ${MAX_URL_LENGTH} characters.`);
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  for (const segment of path.split('/')) {
    const bad = forbiddenCharacter(decoded(segment, 'path'));
    if (bad) throw new ApiError('InvalidRequestContent', `The request path contains ${bad}.`);
  }
  if (q < 0) return;
  for (const pair of rawUrl.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const key = decoded(eq < 0 ? pair : pair.slice(0, eq), 'query');
    const bad = forbiddenCharacter(key) ?? forbiddenCharacter(decoded(eq < 0 ? '' : pair.slice(eq + 1), 'query'));
    if (bad)
      throw new ApiError(
        'InvalidRequestContent',
        `The query parameter '${forbiddenCharacter(key) ? '(name)' : key}' contains ${bad}.`,
        { target: forbiddenCharacter(key) ? undefined : key },
      );
  }
}

/**
 * Checks the names in a route's path against ARM's rules: each `:param` is named by the id
 * segment before it in the route (`…/networkWatchers/:nw` → a network watcher name). The last
 * name of a PUT (the resource being created or replaced) and its resource group get their type's
 * whole rule; the others
 * only what no id segment may hold (`/`, control characters), so existing resources stay reachable.
 */
export function assertRouteNames(request: FastifyRequest): void {
  const pattern = request.routeOptions.url;
  const params = request.params as Record<string, unknown> | undefined;
  if (!pattern || !params) return;
  const segments = pattern.split('/');
  const named: Array<{ collection: string; value: string }> = [];
  segments.forEach((seg, i) => {
    if (!seg.startsWith(':')) return;
    const value = params[seg.slice(1)];
    if (typeof value === 'string') named.push({ collection: segments[i - 1] ?? seg.slice(1), value });
  });
  // A PUT creates its resource, and implicitly its resource group: both get the whole rule.
  const isPut = request.method === 'PUT';
  named.forEach((n, i) =>
    assertResourceName(
      n.collection,
      n.value,
      isPut && (i === named.length - 1 || n.collection.toLowerCase() === 'resourcegroups'),
    ),
  );
}

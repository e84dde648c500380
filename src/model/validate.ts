import type { z } from 'zod';
import { ApiError } from '../lib/index.js';

/**
 * Validates a request body against a schema and turns the first problem into an ARM error
 * naming the field (`properties.timeLimitInSeconds`), so a user sees what to fix.
 */
export function parseRequest<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
  const isMissing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  const message = isMissing
    ? `${what}: required property '${path}' is missing.`
    : `${what}: property '${path || '(body)'}' is invalid: ${issue.message}.`;
  throw new ApiError(isMissing ? 'MissingRequiredProperty' : 'InvalidRequestContent', message, {
    target: path || undefined,
  });
}

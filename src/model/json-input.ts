import { ApiError } from '../lib/index.js';
import { forbiddenCharacter } from './names.js';

/** Deepest nesting of arrays and objects a request body may have (ours need 5; ARM templates rarely pass 20). */
export const MAX_JSON_DEPTH = 64;

/** The depth of JSON text's deepest array or object, counted without parsing (so a hostile body cannot exhaust the stack of code that walks it). Stops counting past `limit`. */
function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The first string (value or key) holding NUL or a lone surrogate, as a field path, or null. Iterative: depth is bounded before this runs, but no recursion is needed. */
function findForbiddenString(value: unknown): { path: string; why: string } | null {
  const stack: Array<{ v: unknown; path: string }> = [{ v: value, path: '' }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const why = forbiddenTextCharacter(v);
      if (why) return { path, why };
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, path: `${path}[${i}]` }));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        const why = forbiddenTextCharacter(k);
        const childPath = path ? `${path}.${k}` : k;
        if (why) return { path: childPath, why: `its name contains ${why}` };
        stack.push({ v: item, path: childPath });
      }
    }
  }
  return null;
}

/** NUL and lone surrogates only: text fields (descriptions, payloads) may hold newlines and tabs. */
function forbiddenTextCharacter(text: string): string | null {
  const why = forbiddenCharacter(text);
  return why === null || why.startsWith('a control character') ? null : why;
}

/**
 * Parses a JSON request body as the API accepts it: nesting at most {@link MAX_JSON_DEPTH}, and no
 * string holding NUL or a lone UTF-16 surrogate (PostgreSQL's jsonb and text refuse both, which
 * would surface as a 500 long after validation). Each refusal is a 400 naming the field.
 * @example parseJsonBody('{"location":"westus"}')
 */
export function parseJsonBody(text: string): unknown {
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new ApiError('InvalidRequestContent', `The request content is nested deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError('InvalidRequestContent', `The request content is not valid JSON: ${(error as Error).message}`);
  }
  const bad = findForbiddenString(value);
  if (bad)
    throw new ApiError(
      'InvalidRequestContent',
      `The request content is invalid: ${bad.path ? `property '${bad.path}'` : 'the body'} contains ${bad.why.replace(/^its name contains /, '')}${bad.why.startsWith('its name') ? ' in its name' : ''}.`,
      { target: bad.path || undefined },
    );
  return value;
}

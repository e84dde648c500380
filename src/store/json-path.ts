// SQL for a field inside a jsonb column, built from a path the model names (src/model/stored-bodies.ts),
// so no statement spells out the shape of a body another module owns. The arrow form is kept
// (not `#>`): an expression index on `body->'a'->'b'` serves only queries written the same way.

/** A path's keys as SQL literals; the keys are the model's constants, quoted all the same. */
function keyLiteral(key: string): string {
  return `'${key.replaceAll("'", "''")}'`;
}

/**
 * SQL for the jsonb value at `path` of `column`.
 * @example jsonPathSql('body', ['_internal', 'targets']) // "body->'_internal'->'targets'"
 */
export function jsonPathSql(column: string, path: readonly string[]): string {
  return [column, ...path.map(keyLiteral)].join('->');
}

/**
 * SQL for the text at `path` of `column` (null where absent).
 * @example jsonPathTextSql('state', ['sequence']) // "state->>'sequence'"
 */
export function jsonPathTextSql(column: string, path: readonly string[]): string {
  const last = path.at(-1);
  if (last === undefined) throw new Error('a JSON path needs at least one key');
  return `${jsonPathSql(column, path.slice(0, -1))}->>${keyLiteral(last)}`;
}

/**
 * A path as the text-array literal jsonb_set takes.
 * @example jsonPathArraySql(['properties', 'netwatcher', 'agentConnected']) // `'{"properties","netwatcher","agentConnected"}'`
 */
export function jsonPathArraySql(path: readonly string[]): string {
  return keyLiteral(`{${path.map((k) => `"${k.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`);
}

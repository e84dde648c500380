import type { Writable } from 'node:stream';
import { UsageError } from './errors.js';

/**
 * Output formats as az prints them (knack's OutputProducer):
 * - json: 2-space indent, keys sorted at every depth (json.dumps(sort_keys=True));
 * - table: scalar fields only, keys sorted, `id`/`type`/`etag` skipped, headers with the first
 *   letter upper-cased, columns at least header width + 2, separated by two spaces, a dashed rule
 *   under the headers (tabulate's "simple" format); a command may give its own columns;
 * - tsv: one line per item, sorted scalar values separated by tabs (lists as their length);
 * - none: nothing.
 */

/** The output formats `-o` accepts. */
export type OutputFormat = 'json' | 'jsonc' | 'table' | 'tsv' | 'none';

const FORMATS: readonly OutputFormat[] = ['json', 'jsonc', 'table', 'tsv', 'none'];

/** A table column: header text and how to read the cell from an item. */
export interface TableColumn {
  header: string;
  value: (item: Record<string, unknown>) => unknown;
}

/** Checks an `-o` value. */
export function parseOutputFormat(value: string | undefined): OutputFormat {
  if (value === undefined) return 'json';
  const lower = value.toLowerCase() as OutputFormat;
  if (!FORMATS.includes(lower))
    throw new UsageError(
      `argument --output/-o: invalid choice: '${value}' (choose from ${FORMATS.map((f) => `'${f}'`).join(', ')})`,
    );
  return lower;
}

/** JSON with keys sorted at every depth, as az prints it. */
export function formatJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value), null, 2) + '\n';
}

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value as Record<string, unknown>).sort()) {
    const inner = (value as Record<string, unknown>)[key];
    if (inner !== undefined) out[key] = sortKeysDeep(inner);
  }
  return out;
}

const TABLE_SKIP_KEYS = new Set(['id', 'type', 'etag']);

function cellText(value: unknown): string {
  if (value === true) return 'True';
  if (value === false) return 'False';
  return String(value);
}

function isScalar(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== 'object';
}

/** The automatic table of knack: one row per item, scalar fields only. */
function autoRows(items: unknown[]): Array<Map<string, string>> {
  return items.map((item) => {
    const row = new Map<string, string>();
    if (item === null || typeof item !== 'object') {
      row.set('Result', cellText(item));
      return row;
    }
    if (Array.isArray(item)) {
      item.forEach((v, i) => row.set(`Column${i + 1}`, cellText(v)));
      return row;
    }
    const record = item as Record<string, unknown>;
    for (const key of Object.keys(record).sort()) {
      if (TABLE_SKIP_KEYS.has(key) || !isScalar(record[key])) continue;
      row.set(key.charAt(0).toUpperCase() + key.slice(1), cellText(record[key]));
    }
    return row;
  });
}

function columnRows(items: unknown[], columns: readonly TableColumn[]): Array<Map<string, string>> {
  return items.map((item) => {
    const record = (item ?? {}) as Record<string, unknown>;
    const row = new Map<string, string>();
    for (const column of columns) {
      const value = column.value(record);
      row.set(column.header, value === null || value === undefined ? '' : cellText(value));
    }
    return row;
  });
}

/** A table in tabulate's "simple" format. */
export function formatTable(value: unknown, columns?: readonly TableColumn[]): string {
  if (value === null || value === undefined) return '';
  const items = Array.isArray(value) ? value : [value];
  const rows = columns ? columnRows(items, columns) : autoRows(items);
  const headers: string[] = [];
  for (const row of rows) for (const key of row.keys()) if (!headers.includes(key)) headers.push(key);
  if (headers.length === 0) return '';
  const widths = headers.map((h) => Math.max(h.length + 2, ...rows.map((r) => (r.get(h) ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .replace(/\s+$/, '');
  const out = [line(headers), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const row of rows) out.push(line(headers.map((h) => row.get(h) ?? '')));
  return out.join('\n') + '\n';
}

function tsvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return String(value.length);
  if (typeof value === 'object') return '';
  return cellText(value);
}

/** Tab-separated values (knack's _TsvOutput): one line per item, values in sorted-key order. */
export function formatTsv(value: unknown): string {
  if (value === null || value === undefined) return '';
  const items = Array.isArray(value) ? value : [value];
  return items
    .map((item) => {
      if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
        const record = item as Record<string, unknown>;
        return Object.keys(record)
          .sort()
          .map((k) => tsvCell(record[k]))
          .join('\t');
      }
      if (Array.isArray(item)) return item.map(tsvCell).join('\t');
      return tsvCell(item);
    })
    .map((l) => l + '\n')
    .join('');
}

/** Formats a result in the chosen format. `undefined` (commands with no output, like stop) prints nothing. */
export function formatOutput(value: unknown, format: OutputFormat, columns?: readonly TableColumn[]): string {
  if (value === undefined || format === 'none') return '';
  switch (format) {
    case 'json':
    case 'jsonc':
      return formatJson(value);
    case 'table':
      return formatTable(value, columns);
    case 'tsv':
      return formatTsv(value);
  }
}

/** Writes a result to `out` in the format of `-o`. */
export function writeOutput(
  out: Writable,
  value: unknown,
  output: string | undefined,
  columns?: readonly TableColumn[],
): void {
  const text = formatOutput(value, parseOutputFormat(output), columns);
  if (text.length > 0) out.write(text);
}

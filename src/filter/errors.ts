// The two ways a filter set is refused. Both are ApiErrors so the server's one error handler
// turns them into ARM error bodies (400) without knowing about filters.
import { ApiError } from '../lib/index.js';

/** BPF_MAXINSNS in linux/include/uapi/linux/bpf_common.h: the kernel refuses longer classic programs. */
export const BPF_MAX_INSTRUCTIONS = 4096;

/**
 * A filter (or the list) is malformed: 400 `InvalidFilter`. The message names the filter index,
 * the field and the offending text. `filterIndex` is -1 for a problem with the list itself or with
 * an expression as a whole (then `field` is '').
 * @example new InvalidFilterError(0, 'localPort', '70000', 'port 70000 is out of range 0-65535')
 */
export class InvalidFilterError extends ApiError {
  declare readonly code: 'InvalidFilter';
  override readonly name = 'InvalidFilterError';
  /** Position of the offending filter in the list, or -1 when the problem is not one filter's. */
  readonly filterIndex: number;
  /** The offending property (canonical spelling), or '' when none. */
  readonly field: string;
  /** The offending piece of text as the user wrote it (one item of a list, or the whole value). */
  readonly text: string;

  constructor(filterIndex: number, field: string, text: string, reason: string, options: { cause?: unknown } = {}) {
    super('InvalidFilter', describe(filterIndex, field, text, reason), {
      target: target(filterIndex, field),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.filterIndex = filterIndex;
    this.field = field;
    this.text = text;
  }
}

/**
 * The filter set is valid but compiles to more classic BPF instructions than the kernel accepts
 * (BPF_MAXINSNS): 400 `FilterTooLarge`. Never truncated or widened: the user must split or narrow it.
 * @example new FilterTooLargeError(5210)
 */
export class FilterTooLargeError extends ApiError {
  declare readonly code: 'FilterTooLarge';
  override readonly name = 'FilterTooLargeError';
  /** Instructions the compiled program has (a lower bound when libpcap gave up first). */
  readonly instructionCount: number;
  /** The kernel's limit, BPF_MAXINSNS. */
  readonly limit: number;

  constructor(instructionCount: number, options: { limit?: number; detail?: string } = {}) {
    const limit = options.limit ?? BPF_MAX_INSTRUCTIONS;
    super(
      'FilterTooLarge',
      `The filters compile to ${options.detail ?? `${instructionCount} BPF instructions`}, more than the kernel's limit of ${limit} ` +
        '(BPF_MAXINSNS); use fewer filters, fewer list items or wider CIDR-aligned ranges.',
      { target: 'properties.filters' },
    );
    this.instructionCount = instructionCount;
    this.limit = limit;
  }
}

function target(filterIndex: number, field: string): string {
  if (filterIndex < 0) return 'properties.filters';
  return field === '' ? `properties.filters[${filterIndex}]` : `properties.filters[${filterIndex}].${field}`;
}

// Long enough for any single address or port item; a whole compiled expression is cut short.
const MAX_QUOTED_TEXT_LENGTH = 200;

function describe(filterIndex: number, field: string, text: string, reason: string): string {
  const where =
    filterIndex < 0 ? 'filters' : field === '' ? `filters[${filterIndex}]` : `filters[${filterIndex}].${field}`;
  if (text === '') return `Invalid filter: ${where}: ${reason}`;
  const quoted =
    text.length > MAX_QUOTED_TEXT_LENGTH
      ? `${JSON.stringify(text.slice(0, MAX_QUOTED_TEXT_LENGTH))}…`
      : JSON.stringify(text);
  return `Invalid filter: ${where}: ${quoted}: ${reason}`;
}

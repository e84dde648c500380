import { UsageError } from './errors.js';

/**
 * The subset of JMESPath that `wait --custom` conditions use in practice
 * (e.g. `provisioningState=='Succeeded'`, `packetCaptureStatus=='Stopped' || packetCaptureStatus=='Error'`):
 * field paths with `.name` and `[index]`, raw strings `'…'`, JSON literals `` `…` ``, numbers,
 * comparisons (== != < <= > >=), `!`, `&&`, `||` and parentheses; JMESPath truthiness.
 * Anything else is a usage error naming the position, not a silent false.
 */

type Token =
  | { kind: 'op'; text: string; at: number }
  | { kind: 'value'; value: unknown; at: number }
  | { kind: 'ident'; text: string; at: number };

type Node =
  | { kind: 'value'; value: unknown }
  | { kind: 'path'; steps: Array<string | number> }
  | { kind: 'not'; operand: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== "'") {
        if (text[j] === '\\' && text[j + 1] === "'") j++;
        s += text[j];
        j++;
      }
      if (j >= text.length) throw new UsageError(`invalid --custom expression: unterminated string at ${i}`);
      tokens.push({ kind: 'value', value: s, at: i });
      i = j + 1;
    } else if (c === '`') {
      const j = text.indexOf('`', i + 1);
      if (j < 0) throw new UsageError(`invalid --custom expression: unterminated literal at ${i}`);
      try {
        tokens.push({ kind: 'value', value: JSON.parse(text.slice(i + 1, j)), at: i });
      } catch {
        throw new UsageError(`invalid --custom expression: bad JSON literal at ${i}`);
      }
      i = j + 1;
    } else if (c === '"') {
      const j = text.indexOf('"', i + 1);
      if (j < 0) throw new UsageError(`invalid --custom expression: unterminated identifier at ${i}`);
      tokens.push({ kind: 'ident', text: text.slice(i + 1, j), at: i });
      i = j + 1;
    } else if (/[-0-9]/.test(c) && /^-?\d/.test(text.slice(i))) {
      const m = /^-?\d+(\.\d+)?/.exec(text.slice(i))!;
      tokens.push({ kind: 'value', value: Number(m[0]), at: i });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'ident', text: m[0], at: i });
      i += m[0].length;
    } else {
      const op =
        ['==', '!=', '<=', '>=', '&&', '||'].find((o) => text.startsWith(o, i)) ??
        (['<', '>', '!', '(', ')', '.', '[', ']'].includes(c) ? c : undefined);
      if (!op) throw new UsageError(`invalid --custom expression: unexpected '${c}' at ${i}`);
      tokens.push({ kind: 'op', text: op, at: i });
      i += op.length;
    }
  }
  return tokens;
}

class Parser {
  private index = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Node {
    const node = this.or();
    const rest = this.tokens[this.index];
    if (rest) throw new UsageError(`invalid --custom expression: unexpected token at ${rest.at}`);
    return node;
  }

  private peekOp(...ops: string[]): string | undefined {
    const t = this.tokens[this.index];
    return t && t.kind === 'op' && ops.includes(t.text) ? t.text : undefined;
  }

  private or(): Node {
    let left = this.and();
    while (this.peekOp('||')) {
      this.index++;
      left = { kind: 'binary', op: '||', left, right: this.and() };
    }
    return left;
  }

  private and(): Node {
    let left = this.not();
    while (this.peekOp('&&')) {
      this.index++;
      left = { kind: 'binary', op: '&&', left, right: this.not() };
    }
    return left;
  }

  private not(): Node {
    if (this.peekOp('!')) {
      this.index++;
      return { kind: 'not', operand: this.not() };
    }
    return this.comparison();
  }

  private comparison(): Node {
    const left = this.primary();
    const op = this.peekOp('==', '!=', '<', '<=', '>', '>=');
    if (!op) return left;
    this.index++;
    return { kind: 'binary', op, left, right: this.primary() };
  }

  private primary(): Node {
    const t = this.tokens[this.index];
    if (!t) throw new UsageError('invalid --custom expression: it ends too early');
    if (t.kind === 'op' && t.text === '(') {
      this.index++;
      const inner = this.or();
      if (!this.peekOp(')')) throw new UsageError(`invalid --custom expression: missing ')' for '(' at ${t.at}`);
      this.index++;
      return inner;
    }
    if (t.kind === 'value') {
      this.index++;
      return { kind: 'value', value: t.value };
    }
    if (t.kind === 'ident') {
      this.index++;
      const steps: Array<string | number> = [t.text];
      for (;;) {
        if (this.peekOp('.')) {
          this.index++;
          const next = this.tokens[this.index];
          if (!next || next.kind !== 'ident')
            throw new UsageError(`invalid --custom expression: a field name must follow '.' at ${t.at}`);
          steps.push(next.text);
          this.index++;
        } else if (this.peekOp('[')) {
          this.index++;
          const index = this.tokens[this.index];
          const close = this.tokens[this.index + 1];
          if (
            !index ||
            index.kind !== 'value' ||
            typeof index.value !== 'number' ||
            !close ||
            close.kind !== 'op' ||
            close.text !== ']'
          ) {
            throw new UsageError(`invalid --custom expression: only [number] indexes are supported (at ${t.at})`);
          }
          steps.push(index.value);
          this.index += 2;
        } else {
          return { kind: 'path', steps };
        }
      }
    }
    throw new UsageError(`invalid --custom expression: unexpected token at ${t.at}`);
  }
}

function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value as object).length > 0;
  return true;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function evaluate(node: Node, data: unknown): unknown {
  switch (node.kind) {
    case 'value':
      return node.value;
    case 'path': {
      let current: unknown = data;
      for (const step of node.steps) {
        if (current === null || typeof current !== 'object') return null;
        if (typeof step === 'number') {
          if (!Array.isArray(current)) return null;
          current = current[step < 0 ? current.length + step : step];
        } else {
          current = Array.isArray(current) ? null : (current as Record<string, unknown>)[step];
        }
      }
      return current ?? null;
    }
    case 'not':
      return !truthy(evaluate(node.operand, data));
    case 'binary': {
      if (node.op === '||') {
        const left = evaluate(node.left, data);
        return truthy(left) ? left : evaluate(node.right, data);
      }
      if (node.op === '&&') {
        const left = evaluate(node.left, data);
        return truthy(left) ? evaluate(node.right, data) : left;
      }
      const left = evaluate(node.left, data);
      const right = evaluate(node.right, data);
      if (node.op === '==') return equal(left, right);
      if (node.op === '!=') return !equal(left, right);
      // JMESPath orders numbers only; other comparisons are null (falsy).
      if (typeof left !== 'number' || typeof right !== 'number') return null;
      if (node.op === '<') return left < right;
      if (node.op === '<=') return left <= right;
      if (node.op === '>') return left > right;
      return left >= right;
    }
  }
}

/** A compiled condition: true when the resource satisfies it. */
export type Condition = (data: unknown) => boolean;

/**
 * Compiles a `--custom` condition.
 * @example compileCondition("provisioningState=='Succeeded'")({ provisioningState: 'Succeeded' }) // true
 */
export function compileCondition(expression: string): Condition {
  const node = new Parser(tokenize(expression)).parse();
  return (data) => truthy(evaluate(node, data));
}

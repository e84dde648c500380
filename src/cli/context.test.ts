import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { confirmOperation, type CliContext } from './context.js';
import { UsageError } from './errors.js';

function context(answer: string | null, tty: boolean): CliContext & { asked: string[] } {
  const asked: string[] = [];
  return {
    config: {} as CliContext['config'],
    out: new PassThrough(),
    err: new PassThrough(),
    fetch: globalThis.fetch,
    stdinIsTty: tty,
    asked,
    ...(answer === null
      ? {}
      : {
          prompt: async (q: string) => {
            asked.push(q);
            return answer;
          },
        }),
  };
}

test('confirmOperation: --yes skips the question; y/yes go on, anything else declines; no terminal asks for --yes', async () => {
  const yes = context('n', true);
  assert.equal(await confirmOperation(yes, true), true);
  assert.deepEqual(yes.asked, [], '--yes asks nothing');
  for (const [answer, expected] of [
    ['y', true],
    ['YES', true],
    [' yes\n', true],
    ['n', false],
    ['', false],
    ['yess', false],
  ] as const) {
    const ctx = context(answer, true);
    assert.equal(await confirmOperation(ctx, undefined), expected, JSON.stringify(answer));
    assert.deepEqual(ctx.asked, ['Are you sure you want to perform this operation? (y/n): ']);
  }
  await assert.rejects(
    confirmOperation(context('y', false), false),
    (e: unknown) => e instanceof UsageError && /Use --yes/.test(e.message),
  );
  await assert.rejects(confirmOperation(context(null, true), undefined), UsageError);
});

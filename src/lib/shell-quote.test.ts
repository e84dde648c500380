import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { shellCommand, shellQuote } from './shell-quote.js';

/** What a real POSIX shell makes of a command line: the words it would pass (printed one per NUL). */
function wordsBySh(line: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    // The line is a list of words after `printf '%s\0'`; the shell splits and unquotes them.
    const child = spawn('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', () => resolve(out.split('\0').slice(0, -1)));
  });
}

test('plain words stay bare; anything else is single-quoted', () => {
  assert.equal(shellQuote('https://nw.example:8817'), 'https://nw.example:8817');
  assert.equal(shellQuote('/var/lib/netwatcher/agent-rg-vm'), '/var/lib/netwatcher/agent-rg-vm');
  assert.equal(shellQuote('a b'), `'a b'`);
  assert.equal(shellQuote(`it's`), `'it'\\''s'`);
  assert.equal(shellQuote(''), `''`);
});

test('hostile values reach the shell as one word each and run nothing', async () => {
  const hostile = [
    'https://x.example/$(touch /tmp/nw-pwned)',
    'a;b',
    '`id`',
    "it's",
    '"quoted"',
    'new\nline',
    'back\\slash',
    '$HOME',
    '*',
    'a b\tc',
    '--flag=$(x)',
    '',
  ];
  assert.deepEqual(await wordsBySh(shellCommand(hostile)), hostile);
});

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapturePathError, confineCapturePath } from './paths.js';

const base = mkdtempSync(join(tmpdir(), 'nw-paths-'));
const root = join(base, 'captures');
const outside = join(base, 'outside');
mkdirSync(outside);
after(() => rmSync(base, { recursive: true, force: true }));

test('accepts a .cap under the root and creates its folders', () => {
  assert.equal(confineCapturePath(root, `${root}/a/b/c.cap`), `${root}/a/b/c.cap`);
});

test('refuses paths outside, escaping, relative, not .cap, or existing', () => {
  for (const bad of [
    `${outside}/x.cap`,
    `${root}/../outside/x.cap`,
    'x.cap',
    `${root}/x.pcapng`,
    root,
    `${root}2/x.cap`,
  ]) {
    assert.throws(() => confineCapturePath(root, bad), CapturePathError, bad);
  }
  writeFileSync(`${root}/exists.cap`, '');
  assert.throws(() => confineCapturePath(root, `${root}/exists.cap`), /already exists/);
});

test('refuses a symbolic link that leads out of the root', () => {
  symlinkSync(outside, join(root, 'link'));
  assert.throws(() => confineCapturePath(root, `${root}/link/x.cap`), /symbolic link/);
});

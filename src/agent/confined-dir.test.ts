import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfinedDir, ConfinedPathError } from './confined-dir.js';

const base = mkdtempSync(join(tmpdir(), 'nw-confined-'));
after(() => rmSync(base, { recursive: true, force: true }));
const outside = join(base, 'outside');
mkdirSync(outside);
const dir = ConfinedDir.open(join(base, 'root'));
after(() => dir.close());

test('creates a new file and its folders owner-only, and refuses an existing one', () => {
  const created = dir.createExclusive('a/b/c.cap');
  writeSync(created.fd, 'hello');
  closeSync(created.fd);
  closeSync(created.dirFd);
  assert.equal(readFileSync(join(base, 'root/a/b/c.cap'), 'utf8'), 'hello');
  assert.equal(statSync(join(base, 'root/a')).mode & 0o777, 0o700);
  assert.throws(() => dir.createExclusive('a/b/c.cap'), /already exists/);
});

test('refuses a dangling link at the name, a link at any folder level, and paths that climb', () => {
  symlinkSync(join(outside, 'new.cap'), join(base, 'root/dangling.cap'));
  assert.throws(() => dir.createExclusive('dangling.cap'), ConfinedPathError);
  symlinkSync(outside, join(base, 'root/linked'));
  assert.throws(() => dir.createExclusive('linked/x.cap'), /symbolic link/);
  assert.throws(() => dir.createExclusive('a/../../outside/x.cap'), /plain relative/);
  assert.throws(() => dir.createExclusive('/abs.cap'), /plain relative/);
  assert.deepEqual(readFileSyncDir(outside), []);
});

test('a folder swapped for a link after it was opened still receives the file (the held handle wins)', () => {
  const held = dir.openParent('swap/x.cap', true);
  rmSync(join(base, 'root/swap'), { recursive: true });
  symlinkSync(outside, join(base, 'root/swap'));
  // The held descriptor names the removed folder, not the link: nothing reaches `outside`.
  assert.throws(() => writeFileSync(`/proc/self/fd/${held.dirFd}/x.cap`, 'x'), /ENOENT/);
  closeSync(held.dirFd);
  assert.deepEqual(readFileSyncDir(outside), []);
});

test('atomic writes replace a link at the name instead of writing through it; removal removes the link only', () => {
  const victim = join(outside, 'victim.json');
  writeFileSync(victim, 'precious');
  symlinkSync(victim, join(base, 'root/state.json'));
  dir.writeFileAtomic('state.json', '{"ok":true}');
  assert.equal(readFileSync(victim, 'utf8'), 'precious');
  assert.equal(dir.readFile('state.json')?.toString(), '{"ok":true}');
  symlinkSync(victim, join(base, 'root/link.cap'));
  assert.throws(() => dir.readFile('link.cap'), ConfinedPathError);
  assert.equal(dir.remove('link.cap'), true);
  assert.equal(existsSync(victim), true);
  assert.throws(() => lstatSync(join(base, 'root/link.cap')), /ENOENT/);
  assert.equal(dir.remove('linked/victim.json'), false, 'a link on the way is not followed');
  assert.equal(existsSync(victim), true);
});

function readFileSyncDir(path: string): string[] {
  return readdirSync(path).filter((n) => n !== 'victim.json');
}

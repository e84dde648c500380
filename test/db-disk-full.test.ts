/**
 * Issue 9, point 7 (database side): a full disk under the embedded database is an ARM-shaped
 * 507 StorageFull naming the cause, the server keeps answering, and a start on a full disk says
 * the disk is full — never PGlite's bare `Aborted()`. The disk is a 48 MiB tmpfs mounted in a
 * private mount namespace (`unshare -m`), so it disappears with the child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, runCommand } from './lab/lab.js';

const isRoot = process.getuid?.() === 0;

test(
  'a full disk under the database: StorageFull, a live server, and a clear message at start',
  { skip: !isRoot && 'needs root (mount namespaces)' },
  async () => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'nw-diskfull-'));
    try {
      const r = await runCommand(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          process.execPath,
          '--import',
          'tsx',
          join(REPO_ROOT, 'test', 'lab', 'disk-full-server.ts'),
          mountPoint,
        ],
        { timeoutInMs: 240_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        answers: Array<{ status: number; code: string | null }>;
        firstErrorMessage: string | null;
        healthz: number;
        freshStart: string;
      };
      const last = result.answers.at(-1)!;
      assert.ok(result.answers.length < 200, 'the disk filled up');
      assert.equal(last.status, 507, JSON.stringify(result));
      assert.equal(last.code, 'StorageFull');
      assert.match(result.firstErrorMessage ?? '', /disk .* is full/);
      assert.equal(result.healthz, 200, 'the server still answers');
      assert.notEqual(result.freshStart, 'started');
      assert.match(result.freshStart, /cannot start.*full/s);
      assert.doesNotMatch(result.freshStart, /^Aborted\(\)$/);
    } finally {
      rmSync(mountPoint, { recursive: true, force: true });
    }
  },
);

// Runs every test file (src/**/*.test.ts beside the code, test/**/*.test.ts end to end)
// with Node's own test runner and tsx for TypeScript, after a type-check and lint. Builds dist/ first because end-to-end
// tests start real `nw` processes (server, agents) from the compiled CLI, and captures run dist/native/nw-capture.
// Usage: npm test [-- FILE_OR_DIR ...]   (defaults to src and test)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(path, out) {
  const st = statSync(path);
  if (st.isFile()) {
    out.push(path);
    return out;
  }
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const child = join(path, name);
    if (statSync(child).isDirectory()) findTests(child, out);
    else if (name.endsWith('.test.ts')) out.push(child);
  }
  return out;
}

const args = process.argv.slice(2);
const roots = args.length > 0 ? args : ['src', 'test'];
const files = roots.flatMap((r) => findTests(r, [])).sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

// Check the formatting (Prettier, .prettierrc.json), type-check everything (tests and the portal's
// browser code included) and lint (un-awaited promises) before running anything; the portal bundle
// is built for the tests that load it.
for (const [what, command, args] of [
  ['format check (npm run format to fix)', 'npx', ['prettier', '--check', '--log-level=warn', '.']],
  ['type-check', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']],
  ['type-check (portal)', 'npx', ['tsc', '-p', 'src/web/client/tsconfig.json']],
  ['lint', 'npx', ['eslint', '.']],
  ['build', 'npx', ['tsc', '-p', 'tsconfig.build.json']],
  ['build (portal)', process.execPath, ['scripts/build-web.mjs']],
  ['build (nw-capture)', process.execPath, ['scripts/build-native.mjs']],
]) {
  const step = spawnSync(command, args, { stdio: 'inherit' });
  if (step.status !== 0) {
    console.error(`${what} failed`);
    process.exit(step.status ?? 1);
  }
}

// Two cores on CI machines: at most two test files at once; end-to-end files take turns
// through their own namespace names, so they may run beside unit files.
// A hung test must fail, not hold CI until its time runs out: no single test may take 10 minutes.
const run = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files],
  { stdio: 'inherit' },
);
process.exit(run.status ?? 1);

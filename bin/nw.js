#!/usr/bin/env node
// Entry for the `nw` command. Runs the compiled CLI from dist/ (built by `npm run build`,
// which install.sh and the test command do). NW_FROM_SOURCE=1 runs the TypeScript sources
// through tsx instead, for development without a build step.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'cli', 'main.js');
if (process.env.NW_FROM_SOURCE === '1' || !existsSync(compiled)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
} else {
  await import(pathToFileURL(compiled).href);
}

// Bundles the web portal (src/web/client) with esbuild into dist/portal: index.html, app.js and
// app.css, everything the page loads (Preact, uPlot and the filter validator included), so the
// server needs nothing from a CDN at run time.
// Usage: node scripts/build-web.mjs [--dev]   (--dev: not minified, with a source map)
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'portal');
const dev = process.argv.includes('--dev');

// The filter validator (src/filter) is the API's own code; in the browser its ApiError comes from
// lib/errors.ts alone, not lib/index.ts, which also re-exports the server's logger and TLS code.
const browserLib = {
  name: 'browser-lib',
  setup(b) {
    b.onResolve({ filter: /\/lib\/index\.js$/ }, () => ({ path: join(root, 'src', 'lib', 'errors.ts') }));
  },
};

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: { app: join(root, 'src', 'web', 'client', 'main.tsx') },
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: !dev,
  sourcemap: dev,
  legalComments: 'linked',
  logLevel: 'warning',
  plugins: [browserLib],
});
copyFileSync(join(root, 'src', 'web', 'client', 'index.html'), join(outdir, 'index.html'));

#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js) into dist/cli: one file for what every command
// loads, and one chunk per command module it imports when that command runs. Node 20 loads ES
// modules one by one (resolve, stat, read, compile), and predict alone loaded about 90 of ours: a
// bundle starts sooner (#38; docs/performance.md has the measurements). The library
// (dist/src/index.js) stays unbundled. Packages stay where they are, but for protobufjs/minimal,
// whose many small files load faster bundled: onnxruntime-node and sharp carry native code, and
// bundling the others saved nothing measurable.
// dist/cli sits at the depth of dist/src/paths.js, so the paths that file resolves against the
// package root (package.json, models/) hold in the bundle too.
//   node scripts/bundle.mjs     (after tsc; `npm run build` runs both)
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// every path below is the repository's, wherever this runs from
const root = fileURLToPath(new URL('..', import.meta.url));
const dependencies = Object.keys(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).dependencies);

// chunks are named by their content: clear the folder, or an earlier build's would stay beside them
rmSync(path.join(root, 'dist/cli'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/main.js'],
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: dependencies.filter((d) => d !== 'protobufjs'),
  // tsc's maps are read in, so `node --enable-source-maps` names the TypeScript lines
  sourcemap: true,
  logLevel: 'warning',
});

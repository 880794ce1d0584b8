#!/usr/bin/env node
// Thin shim: the CLI lives in src/cli, compiled to dist/src and bundled into dist/cli (scripts/bundle.mjs)
// by `npm ci` / `npm run build`; `tsc` alone leaves this running the previous bundle.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);

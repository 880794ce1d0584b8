/**
 * The only module of the library that imports csv-parse and csv-stringify, through their CommonJS
 * builds, on first use: Node 20 loads each package's ES module build file by file, 14-20 ms for
 * csv-parse and 7 ms for csv-stringify against 2-3 ms for their one-file CommonJS builds (the same
 * release's code), and every predict run loaded both before its first image (#38).
 */
import { createRequire } from 'node:module';
import type { parse as csvParse } from 'csv-parse/sync';
import type { stringify as csvStringify } from 'csv-stringify/sync';

const load = createRequire(import.meta.url);
let parser: typeof csvParse | undefined;
let stringifier: typeof csvStringify | undefined;

/** csv-parse's synchronous `parse`: the same overloads, options and errors. */
export const parse = ((input: string, options?: object) =>
  (parser ??= (load('csv-parse/sync') as { parse: typeof csvParse }).parse)(input, options ?? {})) as typeof csvParse;

/** csv-stringify's synchronous `stringify`: the same options and output. */
export const stringify = ((records: unknown[], options?: object) =>
  (stringifier ??= (load('csv-stringify/sync') as { stringify: typeof csvStringify }).stringify)(records, options)) as typeof csvStringify;

import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { afterEach, mock } from 'node:test';

/** Replaces a node:fs function for the ES-module imports too (syncBuiltinESMExports), until restoreFs. */
export function replaceFs<K extends 'fsyncSync' | 'writeSync'>(name: K, implementation: (typeof fs)[K]): void {
  mock.method(fs, name, implementation);
  syncBuiltinESMExports();
}

/** Puts every replaced node:fs function back. */
export function restoreFs(): void {
  mock.restoreAll();
  syncBuiltinESMExports();
}

/** Restores node:fs after each test of the file that calls this. */
export function restoreFsAfterEach(): void {
  afterEach(restoreFs);
}

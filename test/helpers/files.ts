import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A fresh temporary folder for one test file. */
export function tempDir(prefix = 'mc-dropout-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Writes model bytes into a temp folder and returns the path. */
export function writeModel(bytes: Uint8Array, name = 'model.onnx', folder = tempDir()): string {
  const file = path.join(folder, name);
  writeFileSync(file, bytes);
  return file;
}

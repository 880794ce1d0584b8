import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

/** The temp file an atomic write of `file` goes to first: hidden, beside it, named for this process. */
function temporaryFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
}

function fillAndSync(temporary: string, fill: (fd: number) => void): void {
  const fd = openSync(temporary, 'w');
  try {
    fill(fd);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `file` whole or not at all: `fill` writes a temp file beside it, which is fsynced and
 * renamed over `file`; a failure leaves `file` as it was and no temp file behind.
 */
export function writeFileAtomicSync(file: string, fill: (fd: number) => void): void {
  const temporary = temporaryFor(file);
  try {
    fillAndSync(temporary, fill);
    renameSync(temporary, file);
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** writeFileAtomicSync with a check of the finished temp file (by its path) before the rename. */
export async function writeFileAtomic(file: string, fill: (fd: number) => void, check: (temporary: string) => Promise<void>): Promise<void> {
  const temporary = temporaryFor(file);
  try {
    fillAndSync(temporary, fill);
    await check(temporary);
    renameSync(temporary, file);
  } finally {
    rmSync(temporary, { force: true });
  }
}

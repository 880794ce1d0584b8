/**
 * The one write path: every file mc-dropout writes goes through here. Writes loop until every byte
 * is down (a full disk returns short writes before it fails), files are fsynced before they count,
 * a whole file appears under its final name only by rename after everything succeeded, and a
 * failure (disk full, quota, read-only file system, I/O error) is an OutputError naming the file.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { OutputError } from '../errors.js';

/** Appends data to an open file; the name is for messages. */
type Writer = (data: string | Uint8Array) => void;

/** Opens `file` for writing ('w' truncate, 'a' append, 'wx' create only); failures name the file. */
export function openForWrite(file: string, flags: 'w' | 'a' | 'wx' = 'w'): number {
  try {
    return openSync(file, flags);
  } catch (error) {
    throw outputError(error, file);
  }
}

/**
 * Writes all of `data` at the file's position (or at `position`), looping on short writes: a
 * write that stops early (a disk filling up) is continued until it fails with the reason.
 */
export function writeAll(fd: number, data: string | Uint8Array, file: string, position?: number): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let done = 0;
  try {
    while (done < bytes.length) {
      const wrote = writeSync(fd, bytes, done, bytes.length - done, position === undefined ? null : position + done);
      if (wrote <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
      done += wrote;
    }
  } catch (error) {
    throw outputError(error, file);
  }
}

/** A Writer for an open file. */
function writerOf(fd: number, file: string): Writer {
  return (data) => writeAll(fd, data, file);
}

/** fsync then close; a failure of either (the data did not reach the disk) names the file. */
export function syncAndClose(fd: number, file: string): void {
  try {
    fsyncSync(fd);
  } catch (error) {
    closeQuietly(fd);
    throw outputError(error, file);
  }
  try {
    closeSync(fd);
  } catch (error) {
    throw outputError(error, file);
  }
}

/** Closes a file whose contents no longer matter (a failure is already being reported). */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to add to the error in flight
  }
}

/** Renames a finished file into place. */
export function moveInto(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    throw outputError(error, to);
  }
}

/** The temp file an atomic write of `file` goes to first: hidden, beside it, named for this process. */
function temporaryFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
}

type Content = string | Uint8Array | ((write: Writer) => void);

function fillAndSync(temporary: string, content: Content): void {
  const fd = openForWrite(temporary, 'w');
  try {
    if (typeof content === 'function') content(writerOf(fd, temporary));
    else writeAll(fd, content, temporary);
  } catch (error) {
    closeQuietly(fd);
    throw error;
  }
  syncAndClose(fd, temporary);
}

/**
 * Writes `file` whole or not at all: the content goes to a temp file beside it, which is fsynced
 * and renamed over `file`; a failure leaves `file` as it was and no temp file behind. Errors name
 * `file`, not the temp file.
 */
export function writeFileAtomicSync(file: string, content: Content): void {
  const temporary = temporaryFor(file);
  try {
    fillAndSync(temporary, content);
    moveInto(temporary, file);
  } catch (error) {
    throw error instanceof OutputError && error.file === temporary ? outputError(error.cause, file) : error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** writeFileAtomicSync with a check of the finished temp file (by its path) before the rename. */
export async function writeFileAtomic(file: string, content: Content, check: (temporary: string) => Promise<void>): Promise<void> {
  const temporary = temporaryFor(file);
  try {
    fillAndSync(temporary, content);
    await check(temporary);
    moveInto(temporary, file);
  } catch (error) {
    throw error instanceof OutputError && error.file === temporary ? outputError(error.cause, file) : error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** Writes JSON (2-space indent, newline) whole or not at all. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomicSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes straight through to a device or FIFO (`/dev/null`, a named pipe): nothing to rename. */
export function writeToStream(file: string, content: string | Uint8Array): void {
  const fd = openForWrite(file, 'w');
  try {
    writeAll(fd, content, file);
  } finally {
    closeQuietly(fd);
  }
}

/** An OutputError for a failed write (an OutputError passes through). */
export function outputError(error: unknown, file: string): OutputError {
  if (error instanceof OutputError) return error;
  return new OutputError(file, writeFailureReason(error), { cause: error });
}

/** Short words for why a write failed, from its errno: 'the disk is full (ENOSPC)', ... */
export function writeFailureReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const words: Record<string, string> = {
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exceeded',
    EROFS: 'the file system is read-only',
    EIO: 'an input/output error',
    EFBIG: 'the file is larger than the file system allows',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ENOENT: 'its folder does not exist',
    ENOTDIR: 'a parent is not a folder',
    EISDIR: 'it is a folder',
    ENAMETOOLONG: 'the name is too long',
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return code ?? (error instanceof Error ? error.message : String(error));
}

/** Length and SHA-256 of a file, read in 1 MiB pieces. */
export function digestOf(file: string): { bytes: number; sha256: string } {
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  const buffer = Buffer.alloc(1 << 20);
  let bytes = 0;
  try {
    for (let got; (got = readSync(fd, buffer, 0, buffer.length, null)) > 0; bytes += got) hash.update(buffer.subarray(0, got));
  } finally {
    closeSync(fd);
  }
  return { bytes, sha256: hash.digest('hex') };
}

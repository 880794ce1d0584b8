/**
 * The one guarded read of a file a command takes as input (labels, lists, truth, calibration, saved
 * runs, metadata): a regular file, or `-` for standard input, read up to a bound. A folder, a FIFO
 * (with no writer it would wait forever), a device (`/dev/zero` would never end) or a socket is
 * refused before it is opened.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { unreadableReason, UsageError } from '../errors.js';

/** The most bytes a text or JSON input may hold (256 MiB): far above any real labels, truth or calibration file. */
const MAX_INPUT_BYTES = 256 * 2 ** 20;

/** What a refused or unreadable file is called in a message: the role ('the calibration'), the path and what it should be. */
export interface InputFileRole {
  /** 'the calibration', 'the ground truth', ... */
  what: string;
  /** What the file should hold, said after the reason: 'give the file calibrate wrote'. */
  expected: string;
}

/**
 * What kind of file `file` is when it is not a regular file ('a folder', 'a FIFO', 'a device', ...),
 * looked up without opening it: reading a FIFO with no writer, or /dev/zero, would never end.
 */
export function notRegularFile(file: string): string | undefined {
  let info;
  try {
    info = statSync(file);
  } catch {
    return undefined; // missing or unreadable: the read says so
  }
  return kindOf(info);
}

/** notRegularFile of a file already looked up (`statSync`'s answer). */
export function kindOf(info: Stats): string | undefined {
  if (info.isFile()) return undefined;
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The bytes of an input file (`-` reads standard input), at most `maxBytes`. Anything else is a
 * UsageError naming the role, the file, why and what it should be.
 */
export function readInputBytes(file: string, role: InputFileRole, maxBytes = MAX_INPUT_BYTES): Buffer {
  const refuse = (why: string): never => {
    throw new UsageError(`Cannot read ${role.what} ${file}: ${why}; ${role.expected}`);
  };
  const kind = file === '-' ? undefined : notRegularFile(file);
  if (kind) refuse(`it is ${kind}, not a regular file`);
  let fd: number;
  try {
    fd = file === '-' ? 0 : openSync(file, 'r');
  } catch (error) {
    return refuse(unreadableReason(error));
  }
  try {
    // the file opened may differ from the one looked at (a link changed in between)
    const info = fstatSync(fd);
    if (file !== '-' && !info.isFile()) refuse('it is not a regular file');
    if (info.isFile() && info.size > maxBytes) refuse(`it holds ${info.size} bytes, more than the ${maxBytes} an input of this kind may`);
    return readBounded(fd, maxBytes, () => refuse(`it holds more than the ${maxBytes} bytes an input of this kind may`));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    return refuse(unreadableReason(error));
  } finally {
    if (file !== '-') closeSync(fd);
  }
}

/** The text of an input file as UTF-8, a leading byte-order mark (what spreadsheet programs write) dropped. */
export function readInputText(file: string, role: InputFileRole, maxBytes = MAX_INPUT_BYTES): string {
  return withoutBom(readInputBytes(file, role, maxBytes).toString('utf8'));
}

/** Text without a leading byte-order mark (what spreadsheet programs and some editors write). */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function readBounded(fd: number, maxBytes: number, tooLarge: () => never): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
    let read: number;
    try {
      read = readSync(fd, chunk, 0, chunk.length, null);
    } catch (error) {
      // standard input set non-blocking by whoever opened it: wait a moment and read again
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      throw error;
    }
    if (read === 0) return Buffer.concat(chunks, total);
    chunks.push(chunk.subarray(0, read));
    total += read;
    if (total > maxBytes) tooLarge();
  }
}

/** Base class of every error the tool reports on purpose: a code for scripts and an exit code for the CLI. */
export class McDropoutError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(message: string, code: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A bad flag or argument: exit code 2. */
export class UsageError extends McDropoutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'E_USAGE', 2, options);
  }
}

/** The model cannot be loaded, has no usable dropout, or the provider failed: exit code 3. */
export class ModelError extends McDropoutError {
  constructor(message: string, code = 'E_MODEL', options?: { cause?: unknown }) {
    super(message, code, 3, options);
  }
}

/** The requested execution provider cannot run here: exit code 3. */
export class ProviderError extends McDropoutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'E_PROVIDER', 3, options);
  }
}

/**
 * An output could not be written (disk full, quota, read-only file system, I/O error): exit code 74
 * (EX_IOERR). `kept` names the file that still holds the finished work, when there is one.
 */
export class OutputError extends McDropoutError {
  readonly file: string;
  readonly reason: string;
  kept: string | undefined;

  constructor(file: string, reason: string, options?: { cause?: unknown; kept?: string }) {
    super(`Cannot write ${file}: ${reason}`, 'E_OUTPUT', 74, options);
    this.file = file;
    this.reason = reason;
    this.kept = options?.kept;
  }
}

/** One input image cannot be used; the batch goes on and the run exits 1. */
export class InputError extends McDropoutError {
  readonly file: string;
  /** Short, stable reason for the error row: 'empty file', 'not an image', 'truncated image', ... */
  readonly reason: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`${file}: ${reason}`, 'E_INPUT', 1, options);
    this.file = file;
    this.reason = reason;
  }
}

/** Short text of any thrown value, for error rows and messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Short reason for a path that cannot be read, from its errno (error rows: 'no such file', ...). */
export function unreadableReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'symbolic link loop';
  if (code === 'ENOTDIR') return 'no such file (a parent is not a folder)';
  if (code === 'ENAMETOOLONG') return 'name too long';
  return `cannot read (${code ?? 'unknown error'})`;
}

/**
 * A library parameter as error messages name it, in backticks: param('dropoutRate') is
 * `dropoutRate`; param({ dropout: 'force' }) is `dropout: 'force'`. The CLI shows each as its flag
 * (src/cli/flags.ts), so messages never name a flag themselves.
 */
export function param(name: string | Record<string, string | number | boolean>): string {
  if (typeof name === 'string') return `\`${name}\``;
  return `\`${Object.entries(name)
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? `'${value}'` : String(value)}`)
    .join(', ')}\``;
}

/**
 * A bad argument of a library call: a UsageError in sharp's shape, "Expected <expected> for `<name>`
 * but received <actual>[ <unit>]" (a string actual in quotes).
 */
export function invalidParameter(name: string, expected: string, actual: unknown, unit?: string): UsageError {
  const shown =
    typeof actual === 'string'
      ? `'${actual}'`
      : typeof actual === 'number' || typeof actual === 'boolean' || actual === undefined
        ? String(actual)
        : JSON.stringify(actual);
  return new UsageError(`Expected ${expected} for ${param(name)} but received ${shown}${unit ? ` ${unit}` : ''}`);
}

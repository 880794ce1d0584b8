/**
 * Every exit status of every command, the one table: the error classes below take theirs from it,
 * and the CLI's --help, the README (a test compares them) and main() read it (src/cli/exit-codes.ts).
 */
export const EXIT = {
  ok: 0,
  /** predict: some images failed; inspect: not MC-ready; doctor: CUDA not ready. */
  partial: 1,
  usage: 2,
  model: 3,
  internal: 70,
  output: 74,
  sighup: 129,
  sigint: 130,
  brokenPipe: 141,
  sigterm: 143,
} as const;

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
    super(message, 'E_USAGE', EXIT.usage, options);
  }
}

/** A bug in mc-dropout: a check of what its own code must guarantee failed; exit code 70 (EX_SOFTWARE). */
export class InternalError extends McDropoutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'E_INTERNAL', EXIT.internal, options);
  }
}

/** The model cannot be loaded, has no usable dropout, or the provider failed: exit code 3. */
export class ModelError extends McDropoutError {
  constructor(message: string, code = 'E_MODEL', options?: { cause?: unknown }) {
    super(message, code, EXIT.model, options);
  }
}

/** The requested execution provider cannot run here: exit code 3. */
export class ProviderError extends McDropoutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'E_PROVIDER', EXIT.model, options);
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
    super(`Cannot write ${file}: ${reason}`, 'E_OUTPUT', EXIT.output, options);
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
    super(`${file}: ${reason}`, 'E_INPUT', EXIT.partial, options);
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

/**
 * Runs `check`; a UsageError or ModelError it throws is thrown again, of its class and code, with
 * `where: ` before its message and the original as its cause (an ensemble's member named in a
 * message its own checks wrote).
 */
export function whereThrown<T>(where: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`${where}: ${error.message}`, { cause: error });
    if (error instanceof ModelError) throw new ModelError(`${where}: ${error.message}`, error.code, { cause: error });
    throw error;
  }
}

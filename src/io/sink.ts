import { McDropoutError, OutputError } from '../errors.js';
import { closeQuietly, openForWrite, outputError, syncAndClose, writeAll } from './durable.js';
import { outputSidecars } from './sidecars.js';
import type { OutputTarget } from './targets.js';

/**
 * Where rows go, and nothing else: every row is one write() of a complete line. A regular file's
 * rows go to its `.partial` (run-output.ts renames it into place when the run completes); stdout,
 * a device or a FIFO get the rows straight through as they come.
 */
export class RowSink {
  private constructor(
    private readonly output: OutputTarget,
    private readonly fd: number | undefined,
  ) {}

  /** Opens the rows of `output`: a file's .partial appended to (a resumed run) or new with `header` first. */
  static open(output: OutputTarget, options: { append: boolean; header: string | undefined }): RowSink {
    const fd =
      output.kind === 'file'
        ? openForWrite(outputSidecars(output.file).partial, options.append ? 'a' : 'w')
        : output.kind === 'stream'
          ? openForWrite(output.path, 'w')
          : undefined;
    const sink = new RowSink(output, fd);
    if (options.header && !options.append) sink.write(options.header);
    return sink;
  }

  /** Where the rows are being written: the .partial of a file output, else the stream. */
  get rowsFile(): string {
    const { output } = this;
    return output.kind === 'file' ? outputSidecars(output.file).partial : output.kind === 'stream' ? output.path : 'standard output';
  }

  /** A failed write of a file output: the .partial keeps every complete row for --resume. Other errors pass. */
  kept(error: unknown): unknown {
    // only a failed write (an OutputError, or a system error with its errno code) keeps the rows
    const systemError = !(error instanceof McDropoutError) && typeof (error as NodeJS.ErrnoException)?.code === 'string';
    if (!(error instanceof OutputError) && !systemError) return error;
    const failure = outputError(error, this.rowsFile);
    if (this.output.kind === 'file') failure.kept = outputSidecars(this.output.file).partial;
    return failure;
  }

  /** Writes one complete line (no trailing newline in `line`): all of it, or an OutputError. */
  write(line: string): void {
    if (this.fd === undefined) {
      process.stdout.write(`${line}\n`);
      return;
    }
    try {
      writeAll(this.fd, `${line}\n`, this.rowsFile);
    } catch (error) {
      throw this.kept(error);
    }
  }

  /** Flushes what was written (a file's rows reach the disk) and closes. */
  close(): void {
    if (this.fd === undefined) return;
    try {
      if (this.output.kind === 'file') syncAndClose(this.fd, this.rowsFile);
      else closeQuietly(this.fd);
    } catch (error) {
      throw this.kept(error);
    }
  }
}

import { rmSync } from 'node:fs';
import { McDropoutError, OutputError, param, UsageError } from '../errors.js';
import { closeQuietly, digestOf, moveInto, openForWrite, outputError, syncAndClose, writeAll, writeJsonAtomic, writeToStream } from './durable.js';
import { OutputLock } from './lock.js';
import { partialPaths, resumeEarlierRun, type RunSettings } from './resume.js';
import { outputTarget, type OutputTarget } from './targets.js';

export interface SinkOptions {
  /** Where the rows go (see outputTarget). */
  output: OutputTarget;
  format: 'csv' | 'jsonl';
  resume: boolean;
  /** First line of a new file (the CSV header), or undefined (JSONL). */
  header: string | undefined;
  settings: RunSettings;
  /** The file output's lock, when the caller took it early (before loading the model); else the sink takes it. */
  lock?: OutputLock;
  /** The metadata sidecar of the earlier run that --resume reads, when not `<file>.meta.json`. */
  metaFile?: string;
}

/**
 * Where rows go. A regular file: every row is one write() of a complete line to `<file>.partial`,
 * renamed over the file only when the run completes, so a kill never leaves a half row and never
 * destroys an earlier complete file; a lock keeps a second run off the same file. stdout, a device
 * or a FIFO: rows are written straight through as they come.
 */
export class RowSink {
  private constructor(
    private readonly options: SinkOptions,
    private readonly fd: number | undefined,
    /** Paths already in the output from an earlier run (resume). */
    readonly done: ReadonlySet<string>,
    private readonly lock: OutputLock | undefined,
  ) {}

  static open(options: SinkOptions): RowSink {
    const { output } = options;
    if (output.kind !== 'file') {
      if (options.resume)
        throw new UsageError(
          `${param('resume')} needs a regular output file: there is no earlier output to resume on ${output.kind === 'stdout' ? 'stdout' : output.path}`,
        );
      const fd = output.kind === 'stream' ? openForWrite(output.path, 'w') : undefined;
      const sink = new RowSink(options, fd, new Set(), undefined);
      if (options.header) sink.write(options.header);
      return sink;
    }
    const lock = options.lock ?? OutputLock.acquire(output.file, output.name);
    try {
      const { partial, partialSettings } = partialPaths(output.file);
      const meta = options.metaFile ?? partialPaths(output.file).meta;
      const done = options.resume ? resumeEarlierRun(output, options.format, options.settings, meta) : undefined;
      if (done) {
        const fd = openForWrite(partial, 'a');
        writeJsonAtomic(partialSettings, options.settings);
        return new RowSink(options, fd, done, lock);
      }
      writeJsonAtomic(partialSettings, options.settings);
      const fd = openForWrite(partial, 'w');
      const sink = new RowSink(options, fd, new Set(), lock);
      if (options.header) sink.write(options.header);
      return sink;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /** Where the rows are being written: the .partial of a file output, else the stream. */
  private get rowsFile(): string {
    const { output } = this.options;
    return output.kind === 'file' ? partialPaths(output.file).partial : output.kind === 'stream' ? output.path : 'standard output';
  }

  /** A failed write of a file output: the .partial keeps every complete row for --resume. Other errors pass. */
  private kept(error: unknown): unknown {
    // only a failed write (an OutputError, or a system error with its errno code) keeps the rows
    const systemError = !(error instanceof McDropoutError) && typeof (error as NodeJS.ErrnoException)?.code === 'string';
    if (!(error instanceof OutputError) && !systemError) return error;
    const failure = outputError(error, this.rowsFile);
    if (this.options.output.kind === 'file') failure.kept = partialPaths(this.options.output.file).partial;
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

  /** Flushes what was written and lets go of the output; a file output stays a .partial (interrupted run, resumable). */
  close(): void {
    try {
      if (this.fd !== undefined) {
        if (this.options.output.kind === 'file') syncAndClose(this.fd, this.rowsFile);
        else closeQuietly(this.fd);
      }
    } catch (error) {
      throw this.kept(error);
    } finally {
      this.lock?.release();
    }
  }

  /**
   * Completes the run: the metadata sidecar is written (atomically) to `metaFile`, by default
   * `<file>.meta.json` beside a file output, and the .partial replaces the output file.
   */
  finish(meta: Record<string, unknown>, metaFile?: OutputTarget): void {
    const { output } = this.options;
    try {
      if (this.fd !== undefined) {
        if (output.kind === 'file') syncAndClose(this.fd, this.rowsFile);
        else closeQuietly(this.fd);
      }
      // the output appears under its name only after its metadata is safely written; the metadata
      // records the finished file's length and SHA-256, so merge (or a user) can tell it was not changed
      if (output.kind === 'file') meta = { ...meta, output_file: digestOf(partialPaths(output.file).partial) };
      const sidecar =
        metaFile && metaFile.kind !== 'stdout' ? metaFile : output.kind === 'file' ? outputTarget(partialPaths(output.file).meta, 'the metadata') : undefined;
      if (sidecar?.kind === 'file') writeJsonAtomic(sidecar.file, meta);
      else if (sidecar?.kind === 'stream') writeToStream(sidecar.path, `${JSON.stringify(meta, null, 2)}\n`);
      if (output.kind === 'file') {
        const { partial, partialSettings } = partialPaths(output.file);
        moveInto(partial, output.file);
        rmSync(partialSettings, { force: true });
      }
    } catch (error) {
      throw this.kept(error);
    } finally {
      this.lock?.release();
    }
  }
}

/**
 * A run's rows output from start to finish. A regular file: a lock keeps a second run off it, an
 * earlier run is resumed (its settings checked, its rows kept) before the rows are opened, the
 * settings are written beside the .partial, and only a completed run's metadata and rename put the
 * file under its name, so a kill never leaves a half row and never destroys an earlier complete
 * file. stdout, a device or a FIFO: rows straight through, nothing to resume.
 */
import { rmSync } from 'node:fs';
import { param, UsageError } from '../errors.js';
import { digestOf, moveInto, writeJsonAtomic, writeToStream } from './durable.js';
import { OutputLock } from './lock.js';
import { resumeEarlierRun, type RunSettings } from './resume.js';
import { contentSha256 } from './schema.js';
import { outputSidecars } from './sidecars.js';
import { RowSink } from './sink.js';
import { outputTarget, type OutputTarget } from './targets.js';

export interface RunOutputOptions {
  /** Where the rows go (see outputTarget). */
  output: OutputTarget;
  format: 'csv' | 'jsonl';
  resume: boolean;
  /** First line of a new file (the CSV header), or undefined (JSONL). */
  header: string | undefined;
  settings: RunSettings;
  /** An earlier run's settings as this release writes them (an earlier release may have spelled keys otherwise), before --resume compares them. */
  upgradeSettings?: (earlier: RunSettings) => RunSettings;
  /** The file output's lock, when the caller took it early (before loading the model); else it is taken here. */
  lock?: OutputLock;
  /** The metadata sidecar of the earlier run that --resume reads, when not `<file>.meta.json`. */
  metaFile?: string;
}

export class RunOutput {
  private constructor(
    private readonly output: OutputTarget,
    private readonly sink: RowSink,
    /** Paths already in the output from an earlier run (resume). */
    readonly done: ReadonlySet<string>,
    private readonly lock: OutputLock | undefined,
  ) {}

  static open(options: RunOutputOptions): RunOutput {
    const { output } = options;
    if (output.kind !== 'file') {
      if (options.resume)
        throw new UsageError(
          `${param('resume')} needs a regular output file: there is no earlier output to resume on ${output.kind === 'stdout' ? 'stdout' : output.path}`,
        );
      return new RunOutput(output, RowSink.open(output, { append: false, header: options.header }), new Set(), undefined);
    }
    const lock = options.lock ?? OutputLock.acquire(output.file, output.name);
    try {
      const files = outputSidecars(output.file);
      // resume is prepared (settings checked, rows cut to whole records) before the rows are opened
      const done = options.resume
        ? resumeEarlierRun(output, options.format, options.settings, options.metaFile ?? files.meta, options.upgradeSettings, options.header)
        : undefined;
      // with the digest of its content: a resume refuses settings edited by hand
      writeJsonAtomic(files.partialSettings, { ...options.settings, sha256: contentSha256(options.settings) });
      const sink = RowSink.open(output, { append: done !== undefined, header: options.header });
      return new RunOutput(output, sink, done ?? new Set(), lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /** Writes one complete row line. */
  write(line: string): void {
    this.sink.write(line);
  }

  /** Flushes the rows and lets go of the output; a file output stays a .partial (an interrupted run, resumable). */
  close(): void {
    try {
      this.sink.close();
    } finally {
      this.lock?.release();
    }
  }

  /**
   * Completes the run: the metadata sidecar is written (atomically) to `metaFile`, by default
   * `<file>.meta.json` beside a file output, and the .partial replaces the output file.
   */
  finish(meta: Record<string, unknown>, metaFile?: OutputTarget): void {
    const { output } = this;
    try {
      this.sink.close();
      // the output appears under its name only after its metadata is safely written; the metadata
      // records the finished file's length and SHA-256, so merge (or a user) can tell it was not changed
      const files = output.kind === 'file' ? outputSidecars(output.file) : undefined;
      if (files) meta = { ...meta, output_file: digestOf(files.partial) };
      const sidecar = metaFile && metaFile.kind !== 'stdout' ? metaFile : files ? outputTarget(files.meta, 'the metadata') : undefined;
      if (sidecar?.kind === 'file') writeJsonAtomic(sidecar.file, meta);
      else if (sidecar?.kind === 'stream') writeToStream(sidecar.path, `${JSON.stringify(meta, null, 2)}\n`);
      if (output.kind === 'file' && files) {
        moveInto(files.partial, output.file);
        rmSync(files.partialSettings, { force: true });
      }
    } catch (error) {
      throw this.sink.kept(error);
    } finally {
      this.lock?.release();
    }
  }
}

import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, readSync, rmSync, truncateSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { McDropoutError, OutputError, UsageError } from '../errors.js';
import { closeQuietly, moveInto, openForWrite, outputError, syncAndClose, writeAll, writeJsonAtomic, writeToStream } from './durable.js';
import { OutputLock } from './lock.js';
import { outputTarget, type OutputTarget } from './targets.js';

/** The settings that must match for --resume to append to an earlier run's output. */
export type RunSettings = Record<string, unknown>;

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

/** Working file names next to the output file: rows go to .partial until the run completes. */
export function partialPaths(output: string): { partial: string; partialSettings: string; meta: string } {
  return { partial: `${output}.partial`, partialSettings: `${output}.partial.json`, meta: `${output}.meta.json` };
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
      if (options.resume) throw new UsageError(`--resume needs --output FILE, a regular file: there is no earlier output to resume on ${output.kind === 'stdout' ? 'stdout' : output.path}`);
      const fd = output.kind === 'stream' ? openForWrite(output.path, 'w') : undefined;
      const sink = new RowSink(options, fd, new Set(), undefined);
      if (options.header) sink.write(options.header);
      return sink;
    }
    const lock = options.lock ?? OutputLock.acquire(output.file, output.name);
    try {
      const { partial, partialSettings } = partialPaths(output.file);
      const meta = options.metaFile ?? partialPaths(output.file).meta;
      if (options.resume) {
        const earlier = findEarlierRun(output.file, partial, partialSettings, meta);
        if (earlier) {
          // messages name the output as the user wrote it, not the file a link points to
          checkSameSettings(earlier.settings, options.settings, earlier.from === output.file ? output.path : `${output.path}.partial`);
          if (earlier.from === output.file) copyInto(output.file, partial);
          const done = truncateToCompleteRecords(partial, options.format);
          const fd = openForWrite(partial, 'a');
          writeJsonAtomic(partialSettings, options.settings);
          return new RowSink(options, fd, done, lock);
        }
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
      const sidecar = metaFile && metaFile.kind !== 'stdout' ? metaFile : output.kind === 'file' ? outputTarget(partialPaths(output.file).meta, 'the metadata') : undefined;
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

/** The seed of the run that `--resume` would continue, so a resumed run without --seed reuses it. */
export function earlierSeed(output: string, metaFile?: string): number | undefined {
  const { partial, partialSettings, meta } = partialPaths(output);
  try {
    const earlier = findEarlierRun(output, partial, partialSettings, metaFile ?? meta);
    return typeof earlier?.settings.seed === 'number' ? earlier.settings.seed : undefined;
  } catch {
    return undefined; // open() reports the problem with its full message
  }
}

function findEarlierRun(output: string, partial: string, partialSettings: string, meta: string):
  { from: string; settings: RunSettings } | undefined {
  if (existsSync(partial) && existsSync(partialSettings)) return { from: partial, settings: readJson(partialSettings) };
  if (existsSync(output)) {
    if (!existsSync(meta)) throw new UsageError(`Cannot resume ${output}: its metadata ${meta} is missing, so its settings are unknown. Remove --resume to start over.`);
    const settings = (readJson(meta) as { settings?: RunSettings }).settings;
    if (!settings) throw new UsageError(`Cannot resume ${output}: ${meta} holds no settings. Remove --resume to start over.`);
    return { from: output, settings };
  }
  return undefined;
}

function checkSameSettings(earlier: RunSettings, now: RunSettings, from: string): void {
  const differing = Object.keys(now).filter((key) => JSON.stringify(earlier[key]) !== JSON.stringify(now[key]));
  if (differing.length > 0) {
    const detail = differing.map((k) => `${k}: earlier ${JSON.stringify(earlier[k])}, now ${JSON.stringify(now[k])}`).join('; ');
    throw new UsageError(`Cannot resume ${from}: settings differ from the earlier run (${detail}). Use the same settings, or drop --resume to start over.`);
  }
}

/**
 * Cuts a trailing partial record (a kill mid-write) and returns the paths of the complete rows.
 * CSV records can hold newlines inside quotes (a path with a newline), so the cut is at the last
 * newline after which the text parses as whole records, not simply the last newline.
 */
function truncateToCompleteRecords(file: string, format: 'csv' | 'jsonl'): Set<string> {
  const text = readFileSync(file, 'utf8');
  let end = text.lastIndexOf('\n') + 1;
  const done = new Set<string>();
  for (;;) {
    const complete = text.slice(0, end);
    try {
      if (format === 'csv') {
        const records = parse(complete, { relax_column_count: true }) as string[][];
        for (const record of records.slice(1)) if (record[0] !== undefined) done.add(record[0]);
      } else {
        for (const line of complete.split('\n')) if (line.trim()) done.add((JSON.parse(line) as { path: string }).path);
      }
      truncateSync(file, Buffer.byteLength(complete));
      return done;
    } catch (error) {
      // the last newline sat inside a quoted field of the half-written record: cut before it
      done.clear();
      const previous = text.lastIndexOf('\n', end - 2) + 1;
      if (end === 0) throw error;
      end = previous;
    }
  }
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

/** Copies a finished output to its .partial to resume it; a copy cut short by a full disk is an OutputError. */
function copyInto(from: string, to: string): void {
  try {
    copyFileSync(from, to);
  } catch (error) {
    rmSync(to, { force: true });
    throw outputError(error, to);
  }
}

function readJson(file: string): RunSettings {
  return JSON.parse(readFileSync(file, 'utf8')) as RunSettings;
}

import { closeSync, copyFileSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { UsageError } from '../errors.js';

/** The settings that must match for --resume to append to an earlier run's output. */
export type RunSettings = Record<string, unknown>;

export interface SinkOptions {
  /** Output file; undefined writes to stdout. */
  output: string | undefined;
  format: 'csv' | 'jsonl';
  resume: boolean;
  /** First line of a new file (the CSV header), or undefined (JSONL). */
  header: string | undefined;
  settings: RunSettings;
}

/** Working file names next to the output: rows go to .partial until the run completes. */
export function partialPaths(output: string): { partial: string; partialSettings: string; meta: string } {
  return { partial: `${output}.partial`, partialSettings: `${output}.partial.json`, meta: `${output}.meta.json` };
}

/**
 * Where rows go. With a file: every row is one write() of a complete line to `<output>.partial`,
 * renamed over `<output>` only when the run completes, so a kill never leaves a half row and never
 * destroys an earlier complete file. stdout: rows are written as they come.
 */
export class RowSink {
  private constructor(
    private readonly options: SinkOptions,
    private readonly fd: number | undefined,
    /** Paths already in the output from an earlier run (resume). */
    readonly done: ReadonlySet<string>,
  ) {}

  static open(options: SinkOptions): RowSink {
    if (!options.output) {
      if (options.resume) throw new UsageError('--resume needs --output FILE: there is no earlier output on stdout to resume');
      if (options.header) process.stdout.write(`${options.header}\n`);
      return new RowSink(options, undefined, new Set());
    }
    const { partial, partialSettings, meta } = partialPaths(options.output);
    if (options.resume) {
      const earlier = findEarlierRun(options.output, partial, partialSettings, meta);
      if (earlier) {
        checkSameSettings(earlier.settings, options.settings, earlier.from);
        if (earlier.from === options.output) copyFileSync(options.output, partial);
        const done = truncateToCompleteLines(partial, options.format);
        const fd = openSync(partial, 'a');
        writeJson(partialSettings, options.settings);
        return new RowSink(options, fd, done);
      }
    }
    writeJson(partialSettings, options.settings);
    const fd = openSync(partial, 'w');
    if (options.header) writeSync(fd, `${options.header}\n`);
    return new RowSink(options, fd, new Set());
  }

  /** Writes one complete line (no trailing newline in `line`). */
  write(line: string): void {
    if (this.fd === undefined) process.stdout.write(`${line}\n`);
    else writeSync(this.fd, `${line}\n`);
  }

  /** Flushes what was written; the output stays a .partial (interrupted run, resumable). */
  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
  }

  /** Completes the run: the .partial replaces the output, and the metadata sidecar is written. */
  finish(meta: Record<string, unknown>, metaFile?: string): void {
    this.close();
    if (!this.options.output) {
      if (metaFile) writeJson(metaFile, meta);
      return;
    }
    const { partial, partialSettings, meta: defaultMeta } = partialPaths(this.options.output);
    writeJson(metaFile ?? defaultMeta, meta);
    renameSync(partial, this.options.output);
    rmSync(partialSettings, { force: true });
  }
}

/** The seed of the run that `--resume` would continue, so a resumed run without --seed reuses it. */
export function earlierSeed(output: string): number | undefined {
  const { partial, partialSettings, meta } = partialPaths(output);
  try {
    const earlier = findEarlierRun(output, partial, partialSettings, meta);
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

/** Cuts a trailing partial line (a kill mid-write) and returns the paths of the complete rows. */
function truncateToCompleteLines(file: string, format: 'csv' | 'jsonl'): Set<string> {
  const text = readFileSync(file, 'utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  truncateSync(file, Buffer.byteLength(complete));
  const done = new Set<string>();
  if (format === 'csv') {
    const records = parse(complete, { relax_column_count: true }) as string[][];
    for (const record of records.slice(1)) if (record[0] !== undefined) done.add(record[0]);
  } else {
    for (const line of complete.split('\n')) {
      if (!line.trim()) continue;
      done.add((JSON.parse(line) as { path: string }).path);
    }
  }
  return done;
}

function writeJson(file: string, value: unknown): void {
  const temporary = `${file}.tmp-${process.pid}`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temporary, file);
}

function readJson(file: string): RunSettings {
  return JSON.parse(readFileSync(file, 'utf8')) as RunSettings;
}

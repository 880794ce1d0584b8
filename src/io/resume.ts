/**
 * Resume bookkeeping: an earlier run's rows and settings, found beside the output (a .partial with
 * its settings, or a finished file with its metadata), checked against this run's and made ready
 * to append to. The sink (sink.ts) writes the rows.
 */
import { copyFileSync, existsSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { parse } from './csv.js';
import { param, UsageError } from '../errors.js';
import { outputError } from './durable.js';
import { contentSha256, object, readJsonFile } from './schema.js';
import { outputSidecars } from './sidecars.js';

/** The settings that must match for --resume to append to an earlier run's output. */
export type RunSettings = Record<string, unknown>;

/**
 * Makes the earlier run of a file output ready to append to, when there is one: its settings must
 * equal `settings` (once `upgrade` has spelled them as this release does); a finished file is copied
 * to its .partial; a half-written last record is cut. Returns the paths of its complete rows, or
 * undefined when there is no earlier run.
 */
export function resumeEarlierRun(
  output: { file: string; path: string },
  format: 'csv' | 'jsonl',
  settings: RunSettings,
  meta: string,
  upgrade: (earlier: RunSettings) => RunSettings = (earlier) => earlier,
  header?: string,
): Set<string> | undefined {
  const { partial, partialSettings } = outputSidecars(output.file);
  const earlier = findEarlierRun(output.file, partial, partialSettings, meta);
  if (!earlier) return undefined;
  // messages name the output as the user wrote it, not the file a link points to
  const from = earlier.from === output.file ? output.path : `${output.path}.partial`;
  checkSameSettings(upgrade(earlier.settings), settings, from);
  // rows of other columns would make a ragged file, whatever the settings say
  if (format === 'csv' && header !== undefined) {
    const first = readFileSync(earlier.from, 'utf8').split('\n', 1)[0];
    if (first !== header)
      throw new UsageError(
        `Cannot resume ${from}: its columns differ from this run's (${first?.slice(0, 80) ?? 'no header'}...). Drop ${param('resume')} to start over.`,
      );
  }
  if (earlier.from === output.file) copyInto(output.file, partial);
  return truncateToCompleteRecords(partial, format);
}

/** The seed of the run that `--resume` would continue, so a resumed run without --seed reuses it. */
export function earlierSeed(output: string, metaFile?: string): number | undefined {
  const { partial, partialSettings, meta } = outputSidecars(output);
  try {
    const earlier = findEarlierRun(output, partial, partialSettings, metaFile ?? meta);
    return typeof earlier?.settings.seed === 'number' ? earlier.settings.seed : undefined;
  } catch {
    return undefined; // open() reports the problem with its full message
  }
}

function findEarlierRun(output: string, partial: string, partialSettings: string, meta: string): { from: string; settings: RunSettings } | undefined {
  if (existsSync(partial) && existsSync(partialSettings)) return { from: partial, settings: checkedSettings(partialSettings) };
  if (existsSync(output)) {
    if (!existsSync(meta))
      throw new UsageError(`Cannot resume ${output}: its metadata ${meta} is missing, so its settings are unknown. Remove ${param('resume')} to start over.`);
    const settings = readJson(meta).settings as RunSettings | undefined;
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
      throw new UsageError(`Cannot resume ${output}: ${meta} holds no settings. Remove ${param('resume')} to start over.`);
    return { from: output, settings };
  }
  return undefined;
}

/**
 * A setting as a message shows it: JSON, but a list of members (objects with a `sha256`) as their
 * digests' first 12 digits, so that a differing ensemble reads as which members differ.
 */
export function shownSetting(value: unknown): string {
  const members = Array.isArray(value) && value.every((v) => typeof v === 'object' && v !== null && typeof (v as { sha256?: unknown }).sha256 === 'string');
  if (members && value.length > 0) return `${value.length} members (${value.map((v: { sha256: string }) => v.sha256.slice(0, 12)).join(', ')})`;
  return JSON.stringify(value);
}

/** Refuses a resume whose settings differ from the earlier run's: a setting of either run that the other lacks or holds otherwise. */
function checkSameSettings(earlier: RunSettings, now: RunSettings, from: string): void {
  const keys = [...new Set([...Object.keys(earlier), ...Object.keys(now)])];
  const differing = keys.filter((key) => JSON.stringify(earlier[key]) !== JSON.stringify(now[key]));
  if (differing.length > 0) {
    const shown = (value: unknown) => (value === undefined ? '(not set)' : shownSetting(value));
    const detail = differing.map((k) => `${k}: earlier ${shown(earlier[k])}, now ${shown(now[k])}`).join('; ');
    throw new UsageError(
      `Cannot resume ${from}: settings differ from the earlier run (${detail}). Use the same settings, or drop ${param('resume')} to start over.`,
    );
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
        const records = parse(complete, { relax_column_count: true });
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

/** Copies a finished output to its .partial to resume it; a copy cut short by a full disk is an OutputError. */
function copyInto(from: string, to: string): void {
  try {
    copyFileSync(from, to);
  } catch (error) {
    rmSync(to, { force: true });
    throw outputError(error, to);
  }
}

/** An earlier run's settings file or metadata, read through the guarded reader: anything but a JSON object is a UsageError naming it. */
/** The settings beside a .partial, their digest checked (files from before it was kept have none). */
function checkedSettings(file: string): RunSettings {
  const { sha256, ...settings } = readJson(file);
  if (sha256 !== undefined && contentSha256(settings) !== sha256)
    throw new UsageError(
      `Cannot resume: ${file} was changed after its run wrote it (its content no longer matches its "sha256"). Drop ${param('resume')} to start over.`,
    );
  // the releases that record an ensemble's members or views always record the digest too
  if (sha256 === undefined && ('members' in settings || 'views' in settings))
    throw new UsageError(
      `Cannot resume: ${file} records an ensemble's members or views but no "sha256": it was edited. Drop ${param('resume')} to start over.`,
    );
  return settings;
}

function readJson(file: string): RunSettings {
  return readJsonFile(file, { what: "the earlier run's settings", expected: `restore it, or drop ${param('resume')} to start over` }, object({}));
}

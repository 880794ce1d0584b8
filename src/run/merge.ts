/**
 * `merge`: the shard outputs of one sharded predict job, checked and joined into the file one
 * machine would have written. Shards are contiguous blocks of the input list, so the merge is
 * their rows in shard order.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from '../io/csv.js';
import { param, UsageError } from '../errors.js';
import { shownSetting } from '../io/resume.js';
import { parseJsonLines } from '../io/lines.js';
import { sha256Hex, either, literal, number, object, optional, readJsonFile, string } from '../io/schema.js';
import { writeFileAtomicSync, writeJsonAtomic } from '../io/durable.js';
import { checkInputsAreNotOutputs, outputIdentities, outputTarget } from '../io/targets.js';
import { shardFilePattern, shardOutputPath } from './shards.js';
import { metadataOf, outputSidecars } from '../io/sidecars.js';

/** Which sharded output to merge: the output path the shards were run with, and the merged metadata file. */
export interface MergeConfig {
  /** The output the shards were written for (`out.csv` finds `out.shard-0003-of-0016.csv` beside it). */
  output: string;
  /** Metadata of the merged run; default `<output>.meta.json`. */
  meta?: string;
  version: string;
}

/** What merge wrote: the shards joined, and the rows of the joined file (ok and failed). */
export interface MergeOutcome {
  shards: number;
  rows: number;
  ok: number;
  failed: number;
}

interface ShardMeta {
  seed: number;
  passes: number | 'auto';
  started: string;
  finished: string;
  seconds: number;
  model: Record<string, unknown>;
  counts: { inputs: number; already_done: number; ok: number; failed: number; skipped_non_images: number };
  settings: Record<string, unknown> & { shard?: { index: number; count: number }; format?: string };
  shard: { index: number; count: number; first: number; end: number; images: number; host?: string };
  /** The finished output's length and SHA-256 (recorded since the output was checked this way). */
  output_file?: { bytes: number; sha256: string };
}

const whole = number({ integer: true, min: 0 });
const time = string({ pattern: /^\d{4}-\d\d-\d\dT/, what: 'an ISO 8601 time' });
/** What merge reads of a shard's metadata, checked: a damaged or hand-edited file is refused naming the field. */
const shardMetaCheck = object({
  seed: whole,
  passes: either(number({ integer: true, min: 1 }), literal('auto'), 'an integer >= 1 or "auto"'),
  started: time,
  finished: time,
  seconds: number({ min: 0 }),
  model: object({}),
  counts: object({ inputs: whole, already_done: whole, ok: whole, failed: whole, skipped_non_images: whole }),
  settings: object({ format: literal('csv', 'jsonl') }),
  shard: object({ index: whole, count: number({ integer: true, min: 1 }), first: whole, end: whole, images: whole, host: optional(string()) }),
  output_file: optional(object({ bytes: whole, sha256: sha256Hex })),
});

/** Merges the shards of `config.output`; refuses (UsageError, naming the shard) unless they make one whole run. */
export function mergeShards(config: MergeConfig): MergeOutcome {
  const output = mapsFolderScores(config.output) ?? config.output;
  const target = outputTarget(output, 'the merged output');
  if (target.kind !== 'file') throw new UsageError('merge writes a file: give the output file the shards were written for');
  const shards = readShards(output, target.file);
  const settings = sameSettings(shards);
  // the merged output and its metadata must be neither a shard nor a shard's metadata
  const metaFile = config.meta ?? metadataOf(target.file);
  checkInputsAreNotOutputs(
    shards.flatMap(({ file }) => [
      { role: 'a shard', path: file },
      { role: "a shard's metadata", path: metadataOf(file) },
    ]),
    outputIdentities([target, outputTarget(metaFile, 'the merged metadata')]),
  );
  const { rows, failed } = joinShards(target.file, shards, settings.format === 'jsonl' ? 'jsonl' : 'csv');
  const outcome: MergeOutcome = { shards: shards.length, rows, ok: rows - failed, failed };
  writeJsonAtomic(metaFile, mergedMetadata(config.version, shards, settings, outcome));
  return outcome;
}

/**
 * A segmentation run's maps folder given as the output: its scores file (scores.csv, or
 * scores.jsonl when only that format's shards are there); undefined for anything but a folder.
 */
function mapsFolderScores(output: string): string | undefined {
  let folder = false;
  try {
    folder = statSync(output).isDirectory();
  } catch {
    return undefined;
  }
  if (!folder) return undefined;
  const csv = path.join(output, 'scores.csv');
  const jsonl = path.join(output, 'scores.jsonl');
  const has = (file: string) => readdirSync(output).some((name) => shardFilePattern(file).test(name));
  return has(csv) || !has(jsonl) ? csv : jsonl;
}

/** One shard's output file and its metadata, checked. */
interface ShardFile {
  file: string;
  meta: ShardMeta;
}

/** The shards of one split beside `file`, in order: every one present, complete, with its metadata, and holding its own block. */
function readShards(output: string, file: string): ShardFile[] {
  const folder = path.dirname(file);
  const pattern = shardFilePattern(file);
  const found = readdirSync(folder)
    .map((name) => ({ name, match: pattern.exec(name) }))
    .filter((f) => f.match)
    .map((f) => ({ file: path.join(folder, f.name), index: Number(f.match![1]), count: Number(f.match![2]) }));
  const partials = readdirSync(folder).filter((name) => name.endsWith('.partial') && pattern.test(name.slice(0, -'.partial'.length)));
  if (found.length === 0 && partials.length === 0)
    throw new UsageError(`No shard outputs for ${output} in ${folder} (expected names like ${path.basename(shardOutputPath(file, { index: 0, count: 4 }))})`);
  const counts = new Set([...found.map((f) => f.count), ...partials.map((p) => Number(pattern.exec(p.slice(0, -'.partial'.length))![2]))]);
  if (counts.size > 1)
    throw new UsageError(`Shard outputs of different splits lie beside ${output} (of ${[...counts].join(', ')} shards); remove the stale ones`);
  const count = [...counts][0]!;
  return Array.from({ length: count }, (_, index) => {
    const shard = shardOutputPath(file, { index, count });
    const name = path.basename(shard);
    if (existsSync(outputSidecars(shard).partial))
      throw new UsageError(
        `Shard ${index} of ${count} is incomplete: ${name}.partial is there (a run was stopped or is still going); rerun that shard with ${param('resume')}, then merge`,
      );
    if (!found.some((f) => f.index === index)) throw new UsageError(`Shard ${index} of ${count} is missing: no ${name} in ${folder}; run it, then merge`);
    const metaFile = metadataOf(shard);
    if (!existsSync(metaFile))
      throw new UsageError(`Shard ${index} of ${count} has no metadata ${path.basename(metaFile)}, so it cannot be checked; rerun that shard`);
    const meta = readJsonFile(metaFile, { what: `the metadata of shard ${index} of ${count}`, expected: 'rerun that shard' }, shardMetaCheck) as ShardMeta;
    if (meta.shard?.index !== index || meta.shard?.count !== count)
      throw new UsageError(
        `${name} holds the rows of shard ${meta.shard?.index ?? '?'} of ${meta.shard?.count ?? '?'}, not ${index} of ${count}: it was renamed or copied; rerun shard ${index}`,
      );
    return { file: shard, meta };
  });
}

/** One job: the same settings (model, mask scheme, seed, T, preprocessing, format, input list) in every shard; shard 0's, without its index. */
function sameSettings(shards: readonly ShardFile[]): ShardMeta['settings'] {
  const { shard: _first, ...reference } = shards[0]!.meta.settings;
  for (const { file, meta } of shards.slice(1)) {
    const { shard: _s, ...settings } = meta.settings;
    const keys = [...new Set([...Object.keys(reference), ...Object.keys(settings)])];
    const differing = keys.filter((k) => JSON.stringify(reference[k]) !== JSON.stringify(settings[k]));
    if (differing.length > 0) {
      const what = differing.map((k) => `${k}: shard 0 ${shownSetting(reference[k])}, this one ${shownSetting(settings[k])}`).join('; ');
      throw new UsageError(`${path.basename(file)} was made with other settings than shard 0 (${what}); rerun it with the job's settings`);
    }
  }
  return reference;
}

/** Writes the shards' rows into `file` (one header), each shard checked to be the file its run wrote; the rows and error rows joined. */
function joinShards(file: string, shards: readonly ShardFile[], format: 'csv' | 'jsonl'): { rows: number; failed: number } {
  let rows = 0;
  let failed = 0;
  writeFileAtomicSync(file, (write) => {
    shards.forEach(({ file: shard, meta }, i) => {
      const bytes = readFileSync(shard);
      checkShardContent(shard, bytes, meta);
      const headerEnd = format === 'csv' ? bytes.indexOf(0x0a) + 1 : 0;
      const body = bytes.subarray(headerEnd);
      const counted = countRecords(shard, body.toString('utf8'), format, bytes.subarray(0, headerEnd).toString('utf8'));
      failed += counted.failed;
      if (counted.rows !== meta.shard.images) {
        throw new UsageError(
          `${path.basename(shard)} holds ${counted.rows} rows but its shard has ${meta.shard.images} images: the file was changed after its run; rerun that shard`,
        );
      }
      if (i === 0 && headerEnd > 0) write(bytes.subarray(0, headerEnd));
      write(body);
      rows += counted.rows;
    });
  });
  return { rows, failed };
}

/** The merged run's metadata: the job's model, T, seed and settings, its span of time, the counts, and each shard's record. */
function mergedMetadata(version: string, shards: readonly ShardFile[], settings: ShardMeta['settings'], outcome: MergeOutcome): Record<string, unknown> {
  const first = shards[0]!.meta;
  const started = shards.map((s) => s.meta.started).sort()[0]!;
  const finished = shards
    .map((s) => s.meta.finished)
    .sort()
    .at(-1)!;
  return {
    tool: 'mc-dropout',
    version,
    command: 'merge',
    model: first.model,
    passes: first.passes,
    seed: first.seed,
    started,
    finished,
    seconds: (Date.parse(finished) - Date.parse(started)) / 1000,
    shard_seconds: shards.reduce((a, s) => a + s.meta.seconds, 0),
    counts: { inputs: outcome.rows, ok: outcome.ok, failed: outcome.failed, skipped_non_images: first.counts.skipped_non_images },
    settings,
    shards: shards.map(({ file, meta }) => ({
      file: path.basename(file),
      index: meta.shard.index,
      first: meta.shard.first,
      end: meta.shard.end,
      images: meta.shard.images,
      host: meta.shard.host ?? null,
      started: meta.started,
      finished: meta.finished,
      seconds: meta.seconds,
      counts: meta.counts,
    })),
  };
}

/** A shard is the file its run finished: the length and SHA-256 its metadata recorded, ending on a whole record. */
function checkShardContent(file: string, bytes: Buffer, meta: ShardMeta): void {
  const name = path.basename(file);
  const recorded = meta.output_file;
  if (!recorded || typeof recorded.sha256 !== 'string')
    throw new UsageError(`${name}: its metadata records no length and checksum of the output, so an edited or cut file cannot be told apart; rerun that shard`);
  if (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a)
    throw new UsageError(`${name} does not end on a whole record (no final newline): it was cut or edited after its run; rerun that shard`);
  if (bytes.length !== recorded.bytes)
    throw new UsageError(`${name} holds ${bytes.length} bytes but its run wrote ${recorded.bytes}: the file was changed after its run; rerun that shard`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== recorded.sha256)
    throw new UsageError(
      `${name} is not the file its run wrote (SHA-256 ${sha256.slice(0, 12)}..., recorded ${recorded.sha256.slice(0, 12)}...): it was edited after its run; rerun that shard`,
    );
}

/** Rows of a shard's body, and how many are error rows (read from the status column). */
function countRecords(file: string, text: string, format: 'csv' | 'jsonl', header: string): { rows: number; failed: number } {
  if (text.length === 0) return { rows: 0, failed: 0 };
  if (format === 'jsonl') {
    const records = parseJsonLines<{ status?: string }>(text, (line) => new UsageError(`${file} line ${line} is not JSON: rerun that shard`));
    return { rows: records.length, failed: records.filter((r) => r.status === 'error').length };
  }
  const status = parse(header)[0]!.indexOf('status');
  const records = parse(text, { relax_column_count: true });
  return { rows: records.length, failed: records.filter((r) => r[status] === 'error').length };
}

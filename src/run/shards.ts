import { createHash } from 'node:crypto';
import path from 'node:path';
import { invalidParameter, UsageError } from '../errors.js';
import type { WalkResult } from '../io/walk.js';

/** Shard `index` of `count` (0-based): a contiguous block of the input list. */
export interface Shard {
  index: number;
  count: number;
}

/** Parses `I/N` (0 <= I < N). */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || !(count >= 1) || !(index < count)) throw invalidParameter('shard', 'I/N with 0 <= I < N (e.g. 3/16)', text);
  return { index, count };
}

/**
 * The shard a batch engine's environment names, for `auto`:
 * - Slurm job arrays: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT
 *   (the array must be contiguous, e.g. --array=0-15);
 * - Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX, of `count` (or MC_DROPOUT_SHARD_COUNT);
 * - AWS Batch array jobs: AWS_BATCH_JOB_ARRAY_INDEX, of `count` (or MC_DROPOUT_SHARD_COUNT);
 * - Google Cloud Batch: BATCH_TASK_INDEX of BATCH_TASK_COUNT.
 */
export function shardFromEnvironment(env: NodeJS.ProcessEnv, count?: number): Shard {
  const number = (name: string): number | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw invalidParameter(name, 'a non-negative integer', value);
    return n;
  };
  const given = count ?? number('MC_DROPOUT_SHARD_COUNT');
  const make = (index: number, total: number | undefined, engine: string): Shard => {
    if (total === undefined)
      throw new UsageError(`${engine} gives this task's index but not the number of tasks: pass the count (MC_DROPOUT_SHARD_COUNT or the shard count option)`);
    if (index >= total)
      throw new UsageError(`${engine}: task index ${index} is not below the task count ${total}; use a contiguous array starting at its minimum`);
    return { index, count: total };
  };
  const slurm = number('SLURM_ARRAY_TASK_ID');
  if (slurm !== undefined) return make(slurm - (number('SLURM_ARRAY_TASK_MIN') ?? 0), given ?? number('SLURM_ARRAY_TASK_COUNT'), 'Slurm');
  const k8s = number('JOB_COMPLETION_INDEX');
  if (k8s !== undefined) return make(k8s, given, 'Kubernetes');
  const aws = number('AWS_BATCH_JOB_ARRAY_INDEX');
  if (aws !== undefined) return make(aws, given ?? number('AWS_BATCH_JOB_ARRAY_SIZE'), 'AWS Batch');
  const gcp = number('BATCH_TASK_INDEX');
  if (gcp !== undefined) return make(gcp, given ?? number('BATCH_TASK_COUNT'), 'Google Cloud Batch');
  throw new UsageError(
    'Automatic sharding found no batch engine index (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX, BATCH_TASK_INDEX); give the shard as I/N',
  );
}

/** The [start, end) block of `total` inputs that a shard runs: sizes differ by at most one. */
export function shardRange(total: number, shard: Shard): { start: number; end: number } {
  return { start: Math.floor((shard.index * total) / shard.count), end: Math.floor(((shard.index + 1) * total) / shard.count) };
}

const pad = (n: number) => String(n).padStart(4, '0');

/** `out.csv` -> `out.shard-0003-of-0016.csv`: a shard's own output beside the merged one. */
export function shardOutputPath(output: string, shard: Shard): string {
  const ext = path.extname(output);
  return `${output.slice(0, output.length - ext.length)}.shard-${pad(shard.index)}-of-${pad(shard.count)}${ext}`;
}

/** The shard outputs `merge` looks for beside `output`, as a pattern over file names: index and count captured. */
export function shardFilePattern(output: string): RegExp {
  const ext = path.extname(output);
  const stem = path.basename(output, ext).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${stem}\\.shard-(\\d{4,})-of-(\\d{4,})${ext.replace('.', '\\.')}$`);
}

/** SHA-256 of the whole input list (every path, in order): shards of one job share it. */
export function inputListHash(files: readonly string[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(file).update('\0');
  return hash.digest('hex');
}

/**
 * The seed of a sharded run without one: the first 53 bits of SHA-256(input list hash, model hash),
 * which every shard computes alike without talking to the others. The same job gets the same seed.
 */
export function derivedSeed(listHash: string, modelSha256: string): number {
  const digest = createHash('sha256').update(`${listHash}:${modelSha256}`).digest();
  return (digest.readUInt32BE(0) & 0x1fffff) * 0x100000000 + digest.readUInt32BE(4);
}

/** The images a run does: every one, or a shard's block of the input list (every shard walks the same list in the same order). */
export interface InputBlock {
  files: string[];
  sizes: number[];
  shard?: { listHash: string; listLength: number; first: number; end: number };
}

/** The walked images a run with `shard` (or none) does, with the input list's digest and its block's place. */
export function shardBlock(shard: Shard | undefined, walked: Pick<WalkResult, 'files' | 'sizes'>): InputBlock {
  if (!shard) return { files: walked.files, sizes: walked.sizes };
  const listHash = inputListHash(walked.files);
  const range = shardRange(walked.files.length, shard);
  return {
    files: walked.files.slice(range.start, range.end),
    sizes: walked.sizes.slice(range.start, range.end),
    shard: { listHash, listLength: walked.files.length, first: range.start, end: range.end },
  };
}

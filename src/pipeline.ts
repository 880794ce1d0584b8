import { fsPath } from './io/names.js';
import { stat } from 'node:fs/promises';
import { InputError } from './errors.js';
import type { McModel } from './engine/mc-model.js';
import { imageHeader, loadImageTensor, type ImageHeader } from './preprocess/decode.js';
import { DEFAULT_DECODE_PIXEL_BUDGET, type PreprocessSpec } from './preprocess/spec.js';
import type { AdaptiveRule } from './stats/adaptive.js';
import type { ImageResult } from './io/rows.js';
import { logitScores, summarize } from './stats/aggregate.js';

/** How predictFiles runs over files: passes, seed, batch size, decode concurrency and pixel budget, preprocessing. */
export interface PredictFilesOptions {
  /** Passes per image; ignored when `adaptive` is given. */
  passes: number;
  /** Adaptive T: passes in rounds until each image's estimates settle (see stats/adaptive.ts). */
  adaptive?: AdaptiveRule;
  seed: number;
  deterministic?: boolean;
  /** Images per engine call (each becomes `passes` rows). */
  batchSize: number;
  /** Images decoded at once, at most. */
  decodeConcurrency: number;
  /**
   * Pixels (width x height at the file's own size) decoded at once, at most: bounds memory by
   * pixels, not only by image count. An image above the budget is decoded alone.
   */
  decodePixelBudget?: number;
  preprocess: PreprocessSpec;
  /** Keep the per-pass probabilities in each result ([T, C]). */
  keepPasses?: boolean;
  /** Also run one pass with dropout off per image (its probabilities in `deterministicProbs`), as evaluate compares them. */
  withDeterministic?: boolean;
  /**
   * Also the max logit and the energy of each image (`logitScores`), for out-of-distribution scores:
   * only for a model whose output is logits, and not with adaptive T.
   */
  logitScores?: boolean;
  /** Files known to be unusable (e.g. a broken link), with their reason: error results, not decoded. */
  knownErrors?: ReadonlyMap<string, string>;
  /** Byte size of each file, aligned with `files`, when the caller knows them (saves a stat per file). */
  fileSizes?: readonly number[];
}

/**
 * What the pipeline needs of a model: its class count and output kind, T passes (scores or
 * probabilities) for a batch of tensors, and an adaptive pool. McModel is one; a test can pass a
 * fake that stands in for onnxruntime.
 */
export type PassModel = Pick<McModel, 'predict' | 'predictScores' | 'probabilities' | 'adaptivePool'> & {
  info: Pick<McModel['info'], 'classes' | 'outputIsProbabilities'>;
};

/**
 * Yields one result per file, in input order. Decoding of the next batch overlaps inference of
 * the current one; memory holds at most two batches whatever the number of files, and decoding at
 * most `decodePixelBudget` pixels at once. A file that cannot be decoded, or whose passes are not
 * finite, yields an error result; model errors are thrown. With adaptive T, batches refill: the
 * next batch joins the rounds as soon as fewer than `batchSize` images are still running, and each
 * result is yielded as soon as it and every earlier one are done.
 */
export async function* predictFiles(model: PassModel, files: readonly string[], options: PredictFilesOptions): AsyncGenerator<ImageResult> {
  const run = predictRun(model, files, options);
  if (options.adaptive && !options.deterministic) yield* adaptiveResults(run, options.adaptive);
  else yield* fixedResults(run);
}

/** Files decoded batch by batch: the index of each batch's first file, and batch b decoded (the decode of b + 1 started). */
export interface DecodedBatches<T> {
  batchSize: number;
  /** Index of the first file of each batch. */
  starts: number[];
  /** Batch b decoded (what `load` made, or why it failed, per file), with the decode of batch b + 1 started. */
  nextBatch(b: number): Promise<(T | string)[]>;
}

/**
 * Decodes `files` in batches of `options.batchSize`, the next batch while the caller runs the
 * current one: at most `decodeConcurrency` files and `decodePixelBudget` pixels at once. `load`
 * turns one file into what the caller runs (an InputError from it becomes that file's reason).
 */
export function decodeBatches<T>(
  files: readonly string[],
  options: Pick<PredictFilesOptions, 'batchSize' | 'decodeConcurrency' | 'decodePixelBudget' | 'preprocess' | 'knownErrors' | 'fileSizes'>,
  load: (file: string, header: ImageHeader | undefined) => Promise<T>,
): DecodedBatches<T> {
  const batchSize = Math.max(1, options.batchSize);
  const starts: number[] = [];
  for (let s = 0; s < files.length; s += batchSize) starts.push(s);
  const budget = new PixelBudget(options.decodePixelBudget ?? DEFAULT_DECODE_PIXEL_BUDGET);
  const decode = (start: number) => decodeAll(files.slice(start, start + batchSize), options.fileSizes?.slice(start, start + batchSize), options, budget, load);
  let pending = starts.length > 0 ? decode(starts[0]!) : undefined;
  const nextBatch = async (b: number) => {
    const decoded = await pending!;
    pending = b + 1 < starts.length ? decode(starts[b + 1]!) : undefined;
    return decoded;
  };
  return { batchSize, starts, nextBatch };
}

/** What both ways of running the files share: the batches as they decode, the model and the options. */
interface PredictRun extends DecodedBatches<Float32Array> {
  model: PassModel;
  files: readonly string[];
  options: PredictFilesOptions;
}

/** Starts decoding the first batch at once: a caller reads the batches in order through `nextBatch`. */
function predictRun(model: PassModel, files: readonly string[], options: PredictFilesOptions): PredictRun {
  return { model, files, options, ...decodeBatches(files, options, (file, header) => loadImageTensor(file, options.preprocess, header)) };
}

/** The result of file `index` from its passes [T, C]: an error result when a pass is not finite. */
function resultOf(run: PredictRun, index: number, passProbs: Float64Array, deterministicProbs?: Float64Array): ImageResult {
  const { model, options } = run;
  const file = run.files[index]!;
  const bad = firstNonFinitePass(passProbs, model.info.classes);
  if (bad !== undefined) return { file, index, status: 'error', error: `model output is not finite (NaN or infinity) in pass ${bad + 1}` };
  const summary = summarize(passProbs, model.info.classes);
  return { file, index, status: 'ok', summary, ...(options.keepPasses && { passProbs }), ...(deterministicProbs && { deterministicProbs }) };
}

/** One pass with dropout off per image, when the options ask for it. */
async function deterministicOf(run: PredictRun, good: Float32Array[]): Promise<Float64Array[] | undefined> {
  const { model, options } = run;
  return options.withDeterministic && good.length > 0 ? model.predict(good, { passes: 1, seed: options.seed, deterministic: true }) : undefined;
}

/** Adaptive T: batches join the rounds while fewer than a batch of images run; results in input order as soon as each and every earlier one is done. */
async function* adaptiveResults(run: PredictRun, adaptive: AdaptiveRule): AsyncGenerator<ImageResult> {
  const { model, files, options, batchSize, starts } = run;
  const pool = model.adaptivePool(options.seed, adaptive);
  const ready = new Map<number, ImageResult>();
  const indexOf = new Map<number, { index: number; deterministic?: Float64Array }>();
  let next = 0;
  for (let b = 0; b < starts.length || pool.active > 0;) {
    // refill: the next batches join while fewer than a batch of images are still running
    while (b < starts.length && pool.active < batchSize) {
      const decoded = await run.nextBatch(b);
      const good: Float32Array[] = [];
      const goodIndex: number[] = [];
      decoded.forEach((item, i) => {
        const index = starts[b]! + i;
        if (item instanceof Float32Array) {
          good.push(item);
          goodIndex.push(index);
        } else ready.set(index, { file: files[index]!, index, status: 'error', error: item });
      });
      const deterministic = await deterministicOf(run, good);
      (await pool.add(good)).forEach((id, g) => indexOf.set(id, { index: goodIndex[g]!, ...(deterministic && { deterministic: deterministic[g]! }) }));
      b++;
    }
    if (pool.active > 0) {
      for (const done of await pool.round()) {
        const { index, deterministic } = indexOf.get(done.id)!;
        indexOf.delete(done.id);
        ready.set(index, resultOf(run, index, done.probs, deterministic));
      }
    }
    for (; ready.has(next); next++) {
      yield ready.get(next)!;
      ready.delete(next);
    }
  }
}

/** A fixed number of passes: each batch's results in input order, with logit scores where asked for. */
async function* fixedResults(run: PredictRun): AsyncGenerator<ImageResult> {
  const { model, files, options, starts } = run;
  const withLogits = Boolean(options.logitScores) && !model.info.outputIsProbabilities;
  for (let b = 0; b < starts.length; b++) {
    const decoded = await run.nextBatch(b);
    const good = decoded.filter((d): d is Float32Array => d instanceof Float32Array);
    const { probs, deterministic, logits } = await batchProbabilities(run, good, withLogits);
    let g = 0;
    for (let i = 0; i < decoded.length; i++) {
      const index = starts[b]! + i;
      const item = decoded[i]!;
      if (item instanceof Float32Array) {
        const det = deterministic?.[g];
        const result = resultOf(run, index, probs[g]!, det);
        if (logits && result.status === 'ok') {
          const det = logits.deterministic?.[g];
          result.logitScores = { ...logitScores(logits.mc[g]!, model.info.classes), ...(det && { deterministic: logitScores(det, model.info.classes) }) };
        }
        g++;
        yield result;
      } else yield { file: files[index]!, index, status: 'error', error: item };
    }
  }
}

/** The passes' probabilities of the decoded images `good` (and their deterministic pass), with the raw scores kept when `withLogits`. */
async function batchProbabilities(
  run: PredictRun,
  good: Float32Array[],
  withLogits: boolean,
): Promise<{ probs: Float64Array[]; deterministic: Float64Array[] | undefined; logits: { mc: Float64Array[]; deterministic?: Float64Array[] } | undefined }> {
  const { model, options } = run;
  const settings = { passes: options.passes, seed: options.seed, deterministic: options.deterministic ?? false };
  if (withLogits && good.length > 0) {
    // the same runs as predict's, with the raw outputs kept: predict is predictScores then probabilities
    const logits: { mc: Float64Array[]; deterministic?: Float64Array[] } = { mc: await model.predictScores(good, settings) };
    if (options.withDeterministic) logits.deterministic = await model.predictScores(good, { passes: 1, seed: options.seed, deterministic: true });
    return { probs: logits.mc.map((s) => model.probabilities(s)), deterministic: logits.deterministic?.map((s) => model.probabilities(s)), logits };
  }
  const probs = good.length === 0 ? [] : await model.predict(good, settings);
  return { probs, deterministic: await deterministicOf(run, good), logits: undefined };
}

/** Index of the first pass with a non-finite probability, or undefined. probs: [T, C]. */
function firstNonFinitePass(probs: Float64Array, classes: number): number | undefined {
  for (let i = 0; i < probs.length; i++) if (!Number.isFinite(probs[i]!)) return Math.floor(i / classes);
  return undefined;
}

/** Decodes files with at most `decodeConcurrency` in flight and the pixel budget; failures come back as reasons, in order. */
async function decodeAll<T>(
  files: string[],
  sizes: readonly number[] | undefined,
  options: Pick<PredictFilesOptions, 'decodeConcurrency' | 'preprocess' | 'knownErrors'>,
  budget: PixelBudget,
  load: (file: string, header: ImageHeader | undefined) => Promise<T>,
): Promise<(T | string)[]> {
  const out = new Array<T | string>(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const file = files[i]!;
      const known = options.knownErrors?.get(file);
      if (known !== undefined) {
        out[i] = known;
        continue;
      }
      const { pixels, header } = await pixelsToBudget(file, sizes?.[i]);
      const release = await budget.acquire(Math.min(pixels, options.preprocess.pixelLimit));
      try {
        out[i] = await load(file, header);
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        out[i] = error.reason;
      } finally {
        release();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.decodeConcurrency, files.length)) }, worker));
  return out;
}

/** Files up to this size are not opened for their header: they count as SMALL_FILE_PIXELS_PER_BYTE pixels a byte. */
const SMALL_FILE_BYTES = 256 * 1024;
/** 64 pixels a byte: above what photos compress to (JPEG about 2-10, PNG 2-3), so a small file is not undercounted unless it is nearly blank. */
const SMALL_FILE_PIXELS_PER_BYTE = 64;

/**
 * Pixels an image will take to decode: from its header (sharp reads it, no decode) for a large
 * file, which the decode then uses too; a cheap upper estimate from its size for a small one, whose
 * header read would cost as much as the budget saves (measured 5% of the run on 2,000 small PNGs).
 */
async function pixelsToBudget(file: string, size: number | undefined): Promise<{ pixels: number; header?: ImageHeader }> {
  let bytes = size ?? -1;
  if (bytes < 0) {
    try {
      bytes = (await stat(fsPath(file))).size;
    } catch {
      return { pixels: 0 }; // the decode reports why
    }
  }
  if (bytes <= SMALL_FILE_BYTES) return { pixels: bytes * SMALL_FILE_PIXELS_PER_BYTE };
  const header = await imageHeader(file);
  return header ? { pixels: header.width * header.height, header } : { pixels: 0 };
}

/** A counting semaphore over pixels: waiters go in order; a request above the whole budget runs alone. */
export class PixelBudget {
  private inUse = 0;
  private readonly waiting: { pixels: number; start: () => void }[] = [];

  constructor(private readonly total: number) {}

  acquire(pixels: number): Promise<() => void> {
    return new Promise((resolve) => {
      const start = () => {
        this.inUse += pixels;
        resolve(() => {
          this.inUse -= pixels;
          this.wake();
        });
      };
      this.waiting.push({ pixels, start });
      this.wake();
    });
  }

  private wake(): void {
    while (this.waiting.length > 0) {
      const first = this.waiting[0]!;
      if (this.inUse > 0 && this.inUse + first.pixels > this.total) return;
      this.waiting.shift();
      first.start();
    }
  }
}

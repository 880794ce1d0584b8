import { describeError } from './errors.js';
import type { McModel } from './engine/mc-model.js';
import { loadImageTensor } from './preprocess/decode.js';
import type { PreprocessSpec } from './preprocess/spec.js';
import { summarize, type McSummary } from './stats/aggregate.js';

export interface PredictFilesOptions {
  passes: number;
  seed: number;
  deterministic?: boolean;
  /** Images per engine call (each becomes `passes` rows). */
  batchSize: number;
  /** Images decoded at once. */
  decodeConcurrency: number;
  preprocess: PreprocessSpec;
  /** Keep the per-pass probabilities in each result ([T, C]). */
  keepPasses?: boolean;
}

export type ImageResult =
  | { file: string; index: number; status: 'ok'; summary: McSummary; passProbs?: Float64Array }
  | { file: string; index: number; status: 'error'; error: string };

/**
 * Yields one result per file, in input order. Decoding of the next batch overlaps inference of
 * the current one; memory holds at most two batches whatever the number of files.
 * A file that cannot be decoded yields an error result; model errors are thrown.
 */
export async function* predictFiles(model: McModel, files: readonly string[], options: PredictFilesOptions): AsyncGenerator<ImageResult> {
  const batchSize = Math.max(1, options.batchSize);
  const starts: number[] = [];
  for (let s = 0; s < files.length; s += batchSize) starts.push(s);
  const decode = (start: number) => decodeAll(files.slice(start, start + batchSize), options.preprocess, options.decodeConcurrency);
  let pending = starts.length > 0 ? decode(starts[0]!) : undefined;
  for (let b = 0; b < starts.length; b++) {
    const decoded = await pending!;
    pending = b + 1 < starts.length ? decode(starts[b + 1]!) : undefined;
    const good = decoded.filter((d): d is Float32Array => d instanceof Float32Array);
    const probs = good.length > 0
      ? await model.predict(good, { passes: options.passes, seed: options.seed, deterministic: options.deterministic ?? false })
      : [];
    let g = 0;
    for (let i = 0; i < decoded.length; i++) {
      const index = starts[b]! + i;
      const file = files[index]!;
      const item = decoded[i]!;
      if (item instanceof Float32Array) {
        const passProbs = probs[g++]!;
        const summary = summarize(passProbs, model.info.classes);
        yield options.keepPasses ? { file, index, status: 'ok', summary, passProbs } : { file, index, status: 'ok', summary };
      } else {
        yield { file, index, status: 'error', error: item.message };
      }
    }
  }
}

/** Decodes files with at most `limit` in flight; failures come back as Error values, in order. */
async function decodeAll(files: string[], spec: PreprocessSpec, limit: number): Promise<(Float32Array | Error)[]> {
  const out: (Float32Array | Error)[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      try {
        out[i] = await loadImageTensor(files[i]!, spec);
      } catch (error) {
        out[i] = error instanceof Error ? error : new Error(describeError(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, files.length)) }, worker));
  return out;
}

/**
 * A segmentation model over files: each image decoded (the pipeline's batches and budgets), its
 * passes reduced pixel by pixel as they come (reduce.ts), one result per file in input order.
 */
import type { McModel } from '../engine/mc-model.js';
import { UsageError } from '../errors.js';
import { decodeBatches, type PredictFilesOptions } from '../pipeline.js';
import { decodeToPixels, imageHeader, type ImageHeader } from '../preprocess/decode.js';
import { pixelsToTensor } from '../preprocess/tensor.js';
import type { PixelMaps } from './maps.js';
import { PassReducer } from './reduce.js';

/** What the maps need of a model: its map, classes and output kind, and its passes one row at a time. McModel is one. */
export type MapModel = Pick<McModel, 'forEachPass' | 'forEachMapPass' | 'hasMapStatistics'> & {
  info: Pick<McModel['info'], 'classes' | 'outputIsProbabilities' | 'map' | 'path'>;
};

/** How predictMapFiles runs: predictFiles' options that apply to maps. */
export type PredictMapsOptions = Pick<
  PredictFilesOptions,
  | 'passes'
  | 'seed'
  | 'deterministic'
  | 'batchSize'
  | 'decodeConcurrency'
  | 'decodePixelBudget'
  | 'preprocess'
  | 'knownErrors'
  | 'fileSizes'
  | 'withDeterministic'
> & {
  /** Keep each image's RGB pixels at the model's input size (for overlays). */
  keepPixels?: boolean;
  /** Read each image's own size (upright) from its header, for maps at that size. */
  originalSize?: boolean;
  /** Bytes the batch's per-pixel sums may take (default 256 MiB): a batch holds fewer images when their maps are large. */
  mapBudgetBytes?: number;
};

/** One image's maps (and its dropout-off maps when asked), its upright size as its header tells, or why it failed. */
export type MapResult =
  | {
      file: string;
      index: number;
      status: 'ok';
      maps: PixelMaps;
      deterministic?: PixelMaps;
      /** The file's own size, upright (EXIF applied); absent when its header did not say. */
      original?: { width: number; height: number };
      /** RGB [height, width, 3] at the model's input size, with keepPixels. */
      pixels?: Uint8Array;
    }
  | { file: string; index: number; status: 'error'; error: string };

const DEFAULT_MAP_BUDGET = 256 * 1024 * 1024;

interface Decoded {
  tensor: Float32Array;
  pixels?: Uint8Array;
  original?: { width: number; height: number };
}

/** Yields one result per file, in input order; a file that does not decode or whose passes are not finite is an error result. */
export async function* predictMapFiles(model: MapModel, files: readonly string[], options: PredictMapsOptions): AsyncGenerator<MapResult> {
  const map = model.info.map;
  if (!map) throw new UsageError(`${model.info.path} is a classifier: predictMapFiles runs models whose class scores are a map`);
  // what one image holds while its passes run (reduce.ts): float64 sums and uint32 votes per class and pixel, float64 entropy sums per pixel
  const pixels = map.height * map.width;
  const perImage = model.info.classes * pixels * 12 + pixels * 8;
  const batchSize = Math.max(1, Math.min(options.batchSize, Math.floor((options.mapBudgetBytes ?? DEFAULT_MAP_BUDGET) / perImage)));
  const load = async (file: string, header: ImageHeader | undefined): Promise<Decoded> => {
    const pixels = await decodeToPixels(file, options.preprocess, header);
    const size = options.originalSize ? (header ?? (await imageHeader(file))) : undefined;
    return {
      tensor: pixelsToTensor(pixels, options.preprocess),
      ...(options.keepPixels && { pixels }),
      ...(size && { original: { width: size.width, height: size.height } }),
    };
  };
  const batches = decodeBatches(files, { ...options, batchSize }, load);
  for (let b = 0; b < batches.starts.length; b++) {
    const decoded = await batches.nextBatch(b);
    const good = decoded.filter((d): d is Decoded => typeof d !== 'string');
    const mc = await reduced(model, good, options, options.deterministic ?? false);
    const det = options.withDeterministic && !options.deterministic ? await reduced(model, good, options, true) : undefined;
    let g = 0;
    for (const [i, item] of decoded.entries()) {
      const index = batches.starts[b]! + i;
      if (typeof item === 'string') yield { file: files[index]!, index, status: 'error', error: item };
      else {
        yield resultOf(files[index]!, index, item, mc[g]!, det?.[g]);
        g++;
      }
    }
  }
}

/** The passes of the decoded images, reduced per pixel. */
async function reduced(model: MapModel, good: readonly Decoded[], options: PredictMapsOptions, deterministic: boolean): Promise<PassReducer[]> {
  const map = model.info.map!;
  const kind = { layout: map.layout, probabilities: model.info.outputIsProbabilities, binary: map.binary };
  const reducers = good.map(() => new PassReducer(model.info.classes, map.height, map.width, kind));
  if (good.length === 0) return reducers;
  const tensors = good.map((d) => d.tensor);
  const settings = { passes: options.passes, seed: options.seed, deterministic };
  // onnxruntime's statistics where the session has them (a multi-class map), else the raw scores reduced here
  if (model.hasMapStatistics)
    await model.forEachMapPass(tensors, settings, (image, _pass, s) => reducers[image]!.addStatistics(s.probabilities, s.entropy, s.argmax));
  else await model.forEachPass(tensors, settings, (image, _pass, row) => reducers[image]!.add(row));
  return reducers;
}

function resultOf(file: string, index: number, decoded: Decoded, mc: PassReducer, det: PassReducer | undefined): MapResult {
  const bad = mc.nonFinitePass ?? det?.nonFinitePass;
  if (bad !== undefined) return { file, index, status: 'error', error: `model output is not finite (NaN or infinity) in pass ${bad + 1}` };
  return {
    file,
    index,
    status: 'ok',
    maps: mc.maps(),
    ...(det && { deterministic: det.maps() }),
    ...(decoded.original && { original: decoded.original }),
    ...(decoded.pixels && { pixels: decoded.pixels }),
  };
}

/**
 * evaluate and report on a segmentation model: T passes and one pass with dropout off per image,
 * each image's maps against its truth mask (a class-index PNG at the same path below the masks
 * folder as the image below its input folder), pixel metrics streamed (segmentation/metrics.ts),
 * and the most uncertain images kept for the report's side-by-side view.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { McModel } from '../../engine/mc-model.js';
import { Members } from '../../ensemble/members.js';
import { InputError, param, UsageError } from '../../errors.js';
import { readInputBytes } from '../../io/read-file.js';
import { checkInputsAreNotOutputs, refuseStdinTwice } from '../../io/targets.js';
import { encodePng } from '../../io/png.js';
import { readClassIndexPng } from '../../io/png.js';
import type { PixelMaps } from '../../segmentation/maps.js';
import { SegmentationEvaluation, type SegmentationMetrics } from '../../segmentation/metrics.js';
import { vocPalette } from '../../segmentation/palette.js';
import { predictMapFiles } from '../../segmentation/predict-files.js';
import { resizeMaps } from '../../segmentation/resample.js';
import { freshSeed } from '../../stats/random.js';
import type { RunHooks } from '../hooks.js';
import { gatherInputs } from '../inputs.js';
import { labelsFor, labelsFromModel } from '../labels.js';
import type { LabeledRunConfig } from '../labeled-run.js';
import { mapStems } from './stems.js';

/** An evaluation of a segmentation model: the labeled run's settings, the masks folder, the ignored truth value, how many images the report shows. */
export interface MapEvaluateConfig extends Omit<LabeledRunConfig, 'truthFile' | 'calibration' | 'members' | 'membersFiles' | 'views'> {
  /** Truth masks: `<masks>/<stem>.png` for the image whose maps are `<stem>.*` (its path below its input folder, no extension). */
  masks: string;
  /** Truth value of pixels left out (VOC's 255); none by default. */
  ignoreIndex?: number;
  /** The most uncertain images (by mean mutual information) the report shows side by side; default 8. */
  shown?: number;
  version: string;
}

/** One of the most uncertain images: its scores and its maps as PNG (label in the palette's colours, entropy scaled to ln C). */
export interface ShownImage {
  path: string;
  mutual_information: number;
  entropy: number;
  pixel_accuracy: number;
  label_png: Buffer;
  entropy_png: Buffer;
  truth_png: Buffer;
}

/** What evaluate prints and writes (JSON) and report renders for a segmentation model. */
export interface MapEvaluationReport {
  kind: 'segmentation';
  tool: { name: 'mc-dropout'; version: string };
  model: { path: string; sha256: string; classes: number; map: { height: number; width: number } };
  labels: string[];
  passes: number;
  seed: number;
  ignore_index: number | null;
  counts: { images: number; evaluated: number; without_mask: number; failed: number };
  deterministic: SegmentationMetrics;
  mc: SegmentationMetrics;
  shown: ShownImage[];
}

/** Runs the model over the images with masks; throws UsageError when no image has one. */
export async function runMapEvaluation(config: MapEvaluateConfig, hooks: RunHooks = {}): Promise<MapEvaluationReport> {
  const warn = hooks.onWarning ?? (() => {});
  if (config.masks === '' || !existsSync(config.masks) || !statSync(config.masks).isDirectory())
    throw new UsageError(`The masks folder '${config.masks}' is not a folder: give the folder of truth masks (${param('masks')})`);
  const read = [
    { role: 'the model', path: config.model },
    { role: 'the list of inputs', path: config.list?.file },
    { role: 'the labels file', path: config.labelsFile },
  ];
  checkInputsAreNotOutputs(read, config.outputs ?? new Map());
  refuseStdinTwice(read);
  const { inputs, walked } = await gatherInputs(config.paths, config.list, config.outputs, { warn });
  const stems = mapStems(walked.files, inputs);
  const maskOf = (i: number) => path.join(config.masks, ...`${stems[i]!}.png`.split('/'));
  const withMask = walked.files.flatMap((_, i) => (existsSync(maskOf(i)) ? [i] : []));
  // a mask is read: nothing this command writes may be one
  checkInputsAreNotOutputs(
    withMask.map((i) => ({ role: 'a truth mask', path: maskOf(i) })),
    config.outputs ?? new Map(),
  );
  if (withMask.length === 0)
    throw new UsageError(
      `None of the ${walked.files.length} images has a mask in ${config.masks}: the mask of images/a/b.jpg (input folder images) is ${path.join(config.masks, 'a', 'b.png')}`,
    );
  const missing = walked.files.flatMap((file, i) => (withMask.includes(i) ? [] : [`${file} (${maskOf(i)})`]));
  if (missing.length > 0)
    warn(
      `${missing.length} ${missing.length === 1 ? 'image has' : 'images have'} no mask and ${missing.length === 1 ? 'is' : 'are'} left out: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}`,
    );
  const members = await Members.load([config.model], { ...config.load, onWarning: warn }, config.preprocess);
  try {
    const model = members.list[0]!.model;
    const labels = config.labelsFile
      ? labelsFor(config.labelsFile, members.classes, warn)
      : labelsFromModel(members.labels, members.classes, config.model, warn);
    const seed = config.seed ?? freshSeed();
    const evaluated = await evaluateImages(
      config,
      model,
      members.list[0]!.preprocess,
      seed,
      { files: withMask.map((i) => walked.files[i]!), masks: withMask.map(maskOf) },
      { warn, hooks },
    );
    const { info } = model;
    return {
      kind: 'segmentation',
      tool: { name: 'mc-dropout', version: config.version },
      model: { path: config.model, sha256: info.sha256, classes: info.classes, map: { height: info.map!.height, width: info.map!.width } },
      labels,
      passes: config.passes,
      seed,
      ignore_index: config.ignoreIndex ?? null,
      counts: { images: walked.files.length, evaluated: evaluated.count, without_mask: walked.files.length - withMask.length, failed: evaluated.failed },
      ...resultsOf(evaluated, withMask.length),
      shown: evaluated.shown,
    };
  } finally {
    await members.dispose();
  }
}

/** Both evaluations' metrics, or why there are none: every image failed, or every pixel was left out. */
function resultsOf(
  evaluated: { mc: SegmentationEvaluation; deterministic: SegmentationEvaluation; count: number },
  images: number,
): { mc: SegmentationMetrics; deterministic: SegmentationMetrics } {
  if (evaluated.count === 0) throw new InputError('the masks', `none of the ${images} images with a mask could be evaluated (each failure is named above)`);
  try {
    return { deterministic: evaluated.deterministic.result(), mc: evaluated.mc.result() };
  } catch {
    throw new UsageError(`Every pixel of the ${evaluated.count} evaluated images is ${param('ignoreIndex')} in its mask: there is nothing to score`);
  }
}

/** Each image's MC and dropout-off maps against its mask (resized to the mask's size when they differ), and the most uncertain images. */
async function evaluateImages(
  config: MapEvaluateConfig,
  model: McModel,
  preprocess: Members['list'][number]['preprocess'],
  seed: number,
  images: { files: string[]; masks: string[] },
  context: { warn: (message: string) => void; hooks: RunHooks },
): Promise<{ mc: SegmentationEvaluation; deterministic: SegmentationEvaluation; shown: ShownImage[]; count: number; failed: number }> {
  const { classes } = model.info;
  const options = { ...(config.ignoreIndex !== undefined && { ignoreIndex: config.ignoreIndex }) };
  const mc = new SegmentationEvaluation(classes, options);
  const deterministic = new SegmentationEvaluation(classes, options);
  const shown: ShownImage[] = [];
  let [count, failed] = [0, 0];
  context.hooks.onStart?.(images.files.length);
  const results = predictMapFiles(model, images.files, {
    passes: config.passes,
    seed,
    withDeterministic: true,
    batchSize: config.batchSize,
    decodeConcurrency: config.decodeConcurrency,
    ...(config.decodePixelBudget !== undefined && { decodePixelBudget: config.decodePixelBudget }),
    preprocess,
    originalSize: true,
  });
  for await (const result of results) {
    const maskFile = images.masks[result.index]!;
    try {
      if (result.status === 'error') throw new InputError(result.file, result.error);
      const truth = readClassIndexPng(readInputBytes(maskFile, { what: 'the truth mask', expected: 'give a class-index PNG' }), maskFile);
      const at = (maps: PixelMaps) => {
        if (maps.width === truth.width && maps.height === truth.height) return maps;
        const own = result.original;
        if (own && (own.width !== truth.width || own.height !== truth.height))
          throw new InputError(
            maskFile,
            `the mask is ${truth.width}x${truth.height} (width x height), the image ${own.width}x${own.height} upright and the maps ${maps.width}x${maps.height}: a mask is at the image's size or the maps'; check that it belongs to this image and is not rotated`,
          );
        if (preprocess.resize !== 'stretch')
          throw new UsageError(
            `${maskFile} is ${truth.width}x${truth.height}, the maps ${maps.width}x${maps.height}, and the preprocessing (${preprocess.resize}) does not map the whole image: give masks at the maps' size, or preprocess with a plain resize`,
          );
        return resizeMaps(maps, truth.height, truth.width);
      };
      const [maps, det] = [at(result.maps), at(result.deterministic!)];
      // counted for both or for neither: a bad truth value throws from the first add, before any count
      deterministic.add(det, truth.indices, maskFile);
      mc.add(maps, truth.indices, maskFile);
      count++;
      keepShown(shown, config.shown ?? 8, result.file, maps, truth.indices, config.ignoreIndex);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      failed++;
      context.warn(`${error.message}: left out`);
    }
    context.hooks.onProgress?.(count + failed, failed);
    if (context.hooks.signal?.aborted) throw new UsageError('stopped');
  }
  return { mc, deterministic, shown, count, failed };
}

/** Keeps the `most` images with the highest mean mutual information, with their maps as PNG. */
function keepShown(shown: ShownImage[], most: number, file: string, maps: PixelMaps, truth: Uint16Array, ignoreIndex: number | undefined): void {
  const pixels = maps.width * maps.height;
  let [mi, h, right, counted] = [0, 0, 0, 0];
  for (let p = 0; p < pixels; p++) {
    mi += maps.mutualInformation[p]!;
    h += maps.entropy[p]!;
    if (truth[p] === ignoreIndex) continue;
    counted++;
    if (truth[p] === maps.label[p]) right++;
  }
  const meanMi = mi / pixels;
  if (shown.length >= most && meanMi <= shown[shown.length - 1]!.mutual_information) return;
  const { width, height, classes } = maps;
  const palette = vocPalette(256);
  const indexed = (values: Uint16Array) => encodePng({ kind: 'indexed8', width, height, data: Uint8Array.from(values, (v) => Math.min(v, 255)), palette });
  const scaled = Uint16Array.from(maps.entropy, (v) => Math.min(65535, Math.round((v / Math.log(classes)) * 65535)));
  shown.push({
    path: file,
    mutual_information: meanMi,
    entropy: h / pixels,
    pixel_accuracy: counted > 0 ? right / counted : NaN,
    label_png: indexed(maps.label),
    entropy_png: encodePng({ kind: 'gray16', width, height, data: scaled }),
    truth_png: indexed(truth),
  });
  shown.sort((a, b) => b.mutual_information - a.mutual_information);
  if (shown.length > most) shown.pop();
}

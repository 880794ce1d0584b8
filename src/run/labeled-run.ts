/** A run of the model over labeled images, as evaluate and calibrate start it: inputs, model, labels, truth, seed, preprocessing. */
import type { McModel } from '../engine/mc-model.js';
import { Members } from '../ensemble/members.js';
import { predictEnsembleFiles } from '../ensemble/predict-files.js';
import { runName, runViews, viewNames } from '../ensemble/views.js';
import type { View } from '../preprocess/views.js';
import type { ImageResult } from '../io/rows.js';
import { freshSeed } from '../stats/random.js';
import type { LoadOptions } from '../engine/options.js';
import { param, UsageError } from '../errors.js';
import { readTruth, type Truth, type TruthSource } from '../evaluate/truth.js';
import type { WalkResult } from '../io/walk.js';
import type { PreprocessOverrides, PreprocessSpec } from '../preprocess/spec.js';
import { predictFiles, type PredictFilesOptions } from '../pipeline.js';
import { gatherInputs } from './inputs.js';
import { checkInputsAreNotOutputs, refuseStdinTwice } from '../io/targets.js';
import { labelsFor, labelsFromModel } from './labels.js';

/** A run of the model over labeled images, as evaluate and calibrate make it: inputs, truth, model and load options, T and seed. */
export interface LabeledRunConfig {
  paths: string[];
  /** Identities (device:inode) of the files the caller will write, with their names: an input image that is one is refused. */
  outputs?: ReadonlyMap<string, string>;
  list?: { file: string; separator: 'lines' | 'nul' };
  model: string;
  /** An ensemble: every member's ONNX file, two or more (`model` is the first of them). */
  members?: string[];
  /** The files the members were listed in (the caller reads them), named so that no output of the run may be one. */
  membersFiles?: string[];
  /** Test-time augmentation: the views every member sees besides its own preprocessing (preprocess/views.ts parseViews: `flip,ten-crop,scale:1.25`). */
  views?: string;
  load: LoadOptions;
  /** MC passes per image. */
  passes: number;
  /** Seed of the masks (default: fresh, recorded). */
  seed?: number;
  batchSize: number;
  decodeConcurrency: number;
  decodePixelBudget?: number;
  preprocess: PreprocessOverrides;
  /** Class labels file (one per line); default: the model's metadata, else class indices. */
  labelsFile?: string;
  /** A CSV of path,label; default: the class-per-folder layout of the input folders. */
  truthFile?: string;
  /** A calibration the run applies (evaluate): one more file that may come from standard input. */
  calibration?: string;
}

/**
 * The British spelling of LabeledRunConfig, kept for one release.
 * @deprecated Use LabeledRunConfig.
 */
export type LabelledRunConfig = LabeledRunConfig;

/** Where the true classes come from: a CSV of path,label, else each image's folder below the input folders. */
export function truthSource(truthFile: string | undefined, roots: readonly string[]): TruthSource {
  return truthFile ? { kind: 'csv', file: truthFile } : { kind: 'folders', roots };
}

/** The error for a run in which no image has a true class, saying how to give them. */
export function noTruth(source: TruthSource, images: number): UsageError {
  return new UsageError(
    source.kind === 'csv'
      ? `None of the ${images} images is listed in ${source.file}: its paths are read relative to its own folder or the working directory`
      : `None of the ${images} images has a true class: put each class's images in a folder named after the class (torchvision's ImageFolder layout), or give a CSV of path,label with ${param('truthFile')}`,
  );
}

/**
 * Walks the inputs, loads the model and reads the true classes; refuses a run with none when
 * `requireTruth`. The caller disposes the model.
 */
export async function openLabeledRun(config: LabeledRunConfig, warn: (message: string) => void, requireTruth: boolean): Promise<LabeledRun> {
  const read = [
    ...(config.members ?? [config.model]).map((member) => ({ role: config.members ? 'a member of the ensemble' : 'the model', path: member })),
    { role: 'the list of inputs', path: config.list?.file },
    ...(config.membersFiles ?? []).map((file) => ({ role: 'the list of members', path: file })),
    { role: 'the labels file', path: config.labelsFile },
    { role: 'the truth file', path: config.truthFile },
    { role: 'the calibration', path: config.calibration },
  ];
  // before any work: nothing the command writes may be a file it reads, and stdin is read once
  checkInputsAreNotOutputs(read, config.outputs ?? new Map());
  refuseStdinTwice(read);
  const { inputs, walked } = await gatherInputs(config.paths, config.list, config.outputs, { warn });
  const members = await Members.load(config.members ?? [config.model], { ...config.load, onWarning: warn }, config.preprocess);
  try {
    const { classes } = members;
    const labels = config.labelsFile
      ? labelsFor(config.labelsFile, classes, warn)
      : labelsFromModel(members.labels, classes, members.single ? config.model : 'the ensemble', warn);
    const source = truthSource(config.truthFile, inputs);
    const truth = readTruth(source, walked.files, labels);
    if (truth.size === 0 && requireTruth) throw noTruth(source, walked.files.length);
    const model = members.list[0]!.model;
    const views = runViews(config.views, members, warn);
    const ensemble = members.single && views.length === 1 ? undefined : { views, passes: members.stochastic ? config.passes : 1 };
    const identity = { sha256: members.identity(viewNames(views)), name: runName(members.single ? config.model : 'the ensemble', views) };
    return { members, model, identity, walked, labels, truth, seed: config.seed ?? freshSeed(), preprocess: members.list[0]!.preprocess, ensemble };
  } catch (error) {
    await members.dispose();
    throw error;
  }
}

/** A labeled run, opened: its members (one for a plain run; `model` is the lead), images, labels, truth, seed, the lead's preprocessing, and for an ensemble its views and T. */
export interface LabeledRun {
  members: Members;
  model: McModel;
  /** What calibrations and records know the run's model by (Members.identity), and what messages call it. */
  identity: { sha256: string; name: string };
  walked: WalkResult;
  labels: string[];
  truth: Truth;
  seed: number;
  preprocess: PreprocessSpec;
  /** Several members (or views): the views and T of a stochastic member (1 when none is). */
  ensemble: { views: readonly View[]; passes: number } | undefined;
}

/** The passes of `files` in a labeled run: the model's, or every member's on every view (each member's own outputs kept when `keepMembers`). */
export function labeledPasses(
  run: LabeledRun,
  files: readonly string[],
  options: PredictFilesOptions & { keepMembers?: boolean },
): AsyncGenerator<ImageResult> {
  if (!run.ensemble) return predictFiles(run.model, files, options);
  const { logitScores: _, adaptive: __, ...fixed } = options;
  return predictEnsembleFiles(run.members, files, { ...fixed, views: run.ensemble.views });
}

/** predictFiles' options for a labeled run's images (every pass kept): its T, seed, batching and preprocessing, and what the walk knows of the files. */
export function labeledPassOptions(
  config: LabeledRunConfig,
  seed: number,
  preprocess: PreprocessSpec,
  known: { errors: ReadonlyMap<string, string>; sizes: readonly number[] },
): PredictFilesOptions {
  return {
    passes: config.passes,
    seed,
    batchSize: config.batchSize,
    decodeConcurrency: config.decodeConcurrency,
    ...(config.decodePixelBudget !== undefined && { decodePixelBudget: config.decodePixelBudget }),
    preprocess,
    knownErrors: known.errors,
    fileSizes: known.sizes,
    keepPasses: true,
  };
}

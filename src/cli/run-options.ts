import os from 'node:os';
import path from 'node:path';
import type { LoadOptions } from '../engine/options.js';
import { UsageError } from '../errors.js';
import { readMemberList } from '../io/member-list.js';
import type { ChannelOrder, Interpolation, ResizeMode } from '../model/metadata.js';
import { BUNDLED_MODEL } from '../paths.js';
import type { PreprocessOverrides } from '../preprocess/spec.js';
import type { LabeledRunConfig } from '../run/labeled-run.js';

/** The options every command that runs a model over images shares (see withRunOptions in main.ts). */
export interface RunCliOptions {
  /** `-m`, repeatable; undefined: the bundled model (or `--members` alone). */
  model?: string[];
  /** Files listing members, one ONNX path per line (repeatable). */
  members?: string[];
  /** Test-time views, as parseViews reads them (repeatable: the lists are joined). */
  tta?: string[];
  batchSize: number;
  device: string;
  seed?: number;
  labels?: string;
  quiet?: boolean;
  progress: boolean;
  dropout: 'auto' | 'force';
  dropoutRate?: number;
  threads: number;
  maxRows?: number;
  trunkReuse: 'auto' | 'off';
  /** false with --no-cache. */
  cache: boolean;
  list?: string;
  list0?: string;
  modelOutput?: string;
  colorProfile: 'ignore' | 'convert';
  size?: { height: number; width: number };
  resize?: ResizeMode;
  interpolation?: Interpolation;
  resizeEngine: 'exact' | 'fast';
  cropFraction?: number;
  mean?: number[];
  std?: number[];
  channelOrder?: ChannelOrder;
  alpha: 'remove' | 'flatten';
  background?: [number, number, number];
  maxPixels?: number;
  decodeConcurrency: number;
  decodeMegapixels: number;
}

/** The models a run uses: every `-m` then every line of `--members`; the bundled model when neither is given. */
export function modelsOf(options: Pick<RunCliOptions, 'model' | 'members'>): string[] {
  const models = [...(options.model ?? []), ...(options.members ?? []).flatMap(readMemberList)];
  if (options.members !== undefined && models.length === 0)
    throw new UsageError(`The list of members ${options.members.join(', ')} names no model: give one ONNX path per line`);
  return models.length > 0 ? models : [BUNDLED_MODEL];
}

/** The model and, for several, the members of an ensemble, as run configs take them. */
export function modelConfig(options: Pick<RunCliOptions, 'model' | 'members'>): { model: string; members?: string[]; membersFiles?: string[] } {
  const models = modelsOf(options);
  return { model: models[0]!, ...(models.length > 1 && { members: models }), ...(options.members !== undefined && { membersFiles: options.members }) };
}

/** The test-time views asked for, as run configs take them. */
export function viewsConfig(options: Pick<RunCliOptions, 'tta'>): { views?: string } {
  return options.tta !== undefined ? { views: options.tta.join(',') } : {};
}

/** The preprocessing flags over the model's metadata. */
export function preprocessOverrides(options: RunCliOptions): PreprocessOverrides {
  return {
    alpha: options.alpha,
    resizeEngine: options.resizeEngine,
    colorProfile: options.colorProfile,
    ...(options.resize && { resize: options.resize }),
    ...(options.interpolation && { interpolation: options.interpolation }),
    ...(options.cropFraction !== undefined && { cropFraction: options.cropFraction }),
    ...(options.mean && { mean: options.mean }),
    ...(options.std && { std: options.std }),
    ...(options.channelOrder && { channelOrder: options.channelOrder }),
    ...(options.background && { background: options.background }),
    ...(options.maxPixels !== undefined && { pixelLimit: options.maxPixels }),
  };
}

/** How the model loads: device, dropout, threads, memory. */
export function loadOptions(options: RunCliOptions, allowDeterministic: boolean): LoadOptions {
  return {
    device: options.device,
    dropout: options.dropout,
    ...(options.dropoutRate !== undefined && { dropoutRate: options.dropoutRate }),
    ...(options.size && { inputSize: options.size }),
    ...(options.modelOutput !== undefined && { output: options.modelOutput }),
    threads: options.threads,
    // decoders share the cores with inference
    idleThreadsSpin: false,
    trunkReuse: options.trunkReuse,
    ...(options.maxRows !== undefined && { maxRowsPerRun: options.maxRows }),
    ...cacheOption(options.cache, process.env),
    allowDeterministic,
  };
}

/**
 * Where loads keep what they learn of a model (LoadOptions.cacheFolder): MC_DROPOUT_CACHE when it
 * names a folder (relative: to the working directory), none with --no-cache or MC_DROPOUT_CACHE=off
 * (or 0, false, no; any case), else mc-dropout/ in the user's cache folder ($XDG_CACHE_HOME, or ~/.cache).
 */
export function cacheOption(cache: boolean, env: NodeJS.ProcessEnv): { cacheFolder?: string } {
  const named = env.MC_DROPOUT_CACHE;
  if (!cache || (named !== undefined && /^(off|0|false|no)$/i.test(named.trim()))) return {};
  if (named) return { cacheFolder: path.resolve(named) };
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return { cacheFolder: path.join(base, 'mc-dropout') };
}

/** --list or --list0 as a path list. */
export function pathList(options: RunCliOptions): { list?: { file: string; separator: 'lines' | 'nul' } } {
  if (options.list && options.list0) throw new UsageError('Give --list or --list0, not both');
  if (options.list) return { list: { file: options.list, separator: 'lines' } };
  if (options.list0) return { list: { file: options.list0, separator: 'nul' } };
  return {};
}

/** The run over labeled images that evaluate, report and calibrate share, from their options (T from `times`). */
export function labeledRunConfig(paths: string[], options: RunCliOptions & { times: number; truth?: string }): LabeledRunConfig {
  return {
    paths,
    ...pathList(options),
    ...modelConfig(options),
    ...viewsConfig(options),
    load: loadOptions(options, false),
    passes: options.times,
    ...(options.seed !== undefined && { seed: options.seed }),
    batchSize: options.batchSize,
    decodeConcurrency: options.decodeConcurrency,
    decodePixelBudget: options.decodeMegapixels * 1_000_000,
    preprocess: preprocessOverrides(options),
    ...(options.labels && { labelsFile: options.labels }),
    ...(options.truth && { truthFile: options.truth }),
  };
}

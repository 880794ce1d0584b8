/** What a predict run is asked to do (PredictRunConfig) and what it did (RunOutcome). */
import type { LoadOptions } from '../../engine/options.js';
import type { PreprocessOverrides } from '../../preprocess/spec.js';
import type { AdaptiveRule } from '../../stats/adaptive.js';
import type { Shard } from '../shards.js';

/** A whole predict run as the CLI makes it: inputs, model and load options, passes, output file and format, shards, resume. */
export interface PredictRunConfig {
  /** Image files and folders named directly. */
  paths: string[];
  /** A file listing more paths: one per line (`#` comments), or NUL-separated. */
  list?: { file: string; separator: 'lines' | 'nul' };
  /** Finish with no rows, rather than refuse, when there are no input images. */
  allowEmpty: boolean;
  /** Run only this block of the input list, writing its own output (`out.shard-0003-of-0016.csv`). */
  shard?: Shard;
  model: string;
  /** An ensemble: every member's ONNX file, two or more (`model` is the first of them); each keeps its own preprocessing from its metadata. */
  members?: string[];
  /** The files the members were listed in (the caller reads them), named so that no output of the run may be one. */
  membersFiles?: string[];
  /** Test-time augmentation: the views every member sees besides its own preprocessing (preprocess/views.ts parseViews: `flip,ten-crop,scale:1.25`). */
  views?: string;
  load: LoadOptions;
  /** Passes per image, or 'auto' (adaptive T under `adaptive`, default DEFAULT_ADAPTIVE_RULE). */
  passes: number | 'auto';
  adaptive?: AdaptiveRule;
  seed?: number;
  deterministic: boolean;
  batchSize: number;
  decodeConcurrency: number;
  decodePixelBudget?: number;
  preprocess: PreprocessOverrides;
  /** Class labels file (one per line); default: the model's metadata, else class indices. */
  labelsFile?: string;
  topk: number;
  perClass: boolean;
  format: 'csv' | 'jsonl';
  /** Rows file; undefined or '-' for stdout. */
  output?: string;
  /** Metadata sidecar; default `<output>.meta.json` for a file output. */
  meta?: string;
  /** Every pass's probabilities as .npy (images x T x classes) with `<file>.paths.json` beside it. */
  savePasses?: string;
  resume: boolean;
  /** CSV: text cells that a spreadsheet would run as formulas (=, +, -, @) start with an apostrophe. */
  spreadsheetSafe?: boolean;
  /** A calibration file (calibrate wrote it for this model and preprocessing): tempered probabilities and prediction sets. */
  calibration?: string;
  /** A segmentation model's maps (`output` is then their folder): at the model's size or each image's own, an overlay, the uncertain-pixel threshold. */
  maps?: MapOptions;
  /** Version of the tool, recorded in the metadata. */
  version: string;
}

/** What a predict run did: images ok, failed and skipped, the seed, T and the passes the images used, and the time it took (s). */
export interface RunOutcome {
  ok: number;
  failed: number;
  skipped: number;
  todo: number;
  seconds: number;
  seed: number;
  /** T, or 'auto' for adaptive T. */
  passes: number | 'auto';
  /** Passes the images of this run used: mean, median, max (adaptive T makes them differ). */
  passStats: { mean: number; median: number; max: number };
  provider: string;
  trunkReuse: boolean;
  /** The run stopped early (the signal fired); rows so far are saved. */
  stopped: boolean;
  /** The output can be resumed (a regular file). */
  resumable: boolean;
  /** An ensemble's or TTA's run: how many members and views every image went through. */
  ensemble?: { members: number; views: number };
}

/** What a segmentation run writes besides its label and uncertainty maps. */
export interface MapOptions {
  /** 'model': maps at the model's output size (default); 'original': each image's own size, the mean probabilities resampled bilinearly before the argmax. */
  size?: 'model' | 'original';
  /** Also `<stem>.overlay.png`, the image with the label colours blended in. */
  overlay?: boolean;
  /** A pixel is uncertain when its entropy / ln(classes) exceeds this (default 0.5): the rows' uncertain_share. */
  uncertainAbove?: number;
}

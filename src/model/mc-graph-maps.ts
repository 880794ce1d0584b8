/**
 * The MC graph's statistics for a segmentation model: the same construction as a classifier's
 * (mc-graph.ts), per pixel. The class-score map of all T x batch rows becomes probabilities (a
 * softmax over the class axis, or a binary map's sigmoid as two classes), is reshaped to
 * [T, batch, ...map] and reduced over the passes; the outputs keep the model's layout.
 */
import type { OnnxGraph, TensorInfo } from './graph.js';
import { intAttribute as attribute, topTwoMargin, type GraphBuilder } from './graph-builder.js';
import { readMetadata, type Layout } from './metadata.js';
import { checkClassScores, imageLayoutOf, isSigmoidOutput, isSoftmaxOutput } from './signature.js';

/** A class-score map as the MC graph reads it. */
export interface McGraphMap {
  /** NCHW: scores [N, C, H, W], mean and std [batch, C, H, W]; NHWC: [N, H, W, C] and [batch, H, W, C]. */
  layout: Layout;
  /** One channel read as two classes: p(class 1) = sigmoid(z) (the value itself after a Sigmoid). */
  binary: boolean;
  /** The scores are probabilities already: a Softmax's output, or (binary) a Sigmoid's. */
  probabilities: boolean;
  /** The map's height and width as the output declares them (a name where dynamic). */
  height: number | string;
  width: number | string;
  /** Classes: the channels, or 2 for a binary map. */
  classes: number;
}

/**
 * The model's class-score output `scores` (4-D) read as a map, its layout that of the image input
 * `inputDims` (the metadata's, else guessed from where the 3 channels are), checked as every run
 * checks it (checkClassScores: ModelError where no class axis is fixed).
 */
export function scoreMapOf(source: OnnxGraph, inputDims: readonly (number | string | null)[], scores: TensorInfo): McGraphMap {
  const layout = imageLayoutOf(inputDims, readMetadata(source, 'the model'));
  const checked = checkClassScores(scores, 'the model', layout);
  const map = checked.map!;
  const dims = scores.dims!;
  const [h, w] = map.layout === 'NCHW' ? [dims[2], dims[3]] : [dims[1], dims[2]];
  return {
    layout: map.layout,
    binary: map.binary,
    probabilities: map.binary ? isSigmoidOutput(source, scores.name) : isSoftmaxOutput(source, scores.name),
    height: h ?? 'height',
    width: w ?? 'width',
    classes: checked.classes,
  };
}

/** The declared shape of MC graph output `name` for `map`: mean and std [batch, ...map] in its layout, the rest [batch, H, W]. */
export function mapOutputDims(name: string, batch: string, map: McGraphMap): (number | string)[] {
  const { height, width, classes } = map;
  if (name !== 'mean' && name !== 'std') return [batch, height, width];
  return map.layout === 'NCHW' ? [batch, classes, height, width] : [batch, height, width, classes];
}

/**
 * The per-pixel statistics of the map `scoreName` over all T x batch rows, each under its prefixed
 * output name: mean and std [batch, ...map]; entropy, expected entropy, mutual information,
 * label, confidence, variation ratio and margin [batch, H, W]. `opset`: the model's.
 */
export function addMapStatistics(build: GraphBuilder, opset: number, scoreName: string, map: McGraphMap, passes: number): void {
  const { node, float, reduce } = build;
  const one = float('one', 1);
  const p5 = passMaps(build, opset, scoreName, map, passes, one);
  // the class axis: of the passes [T, batch, ...map], then of the per-image maps [batch, ...map]
  const k = map.layout === 'NCHW' ? 2 : 4;
  const mean = reduce('ReduceMean', p5, [0], 'mean');
  const deviation = node('Sub', [p5, mean], 'deviation');
  const squared = node('Mul', [deviation, deviation], 'squared');
  node('Sqrt', [reduce('ReduceMean', squared, [0], 'variance')], 'std');
  const tiny = float('tiny', 1e-30);
  // 0 log 0 = 0: a probability floored at 1e-30 before the log, times the probability itself
  const plogp = (p: string, out: string) => node('Mul', [p, node('Log', [node('Max', [p, tiny], `${out}.floored`)], `${out}.log`)], out);
  const entropy = node('Neg', [reduce('ReduceSum', plogp(mean, 'mean_plogp'), [k - 1], 'mean_sum')], 'entropy');
  const perPass = node('Neg', [reduce('ReduceSum', plogp(p5, 'pass_plogp'), [k], 'pass_sum')], 'pass_entropy');
  const expected = reduce('ReduceMean', perPass, [0], 'expected_entropy');
  node('Max', [node('Sub', [entropy, expected], 'mi_raw'), float('zero', 0)], 'mutual_information');
  variationRatio(build, p5, k, map.classes, passes, one);
  node('ArgMax', [mean], 'label', [attribute('axis', k - 1), attribute('keepdims', 0)]);
  node('Identity', [reduce('ReduceMax', mean, [k - 1], 'confidence_raw')], 'confidence');
  topTwoMargin(build, mean, k - 1, map.classes);
}

/**
 * The probabilities of every row, [T, batch, C, H, W] (NCHW) or [T, batch, H, W, C] (NHWC), pass
 * t of image i at [t, i] (the rows are pass-major). A binary map's channel p becomes [1 - p, p].
 */
function passMaps(build: GraphBuilder, opset: number, scoreName: string, map: McGraphMap, passes: number, one: string): string {
  const { node, int64 } = build;
  const axis = map.layout === 'NCHW' ? 1 : 3;
  let probs = scoreName;
  if (map.binary) {
    const p = map.probabilities ? scoreName : node('Sigmoid', [scoreName], 'probs_one');
    probs = node('Concat', [node('Sub', [one, p], 'probs_zero'), p], 'probs', [attribute('axis', axis)]);
  } else if (!map.probabilities) probs = softmax(build, opset, scoreName, axis);
  // [T x batch, ...map] to [T, batch, ...map]: the map's dims read at run time (they may be dynamic)
  const mapDims = node('Slice', [node('Shape', [probs], 'rows_shape'), int64('map_dims_start', [1]), int64('map_dims_end', [4])], 'map_dims');
  const shape = node('Concat', [int64('passes_batch', [passes, -1]), mapDims], 'passes_shape', [attribute('axis', 0)]);
  return node('Reshape', [probs, shape], 'passes');
}

/**
 * Softmax over `axis` of the 4-D scores: the Softmax op where it takes one axis (opset 13 on, or
 * the last axis at any opset: before 13 it flattens from `axis` on), else exp(x - max) / sum.
 */
function softmax(build: GraphBuilder, opset: number, scores: string, axis: number): string {
  const { node, reduce } = build;
  if (opset >= 13 || axis === 3) return node('Softmax', [scores], 'probs', [attribute('axis', axis)]);
  const exp = node('Exp', [node('Sub', [scores, reduce('ReduceMax', scores, [axis], 'scores_max', 1)], 'scores_shifted')], 'scores_exp');
  return node('Div', [exp, reduce('ReduceSum', exp, [axis], 'scores_exp_sum', 1)], 'probs');
}

/** 1 - (passes voting for the modal class) / T per pixel, each pass's vote the argmax of its probabilities (lowest index on ties). */
function variationRatio(build: GraphBuilder, p5: string, classAxis: number, classes: number, passes: number, one: string): void {
  const { node, int64, float, reduce } = build;
  const votes = node('ArgMax', [p5], 'votes', [attribute('axis', classAxis), attribute('keepdims', 0)]);
  const offOn = node('Cast', [int64('off_on', [0, 1])], 'off_on_float', [attribute('to', 1)]);
  // [T, batch, H, W, C] whatever the layout: the one-hot axis is last
  const onehot = node('OneHot', [votes, int64('depth', [classes], true), offOn], 'onehot', [attribute('axis', -1)]);
  const modal = reduce('ReduceMax', reduce('ReduceSum', onehot, [0], 'counts'), [3], 'modal');
  node('Sub', [one, node('Div', [modal, float('pass_count', passes)], 'modal_share')], 'variation_ratio');
}

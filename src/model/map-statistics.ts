/**
 * A segmentation model's per-pass statistics as graph outputs, so onnxruntime's vectorised kernels
 * turn each pass's class scores into what the reduction sums: the probabilities (a softmax over the
 * class axis), each pixel's entropy and its argmax. JavaScript then only adds them up: about 25x
 * less work per pass than a softmax per pixel in JavaScript (docs/segmentation.md).
 */
import { graphOf, protoOf, type OnnxGraph } from './graph.js';
import { DataType, defaultOpset, tensorValueInfo, type NodeProto } from './onnx.js';

/** The added outputs' names (a prefix no exporter uses). */
export const MAP_STATISTICS = {
  probabilities: 'mc_dropout.map.probabilities',
  entropy: 'mc_dropout.map.entropy',
  argmax: 'mc_dropout.map.argmax',
} as const;

/** What the statistics start from: the class-score output, its class axis, and whether it holds probabilities already. */
export interface MapScores {
  output: string;
  /** 1 for NCHW, 3 for NHWC. */
  classAxis: number;
  probabilities: boolean;
  /** The output's element type is float16 (cast to float32 first). */
  half: boolean;
}

/** Smallest probability whose log is taken (a zero probability adds 0 x log(1e-30) = 0 to the entropy, not NaN). */
const FLOOR = 1e-30;

/**
 * `graph` with the statistics of `scores` as three more outputs, [rows, ...] each: probabilities
 * (the output's shape), entropy in nats and argmax (as float32) without the class axis. Undefined for an
 * opset before 13, whose Softmax flattens every axis after the given one (the caller reduces in JavaScript then).
 */
export function withMapStatistics(graph: OnnxGraph, scores: MapScores): OnnxGraph | undefined {
  const proto = protoOf(graph);
  if (defaultOpset(proto) < 13) return undefined;
  const name = (suffix: string) => `mc_dropout.map.${suffix}`;
  const axis = { name: 'axis', type: 2, i: scores.classAxis };
  const z = scores.half ? name('scores') : scores.output;
  const nodes: NodeProto[] = [
    ...(scores.half ? [{ opType: 'Cast', input: [scores.output], output: [z], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] }] : []),
    ...(scores.probabilities
      ? [
          { opType: 'Identity', input: [z], output: [MAP_STATISTICS.probabilities] },
          { opType: 'Max', input: [z, name('floor')], output: [name('floored')] },
          { opType: 'Log', input: [name('floored')], output: [name('log')] },
        ]
      : [
          { opType: 'Softmax', input: [z], output: [MAP_STATISTICS.probabilities], attribute: [axis] },
          { opType: 'LogSoftmax', input: [z], output: [name('log')], attribute: [axis] },
        ]),
    { opType: 'Mul', input: [MAP_STATISTICS.probabilities, name('log')], output: [name('plogp')] },
    { opType: 'ReduceSum', input: [name('plogp'), name('axes')], output: [name('negative_entropy')], attribute: [{ name: 'keepdims', type: 2, i: 0 }] },
    { opType: 'Neg', input: [name('negative_entropy')], output: [MAP_STATISTICS.entropy] },
    { opType: 'ArgMax', input: [MAP_STATISTICS.probabilities], output: [name('argmax_int64')], attribute: [axis, { name: 'keepdims', type: 2, i: 0 }] },
    // float32 holds every class index below 2^24 exactly, and the sessions hand over float tensors
    { opType: 'Cast', input: [name('argmax_int64')], output: [MAP_STATISTICS.argmax], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] },
  ];
  const g = proto.graph ?? {};
  return graphOf({
    ...proto,
    graph: {
      ...g,
      node: [...(g.node ?? []), ...nodes],
      initializer: [
        ...(g.initializer ?? []),
        { name: name('axes'), dataType: DataType.INT64, dims: [1], int64Data: [scores.classAxis] },
        { name: name('floor'), dataType: DataType.FLOAT, dims: [], floatData: [FLOOR] },
      ],
      output: [
        ...(g.output ?? []),
        tensorValueInfo(MAP_STATISTICS.probabilities, DataType.FLOAT, []),
        tensorValueInfo(MAP_STATISTICS.entropy, DataType.FLOAT, []),
        tensorValueInfo(MAP_STATISTICS.argmax, DataType.FLOAT, []),
      ].map(({ type, ...rest }) => ({ ...rest, type: { tensorType: { elemType: type!.tensorType!.elemType } } })),
    },
  });
}

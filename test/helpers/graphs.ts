/** Tiny ONNX models built in the tests, so every expectation is known in closed form. */
import { graphOf, type OnnxGraph } from '../../src/model/graph.js';
import { DataType, decodeModel, encodeModel, type FunctionProto, type ModelProto, type NodeProto, type TensorProto } from '../../src/model/onnx.js';

export interface TinyModel {
  nodes: NodeProto[];
  /** Image input dims; strings are dynamic dims. */
  inputDims?: (number | string)[];
  outputName?: string;
  outputDims?: (number | string)[];
  initializers?: TensorProto[];
  opset?: number;
  metadata?: Record<string, string>;
  /** Model-local functions, and the IR version to declare (functions with overloads need IR 10). */
  functions?: FunctionProto[];
  irVersion?: number;
  /** Every graph output, in order (overrides outputName / outputDims). */
  outputs?: { name: string; dims: (number | string)[]; elemType?: number }[];
}

/** Decodes model bytes into the model layer's handle, as its functions take it. */
export function decodeGraph(bytes: Uint8Array): OnnxGraph {
  return graphOf(decodeModel(bytes));
}

/** Encodes a single-input, single-output model (input 'input', output 'output' by default). */
export function buildModel(spec: TinyModel): Uint8Array {
  const dims = (list: (number | string)[]) => ({ dim: list.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) });
  const model: ModelProto = {
    irVersion: spec.irVersion ?? 8,
    producerName: 'mc-dropout-tests',
    opsetImport: [
      { domain: '', version: spec.opset ?? 13 },
      ...[...new Set((spec.functions ?? []).map((f) => f.domain ?? ''))].map((domain) => ({ domain, version: 1 })),
    ],
    functions: spec.functions ?? [],
    graph: {
      name: 'tiny',
      node: spec.nodes,
      initializer: spec.initializers ?? [],
      input: [{ name: 'input', type: { tensorType: { elemType: DataType.FLOAT, shape: dims(spec.inputDims ?? ['N', 3, 1, 1]) } } }],
      output: (spec.outputs ?? [{ name: spec.outputName ?? 'output', dims: spec.outputDims ?? ['N', 3], elemType: DataType.FLOAT }]).map((o) => ({
        name: o.name,
        type: { tensorType: { elemType: o.elemType ?? DataType.FLOAT, shape: dims(o.dims) } },
      })),
    },
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return encodeModel(model);
}

export function floatTensor(name: string, dims: number[], values: number[]): TensorProto {
  return { name, dataType: DataType.FLOAT, dims, floatData: values };
}

export function scalarFloat(name: string, value: number): TensorProto {
  return { name, dataType: DataType.FLOAT, dims: [], floatData: [value] };
}

export function scalarBool(name: string, value: boolean): TensorProto {
  return { name, dataType: DataType.BOOL, dims: [], int32Data: [value ? 1 : 0] };
}

export function int64Tensor(name: string, values: number[]): TensorProto {
  return { name, dataType: DataType.INT64, dims: [values.length], int64Data: values };
}

/** Dropout node in the opset-12+ form: inputs (x, ratio, training_mode). */
export function dropoutNode(input: string, output: string, ratioName: string, trainingName: string | undefined, name = `dropout_${output}`): NodeProto {
  return { opType: 'Dropout', name, input: trainingName ? [input, ratioName, trainingName] : [input, ratioName], output: [output] };
}

/**
 * input [N, 3*h*w as 3 x h x w] -> Flatten -> Dropout(p, live) -> output [N, 3*h*w]:
 * every output element is its input element times the mask (the mask-quality probe).
 */
export function probeModel(rate: number, height: number, width: number, live = true): Uint8Array {
  const units = 3 * height * width;
  return buildModel({
    inputDims: ['N', 3, height, width],
    outputDims: ['N', units],
    nodes: [
      { opType: 'Flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      dropoutNode('flat', 'output', 'ratio', 'training'),
    ],
    initializers: [scalarFloat('ratio', rate), scalarBool('training', live)],
  });
}

/** Two live Dropout sites on the same tensor, concatenated: [N, 2 * units] (cross-site correlation probe). */
export function twoSiteProbeModel(rate: number, height: number, width: number): Uint8Array {
  const units = 3 * height * width;
  return buildModel({
    inputDims: ['N', 3, height, width],
    outputDims: ['N', 2 * units],
    nodes: [
      { opType: 'Flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      dropoutNode('flat', 'a', 'ratio', 'training'),
      dropoutNode('flat', 'b', 'ratio', 'training'),
      { opType: 'Concat', input: ['a', 'b'], output: ['output'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
    ],
    initializers: [scalarFloat('ratio', rate), scalarBool('training', true)],
  });
}

/** input [N,3,h,w] -> Flatten -> Dropout(p) -> MatMul W -> output [N, classes]. */
export function linearModel(rate: number, height: number, width: number, weights: number[], classes: number, live = true): Uint8Array {
  const units = 3 * height * width;
  return buildModel({
    inputDims: ['N', 3, height, width],
    outputDims: ['N', classes],
    nodes: [
      { opType: 'Flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      dropoutNode('flat', 'dropped', 'ratio', 'training'),
      { opType: 'MatMul', input: ['dropped', 'W'], output: ['output'] },
    ],
    initializers: [scalarFloat('ratio', rate), scalarBool('training', live), floatTensor('W', [units, classes], weights)],
  });
}

/** Deterministic pseudo-random numbers in [-1, 1) for test inputs (not the code under test). */
export function testValues(count: number, seed: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

/**
 * A segmentation model: input [N,3,h,w] -> 1x1 Conv W [classes, 3] (trunk) -> Dropout(p) -> output
 * [N, classes, h, w] (dims symbolic when `dynamicMap`): pixel (y, x)'s class-c score is
 * sum_k W[c][k] input[k][y][x], times its mask.
 */
export function segmentationModel(rate: number, height: number, width: number, weights: number[], classes: number, dynamicMap = false): Uint8Array {
  return buildModel({
    inputDims: ['N', 3, height, width],
    outputDims: ['N', classes, dynamicMap ? 'H' : height, dynamicMap ? 'W' : width],
    nodes: [{ opType: 'Conv', input: ['input', 'W'], output: ['scores'] }, dropoutNode('scores', 'output', 'ratio', 'training')],
    initializers: [scalarFloat('ratio', rate), scalarBool('training', true), floatTensor('W', [classes, 3, 1, 1], weights)],
  });
}

import { ModelError, param, UsageError } from '../errors.js';
import type { Layout, ModelMetadata } from './metadata.js';
import { dataTypeName, protoOf, tensorInfo, type OnnxGraph, type TensorInfo } from './graph.js';
import { DataType, elemTypeOf, shapeOf, toNumber, type GraphProto, type ValueInfoProto } from './onnx.js';

/** The image input and class-score output of a model, with layout and sizes resolved. */
export interface ModelIo {
  inputName: string;
  /** ONNX element type of the image input: float32 or float16 (converted at the session boundary). */
  inputType: number;
  outputName: string;
  inputDims: number[];
  layout: Layout;
  height: number;
  width: number;
  channels: number;
  classes: number;
  /** Probabilities already (a Softmax's output, or a binary map's Sigmoid), not logits. */
  outputIsProbabilities: boolean;
  /** A segmentation model's class-score map; absent for a classifier ([N, classes]). */
  map?: ScoreMap;
}

/**
 * A dense class-score output: [N, C, H, W] (NCHW) or [N, H, W, C] (NHWC, the layout of the image
 * input), or one channel [N, 1, H, W] read as two classes (binary: a logit, or a Sigmoid's output).
 */
export interface ScoreMap {
  layout: Layout;
  /** Map height and width; -1 while the graph leaves them to run time (the engine resolves them). */
  height: number;
  width: number;
  /** One channel read as two classes: p(class 1) = sigmoid(z) (or the value, after a Sigmoid), p(class 0) = 1 - p(class 1). */
  binary: boolean;
}

/** How the class-score output is chosen among the graph's outputs. */
export interface OutputChoice {
  /** The output by name (the user's choice); else chosen by shape, reach and name. */
  name?: string;
  /** Graph outputs the stochastic sites reach: a candidate they reach is preferred. */
  reached?: ReadonlySet<string>;
}

/** An output that can hold class scores: [N, C] with C a fixed number, or a map [N, C, H, W] / [N, H, W, C] with C fixed. */
function isClassScores(output: ValueInfoProto): boolean {
  const shape = shapeOf(output);
  if (shape?.length === 2) return typeof shape[1] === 'number';
  return shape?.length === 4 && (typeof shape[1] === 'number' || typeof shape[3] === 'number');
}

const SCORE_NAME = /logit|prob|score|pred|class/i;

/**
 * The class-score output: the one named, else the [N, C] outputs, narrowed to those the stochastic
 * sites reach, then to one whose name says logits / probabilities / scores; more than one left is
 * refused with the list (a feature vector [N, 192] beside the logits [N, 10] must not be run as 192 classes).
 */
export function classifierOutput(source: OnnxGraph, file: string, choice: OutputChoice = {}): TensorInfo {
  return tensorInfo(classifierValueInfo(protoOf(source).graph ?? {}, file, choice));
}

function classifierValueInfo(graph: GraphProto, file: string, choice: OutputChoice): ValueInfoProto {
  const outputs = graph.output ?? [];
  const list = outputs.map((o) => `${o.name} [${shapeOf(o)?.join(', ') ?? 'unknown'}]`).join(', ');
  if (choice.name !== undefined) {
    const named = outputs.find((o) => o.name === choice.name);
    if (!named) throw new UsageError(`${file} has no output named '${choice.name}'; its outputs: ${list}`);
    return named;
  }
  let candidates = outputs.filter(isClassScores);
  if (candidates.length <= 1) return candidates[0] ?? outputs[0]!;
  const reached = candidates.filter((o) => choice.reached?.has(o.name ?? ''));
  if (reached.length > 0) candidates = reached;
  if (candidates.length > 1) {
    const named = candidates.filter((o) => SCORE_NAME.test(o.name ?? ''));
    if (named.length > 0) candidates = named;
  }
  if (candidates.length > 1) {
    throw new ModelError(
      `${file} has ${candidates.length} outputs that could be class scores (${candidates.map((o) => `${o.name} [${shapeOf(o)?.join(', ')}]`).join(', ')}); name the classifier's with ${param('output')}`,
      'E_AMBIGUOUS_OUTPUT',
    );
  }
  return candidates[0]!;
}

/** Element types a class-score output may have (onnxruntime hands them over as float32); 0 is not declared. */
const SCORE_TYPES = new Set<number>([0, DataType.FLOAT, DataType.FLOAT16]);

/**
 * The checks every run makes of the chosen class-score output, before any image (inspect makes the
 * same ones): shape [N, classes] with classes >= 2, or a class-score map (ScoreMap: its layout
 * that of the image input unless only the other places a fixed class count), and float32 or
 * float16 values. Returns its name, number of classes and map; throws ModelError saying what is
 * wrong and what to export or choose instead.
 */
export function checkClassScores(
  output: TensorInfo | undefined,
  file: string,
  inputLayout: Layout = 'NCHW',
): { name: string; classes: number; map?: ScoreMap } {
  const outShape = output?.dims;
  const map = outShape?.length === 4 ? scoreMapOf(outShape, inputLayout) : undefined;
  const classes = map ? map.classes : outShape?.[1];
  if (!output?.name || !outShape || (outShape.length !== 2 && !map) || typeof classes !== 'number') {
    throw new ModelError(
      `${file}: expected a class-score output [N, classes] or a class-score map [N, classes, H, W] but ${output?.name ? `the output '${output.name}'` : 'the model'} has shape [${outShape?.join(', ') ?? 'unknown'}]${outShape?.length === 4 ? ': its class dimension is not a fixed number. Export with only the batch dynamic (torch.onnx.export: dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})' : ''}`,
    );
  }
  if (classes < 2 && !map) {
    throw new ModelError(
      `${file}: the output '${output.name}' has ${classes} class, not a distribution over classes: a sigmoid output gives confidence 1 and entropy 0 for every image. Export the logits of both classes instead (e.g. torch.cat([-z, z], dim=1) for a binary logit z).`,
      'E_NOT_A_DISTRIBUTION',
    );
  }
  const type = output.elemType;
  if (!SCORE_TYPES.has(type)) {
    throw new ModelError(
      `${file}: the output '${output.name}' holds ${dataTypeName(type).toLowerCase()} values, not class scores: mc-dropout reads logits or probabilities as float32 or float16. Name the logits or probabilities output with ${param('output')}`,
      'E_OUTPUT_TYPE',
    );
  }
  if (!map) return { name: output.name, classes };
  const { classes: channels, ...scoreMap } = map;
  return { name: output.name, classes: Math.max(2, channels), map: scoreMap };
}

/** A 4-D output read as a map: the class dim where the input's layout puts it, else where the other layout does if only it is fixed. */
function scoreMapOf(dims: readonly (number | string | null)[], inputLayout: Layout): (ScoreMap & { classes: number }) | undefined {
  const at = (layout: Layout) => dims[layout === 'NCHW' ? 1 : 3];
  const other: Layout = inputLayout === 'NCHW' ? 'NHWC' : 'NCHW';
  const layout = typeof at(inputLayout) === 'number' ? inputLayout : typeof at(other) === 'number' ? other : undefined;
  if (!layout) return undefined;
  const size = (d: number | string | null | undefined) => (typeof d === 'number' && d > 0 ? d : -1);
  const [h, w] = layout === 'NCHW' ? [dims[2], dims[3]] : [dims[1], dims[2]];
  const channels = at(layout) as number;
  return { layout, height: size(h), width: size(w), binary: channels === 1, classes: channels };
}

/** The image input's layout: the metadata's, else NHWC where only the last dim is 3 or 1 channels, else NCHW. */
export function imageLayoutOf(dims: readonly (number | string | null)[], metadata: Pick<ModelMetadata, 'layout'>): Layout {
  const channels = (d: number | string | null | undefined) => d === 3 || d === 1;
  return metadata.layout ?? (channels(dims[1]) ? 'NCHW' : channels(dims[3]) ? 'NHWC' : 'NCHW');
}

/** Ops that pass values through unchanged in value (shape only, or a cast to a float type). */
const VALUE_PRESERVING = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);
const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

/** Whether `tensor` is a Softmax's output, looking back through shape-only ops, Identity and casts to float. */
export function isSoftmaxOutput(source: OnnxGraph, tensor: string): boolean {
  return producedBy(source, tensor, 'Softmax');
}

/** Whether `tensor` is a Sigmoid's output (a binary map's probabilities), looking back as isSoftmaxOutput does. */
export function isSigmoidOutput(source: OnnxGraph, tensor: string): boolean {
  return producedBy(source, tensor, 'Sigmoid');
}

/** Whether `tensor` is the output of an `opType` node, looking back through shape-only ops, Identity and casts to float. */
function producedBy(source: OnnxGraph, tensor: string, opType: string): boolean {
  const graph = protoOf(source).graph ?? {};
  const producers = new Map<string, Node>();
  for (const node of graph.node ?? []) for (const out of node.output ?? []) producers.set(out, node);
  let current = tensor;
  for (let steps = 0; steps < 64; steps++) {
    const node = producers.get(current);
    if (!node) return false;
    if (node.opType === opType) return true;
    const castToFloat = node.opType === 'Cast' && FLOAT_TYPES.has(toNumber(node.attribute?.find((a) => a.name === 'to')?.i ?? 0));
    if (!VALUE_PRESERVING.has(node.opType ?? '') && !castToFloat) return false;
    current = node.input?.[0] ?? '';
  }
  return false;
}

type Node = NonNullable<GraphProto['node']>[number];

/** The tensors a node reads: its inputs, and every name its subgraphs (If, Loop, Scan) use, outer-scope ones among them. */
function readsOf(node: Node): string[] {
  const names = [...(node.input ?? [])];
  for (const attribute of node.attribute ?? []) {
    for (const sub of [attribute.g, ...(attribute.graphs ?? [])]) for (const inner of sub?.node ?? []) names.push(...readsOf(inner));
  }
  return names;
}

/** The graph outputs that depend on any of `tensors` (forward through every node, subgraphs included). */
export function outputsReachedFrom(source: OnnxGraph, tensors: readonly string[]): Set<string> {
  const graph = protoOf(source).graph ?? {};
  const reached = new Set(tensors);
  // graph.node is topologically sorted (ONNX requires it), so one forward sweep suffices
  for (const node of graph.node ?? []) {
    if (readsOf(node).some((i) => reached.has(i))) for (const out of node.output ?? []) reached.add(out);
  }
  return new Set((graph.output ?? []).map((o) => o.name ?? '').filter((name) => reached.has(name)));
}

/** The single image input and the class-score output, with layout and sizes resolved. */
export function describeIo(
  source: OnnxGraph,
  file: string,
  metadata: ModelMetadata,
  override?: { height: number; width: number },
  choice: OutputChoice = {},
): ModelIo {
  const graph = protoOf(source).graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) {
    throw new ModelError(`${file}: expected one image input but the model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`);
  }
  const input = inputs[0]!;
  const elemType = elemTypeOf(input);
  if (elemType !== 0 && elemType !== DataType.FLOAT && elemType !== DataType.FLOAT16) {
    throw new ModelError(`${file}: input '${input.name}' has element type ${elemType}; mc-dropout feeds float32 or float16 images`);
  }
  const shape = shapeOf(input);
  if (!shape || shape.length !== 4) {
    throw new ModelError(`${file}: expected a 4-D image input [N, C, H, W] or [N, H, W, C] but '${input.name}' has shape [${shape?.join(', ') ?? 'unknown'}]`);
  }
  const fixed = (d: number | string | null): number => (typeof d === 'number' ? d : -1);
  const dims = shape.map(fixed);
  const layout = imageLayoutOf(shape, metadata);
  const [channels, h, w] = layout === 'NCHW' ? [dims[1]!, dims[2]!, dims[3]!] : [dims[3]!, dims[1]!, dims[2]!];
  if (channels !== 3)
    throw new ModelError(
      `${file}: expected 3 input channels (RGB) but input '${input.name}' has ${channels < 0 ? 'a dynamic count' : channels} in layout ${layout}`,
    );
  const size = override ?? metadata.inputSize ?? (h > 0 && w > 0 ? { height: h, width: w } : undefined);
  if (!size) throw new UsageError(`${file}: the model's input height and width are dynamic; give them with ${param('inputSize')}`);
  const inputDims = layout === 'NCHW' ? [dims[0]!, 3, size.height, size.width] : [dims[0]!, size.height, size.width, 3];

  const output = graph.output?.length ? classifierOutput(source, file, choice) : undefined;
  const scores = checkClassScores(output, file, layout);
  const map = scores.map;
  return {
    inputName: input.name!,
    inputType: elemType === DataType.FLOAT16 ? DataType.FLOAT16 : DataType.FLOAT,
    outputName: scores.name,
    inputDims,
    layout,
    height: size.height,
    width: size.width,
    channels,
    classes: scores.classes,
    outputIsProbabilities: producedBy(source, scores.name, map?.binary ? 'Sigmoid' : 'Softmax'),
    ...(map && { map }),
  };
}

/**
 * Where dropout can go in a model that has none left: the tensors into the classifier head, and
 * the multiplications by a constant that paddle2onnx writes for Paddle's `downgrade_in_infer`
 * dropout. Pure graph reading; `convert` does the writing.
 */
import { ConstantTable } from './constant-table.js';
import { protoOf, type OnnxGraph } from './graph.js';
import type { NodeProto } from './onnx.js';

/** A tensor where `convert --inject-at` would make sense, nearest the output first. */
export interface InjectionCandidate {
  tensor: string;
  /** The op that produces it ('' for a graph input). */
  producer: string;
  /** Why it is a candidate: e.g. 'input of Gemm fc', 'output of GlobalAveragePool'. */
  why: string;
}

/** Paddle's `downgrade_in_infer` dropout as paddle2onnx writes it: y = x * (1 - p), with no randomness left. */
export interface PaddleDropout {
  /** The Mul node. */
  node: string;
  /** The tensor it scales (x) and the one it yields (y). */
  input: string;
  output: string;
  /** The constant factor c = 1 - p, as stored. */
  keep: number;
  /** p = 1 - c, to the 7 digits float32 holds. */
  rate: number;
}

const LAYERS = ['Gemm', 'MatMul', 'Conv'];
const POOLING = ['GlobalAveragePool', 'GlobalMaxPool', 'AveragePool', 'MaxPool', 'ReduceMean', 'Flatten'];
/** Ops that only reshape: a Paddle dropout reaches its layer through these. */
const SHAPE_ONLY = ['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity'];
/** How many candidates inspect lists. */
const MOST_CANDIDATES = 4;

/** Indices of the nodes `output` depends on, by one backward sweep (nodes are topologically sorted). */
export function nodesFeeding(nodes: readonly NodeProto[], output: string): Set<number> {
  const needed = new Set([output]);
  const feeds = new Set<number>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (!(nodes[i]!.output ?? []).some((o) => needed.has(o))) continue;
    feeds.add(i);
    for (const input of nodes[i]!.input ?? []) needed.add(input);
  }
  return feeds;
}

/** A Gemm, MatMul or Conv whose weights are fixed: a layer, not an attention product of two activations. */
function isWeightedLayer(node: NodeProto, constants: ConstantTable, initializers: ReadonlySet<string>): boolean {
  const weights = node.input?.[1];
  return LAYERS.includes(node.opType ?? '') && Boolean(weights) && (initializers.has(weights!) || constants.has(weights!));
}

/**
 * Tensors into the head of the model, last first: the classifier's input (the last weighted Gemm,
 * MatMul or Conv on the way to `output`), then, back to the Conv before it, the inputs of Gemm and
 * MatMul layers and the outputs of pooling and flatten; none that a Dropout yields; at most four.
 */
export function injectionCandidates(source: OnnxGraph, output: string): InjectionCandidate[] {
  const graph = protoOf(source).graph ?? {};
  const nodes = graph.node ?? [];
  const constants = new ConstantTable(graph);
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const producer = new Map<string, NodeProto>();
  for (const node of nodes) for (const o of node.output ?? []) if (o) producer.set(o, node);
  const found = new Map<string, InjectionCandidate>();
  const label = (node: NodeProto) => `${node.opType}${node.name ? ` ${node.name}` : ''}`;
  const add = (tensor: string, why: string) => {
    const op = producer.get(tensor)?.opType ?? '';
    if (!found.has(tensor) && op !== 'Dropout' && !constants.has(tensor)) found.set(tensor, { tensor, producer: op, why });
  };
  let classifier: NodeProto | undefined;
  for (const i of [...nodesFeeding(nodes, output)].sort((a, b) => b - a)) {
    const node = nodes[i]!;
    const weighted = isWeightedLayer(node, constants, initializers);
    if (!classifier) {
      // what follows the classifier (SqueezeNet's pooling of its class maps) is no place for dropout
      if (weighted) add(node.input![0]!, `input of the classifier ${label(node)}`);
      if (weighted) classifier = node;
      continue;
    }
    if (node.opType === 'Conv') break;
    if (weighted) add(node.input![0]!, `input of ${label(node)}`);
    else if (POOLING.includes(node.opType ?? '') && node.output?.[0]) add(node.output[0], `output of ${label(node)}`);
    if (found.size >= MOST_CANDIDATES) break;
  }
  return [...found.values()];
}

/**
 * Multiplications that look like Paddle's `downgrade_in_infer` dropout: a Mul of an activation by a
 * one-element constant c in (0, 1) whose result reaches, through reshapes alone, the data input of
 * a weighted Gemm, MatMul or Conv on the way to `output`. (GELU's 0.5 feeds a Mul, attention's
 * scale a MatMul of two activations: neither matches.)
 */
export function paddleDropouts(source: OnnxGraph, output: string): PaddleDropout[] {
  const graph = protoOf(source).graph ?? {};
  const nodes = graph.node ?? [];
  const constants = new ConstantTable(graph);
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const consumers = new Map<string, NodeProto[]>();
  for (const node of nodes) for (const input of node.input ?? []) if (input) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const feeding = nodesFeeding(nodes, output);
  const intoLayer = (tensor: string): boolean =>
    (consumers.get(tensor) ?? []).every(
      (next) =>
        (isWeightedLayer(next, constants, initializers) && next.input![0] === tensor) ||
        (SHAPE_ONLY.includes(next.opType ?? '') && next.input?.[0] === tensor && intoLayer(next.output?.[0] ?? '')),
    ) && (consumers.get(tensor) ?? []).length > 0;
  const found: PaddleDropout[] = [];
  nodes.forEach((node, i) => {
    if (node.opType !== 'Mul' || !feeding.has(i) || (node.input?.length ?? 0) !== 2) return;
    const [a, b] = node.input!;
    const side = constants.scalar(b) !== undefined ? 1 : constants.scalar(a) !== undefined ? 0 : -1;
    if (side < 0) return;
    const keep = constants.scalar(node.input![side])!;
    const input = node.input![1 - side]!;
    const output = node.output?.[0] ?? '';
    if (!(keep > 0 && keep < 1) || constants.has(input) || !intoLayer(output)) return;
    found.push({ node: node.name || `Mul_${i}`, input, output, keep, rate: Number((1 - keep).toPrecision(7)) });
  });
  return found;
}

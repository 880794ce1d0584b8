/**
 * The nodes and initializers the MC graph adds (mc-graph.ts, mc-graph-maps.ts,
 * mc-ensemble-graph.ts), each named under a prefix, built in the order made.
 */
import { DataType, type NodeProto, type TensorProto } from './onnx.js';

/** The nodes and initializers the MC graph adds, collected in the order made, every name under `prefix` (MC_GRAPH_PREFIX, or a member's under it). */
export interface GraphBuilder {
  prefix: string;
  nodes: NodeProto[];
  added: TensorProto[];
  /** Adds a node with one output, `output` prefixed; returns that name. */
  node: (opType: string, inputs: string[], output: string, attribute?: NodeProto['attribute']) => string;
  /** Adds an int64 initializer ([values.length], or a scalar); returns its name. */
  int64: (name: string, values: number[], scalar?: boolean) => string;
  /** Adds a float32 scalar initializer; returns its name. */
  float: (name: string, value: number) => string;
  /** ReduceX over `axes`: axes an input from opset 13 (ReduceSum) or 18 (the others), an attribute before. */
  reduce: (op: string, x: string, axes: number[], out: string, keepdims?: number) => string;
}

const intsAttribute = (name: string, values: number[]) => ({ name, type: 7, ints: values });
export const intAttribute = (name: string, value: number) => ({ name, type: 2, i: value });

/** A GraphBuilder for a model of opset `opset`, naming what it adds under `prefix`. */
export function graphBuilder(opset: number, prefix: string): GraphBuilder {
  const added: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  const named = (role: string) => `${prefix}${role}`;
  const int64 = (name: string, values: number[], scalar = false): string => {
    added.push({ name: named(name), dataType: DataType.INT64, dims: scalar ? [] : [values.length], int64Data: values });
    return named(name);
  };
  const float = (name: string, value: number): string => {
    added.push({ name: named(name), dataType: DataType.FLOAT, dims: [], floatData: [value] });
    return named(name);
  };
  const node = (opType: string, inputs: string[], output: string, attribute: NodeProto['attribute'] = []): string => {
    nodes.push({ opType, name: named(output), input: inputs, output: [named(output)], attribute });
    return named(output);
  };
  const reduce = (op: string, x: string, axes: number[], out: string, keepdims = 0): string => {
    const asInput = opset >= (op === 'ReduceSum' ? 13 : 18);
    return asInput
      ? node(op, [x, int64(`${out}.axes`, axes)], out, [intAttribute('keepdims', keepdims)])
      : node(op, [x], out, [intsAttribute('axes', axes), intAttribute('keepdims', keepdims)]);
  };
  return { prefix, nodes, added, node, int64, float, reduce };
}

/**
 * Top-1 minus top-2 of `mean` over the class axis `axis` (`classes` of them), as `margin`: the
 * largest value, and the largest once the argmax's own is pushed below every probability (a tie
 * leaves its twin, margin 0). Not TopK: onnxruntime's TopK divides by the row count and kills the
 * process (SIGFPE) on an empty batch.
 */
export function topTwoMargin(build: GraphBuilder, mean: string, axis: number, classes: number): string {
  const { node, int64, float, reduce } = build;
  const first = reduce('ReduceMax', mean, [axis], 'top_first');
  const argmax = node('ArgMax', [mean], 'top_index', [intAttribute('axis', axis), intAttribute('keepdims', 0)]);
  const offOn = node('Cast', [int64('top_off_on', [0, 1])], 'top_off_on_float', [intAttribute('to', DataType.FLOAT)]);
  const onehot = node('OneHot', [argmax, int64('top_depth', [classes], true), offOn], 'top_onehot', [intAttribute('axis', axis)]);
  const others = node('Sub', [mean, node('Mul', [onehot, float('top_push', 2)], 'top_pushed')], 'top_others');
  return node('Sub', [first, reduce('ReduceMax', others, [axis], 'top_second')], 'margin');
}

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

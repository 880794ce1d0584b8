/**
 * The model layer's handle on a decoded model. Every layer above src/model works on an OnnxGraph
 * and the plain types here, never on the protobuf messages behind it (test/design/graph-types.test.ts
 * holds them to that), so swapping the protobuf library touches src/model only.
 */
import {
  constantDims,
  DataType,
  dataTypeName,
  defaultOpset,
  elemTypeOf,
  encodeModel,
  shapeOf,
  tensorsRead,
  toNumber,
  type ModelProto,
  type ValueInfoProto,
} from './onnx.js';

export { DataType, dataTypeName };

/** A graph input or output: name, ONNX element type (0 when unknown) and dims (numbers fixed, strings named, null unknown; undefined without a shape). */
export interface TensorInfo {
  name: string;
  elemType: number;
  dims: (number | string | null)[] | undefined;
}

/** A top-level node as the engine reads it: what it is, the tensors it reads (its subgraphs' too) and those it writes. */
export interface GraphNode {
  /** The node's name ('' when it has none). */
  name: string;
  opType: string;
  /** Its non-empty inputs and, for If/Loop/Scan, every name its subgraphs read. */
  reads: string[];
  /** Its non-empty outputs. */
  outputs: string[];
}

/** A graph input or output as our own TensorInfo. */
export function tensorInfo(info: ValueInfoProto): TensorInfo {
  return { name: info.name ?? '', elemType: elemTypeOf(info), dims: shapeOf(info) };
}

// the model layer's two doors between the handle and its message, set inside the class where its
// private field is visible; exported below as graphOf and protoOf
let wrap: (proto: ModelProto) => OnnxGraph;
let unwrap: (graph: OnnxGraph) => ModelProto;

/**
 * A decoded ONNX model, opaque outside the model layer: its readers (readOnnxFile, readOnnxBytes)
 * make one and its functions (findStochasticSites, convertModel, ...) take one. Rewrites
 * (rewriteSitesAsInputs, convertModel, the trunk and level splits) return a new graph and leave the
 * one they read as it was; mcGraph, which finishes convert's own copy, rewrites that in place.
 */
export class OnnxGraph {
  readonly #proto: ModelProto;

  private constructor(proto: ModelProto) {
    this.#proto = proto;
  }

  static {
    wrap = (proto) => new OnnxGraph(proto);
    unwrap = (graph) => graph.#proto;
  }

  /** The serialized model, as onnxruntime's `InferenceSession.create(bytes)` takes it. */
  encode(): Uint8Array {
    return encodeModel(this.#proto);
  }

  /** Nodes of the top-level graph. */
  get nodeCount(): number {
    return this.#proto.graph?.node?.length ?? 0;
  }

  /** The ONNX IR version the file declares. */
  get irVersion(): number {
    return toNumber(this.#proto.irVersion);
  }

  /** The default-domain (ai.onnx) opset the model imports; 0 when none. */
  get opset(): number {
    return defaultOpset(this.#proto);
  }

  /** Producer name and version, as the exporter wrote them ('' when absent). */
  get producer(): string {
    return [this.#proto.producerName, this.#proto.producerVersion].filter(Boolean).join(' ');
  }

  /** Elements of every initializer together: the model's parameters. */
  get parameterCount(): number {
    return (this.#proto.graph?.initializer ?? []).reduce((sum, t) => sum + (t.dims ?? []).reduce((a: number, d) => a * toNumber(d), 1), 0);
  }

  /** Names of the initializers (weights and constants fed as graph inputs). */
  initializerNames(): Set<string> {
    return new Set((this.#proto.graph?.initializer ?? []).map((t) => t.name ?? ''));
  }

  /** The graph inputs that are not initializers (the image input, for a classifier), in order. */
  inputs(): TensorInfo[] {
    const initializers = this.initializerNames();
    return (this.#proto.graph?.input ?? []).filter((i) => !initializers.has(i.name ?? '')).map(tensorInfo);
  }

  /** The graph outputs, in order. */
  outputs(): TensorInfo[] {
    return (this.#proto.graph?.output ?? []).map(tensorInfo);
  }

  /** The top-level nodes, in graph (topological) order. */
  nodes(): GraphNode[] {
    return (this.#proto.graph?.node ?? []).map((node) => ({
      name: node.name ?? '',
      opType: node.opType ?? '',
      reads: tensorsRead(node),
      outputs: (node.output ?? []).filter((o) => o),
    }));
  }

  /**
   * Dims of each tensor a top-level Constant node yields, from its attribute: shape inference
   * reports a scalar's dims as it does an unknown shape's, and the attribute tells them apart.
   */
  constantDims(): Map<string, number[]> {
    const constants = new Map<string, number[]>();
    for (const node of this.#proto.graph?.node ?? []) {
      const dims = constantDims(node);
      if (dims && node.output?.[0]) constants.set(node.output[0], dims);
    }
    return constants;
  }
}

/** The handle on a message: for the model layer's own modules (the view shares the message, no copy). */
export function graphOf(proto: ModelProto): OnnxGraph {
  return wrap(proto);
}

/** The message behind a handle: for the model layer's own modules only. */
export function protoOf(graph: OnnxGraph): ModelProto {
  return unwrap(graph);
}

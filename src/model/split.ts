import { cloneModel, DataType, type ModelProto, type NodeProto } from './onnx.js';
import { RANDOM_OPS } from './sites.js';

/** Where a rewritten model splits into a deterministic trunk (run once) and a stochastic head (run T times). */
export interface SplitPlan {
  trunk: ModelProto;
  head: ModelProto;
  /** Tensors the trunk hands to the head, each batch-major. */
  cutTensors: string[];
  trunkNodes: number;
  headNodes: number;
  /** Parameters (initializer elements) the head reads, and in the whole graph. */
  headParameters: number;
  totalParameters: number;
  /** Multiply-accumulates per image of the head and of the whole graph (Conv, Gemm, MatMul). */
  headMacs: number;
  totalMacs: number;
}

/** Ops that cost nothing: a trunk made only of these is not worth a second session. */
const FREE_OPS = new Set(['Constant', 'Identity', 'Shape', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Cast', 'Gather', 'Concat']);

/**
 * Splits `model` at the stochastic sources (mask inputs, random-op outputs).
 * `batchMajor` holds the tensors whose first dim is the batch (read from a probe run at two batch
 * sizes); a head input that is not batch-major (e.g. a Shape vector) pulls its producer into the head.
 * Returns undefined when the trunk would hold no real work.
 */
export function splitAtStochasticSources(
  model: ModelProto, sources: string[], batchMajor: ReadonlySet<string>, rowShapes: ReadonlyMap<string, number[]> = new Map(),
  types: ReadonlyMap<string, number> = new Map(),
): SplitPlan | undefined {
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name!));
  const imageInputs = new Set((graph.input ?? []).map((i) => i.name!).filter((n) => !initializers.has(n) && !sources.includes(n)));
  const producer = new Map<string, number>();
  nodes.forEach((node, i) => node.output?.forEach((o) => o && producer.set(o, i)));

  // the head: every node downstream of a stochastic source
  const tainted = new Set(sources);
  const head = new Set<number>();
  nodes.forEach((node, i) => {
    const stochastic = RANDOM_OPS.includes(node.opType ?? '');
    if (stochastic || (node.input ?? []).some((t) => tainted.has(t))) {
      head.add(i);
      node.output?.forEach((o) => o && tainted.add(o));
    }
  });
  if (head.size === 0) return undefined;
  const outputs = (graph.output ?? []).map((o) => o.name!);
  if (!outputs.every((o) => tainted.has(o))) return undefined;

  // grow the head until everything it reads from the trunk is batch-major
  let cut: string[] = [];
  for (;;) {
    const needed = new Set<string>();
    for (const i of head) for (const t of nodes[i]!.input ?? []) if (t && !tainted.has(t) && !initializers.has(t)) needed.add(t);
    const pulled = [...needed].filter((t) => !batchMajor.has(t) && !imageInputs.has(t));
    if (pulled.length === 0) {
      cut = [...needed];
      break;
    }
    for (const t of pulled) {
      const p = producer.get(t);
      if (p === undefined) return undefined; // neither batch-major nor computable: give up on splitting
      head.add(p);
      nodes[p]!.output?.forEach((o) => o && tainted.add(o));
    }
  }

  const trunkIndices = nodes.map((_, i) => i).filter((i) => !head.has(i));
  const trunkWork = trunkIndices.filter((i) => !FREE_OPS.has(nodes[i]!.opType ?? ''));
  if (trunkWork.length === 0 || cut.every((t) => imageInputs.has(t))) return undefined;

  const pick = (indices: number[]): NodeProto[] => indices.map((i) => nodes[i]!);
  const trunk = cloneModel(model);
  trunk.graph!.node = pick(trunkIndices);
  trunk.graph!.input = (graph.input ?? []).filter((i) => !sources.includes(i.name!));
  const typed = (name: string) => ({ name, type: { tensorType: { elemType: types.get(name) ?? DataType.FLOAT } } });
  trunk.graph!.output = cut.filter((t) => !imageInputs.has(t)).map(typed);
  trunk.graph!.valueInfo = [];

  const headModel = cloneModel(model);
  headModel.graph!.node = pick([...head].sort((a, b) => a - b));
  const declared = new Map((graph.input ?? []).map((i) => [i.name!, i]));
  headModel.graph!.input = [
    ...cut.map((name) => declared.get(name) ?? typed(name)),
    ...(graph.input ?? []).filter((i) => sources.includes(i.name!) || initializers.has(i.name!)),
  ];
  headModel.graph!.valueInfo = [];
  const sizes = new Map((graph.initializer ?? []).map((t) => [t.name!, (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1)]));
  const headReads = new Set([...head].flatMap((i) => nodes[i]!.input ?? []));
  let headParameters = 0;
  let totalParameters = 0;
  for (const [name, size] of sizes) {
    totalParameters += size;
    if (headReads.has(name)) headParameters += size;
  }
  const dims = new Map((graph.initializer ?? []).map((t) => [t.name!, (t.dims ?? []).map(Number)]));
  let headMacs = 0;
  let totalMacs = 0;
  nodes.forEach((node, i) => {
    const macs = nodeMacs(node, dims, rowShapes);
    totalMacs += macs;
    if (head.has(i)) headMacs += macs;
  });
  return { trunk, head: headModel, cutTensors: cut, trunkNodes: trunkIndices.length, headNodes: head.size, headParameters, totalParameters, headMacs, totalMacs };
}

/** Multiply-accumulates per image of a Conv, Gemm or MatMul whose output shape is known; 0 otherwise. */
function nodeMacs(node: NodeProto, weights: ReadonlyMap<string, number[]>, rowShapes: ReadonlyMap<string, number[]>): number {
  const out = rowShapes.get(node.output?.[0] ?? '');
  const w = weights.get(node.input?.[1] ?? '');
  if (!out || !w) return 0;
  const outputs = out.reduce((a, b) => a * b, 1);
  if (node.opType === 'Conv' && w.length >= 3) return outputs * w.slice(1).reduce((a, b) => a * b, 1);
  if (node.opType === 'Gemm' && w.length === 2) {
    const transB = node.attribute?.find((a) => a.name === 'transB')?.i;
    return outputs * (Number(transB ?? 0) ? w[1]! : w[0]!);
  }
  if (node.opType === 'MatMul' && w.length === 2) return outputs * w[0]!;
  return 0;
}

/** Every tensor the model's nodes produce (candidates for the cut). */
export function activationNames(model: ModelProto): string[] {
  return (model.graph?.node ?? []).flatMap((n) => (n.output ?? []).filter((o): o is string => Boolean(o)));
}

import { graphOf, protoOf, type OnnxGraph } from './graph.js';
import { cloneModel, DataType, tensorsRead, type NodeProto } from './onnx.js';
import { RANDOM_OPS } from './sites.js';

/**
 * Prefix sharing for stochastic depth: passes whose DropPath decisions agree up to a site compute
 * the same tensors up to it, so each part of the graph runs once per distinct prefix of decisions,
 * not once per pass. The graph is cut into levels: level 0 depends on no stochastic source (the
 * trunk, one row per image), level k on source k and maybe earlier ones (one row per distinct
 * prefix through site k). A tensor of level j read at level k > j goes through
 * Gather(tensor, ROWS(k, j), axis 0), where ROWS(k, j) gives the level-j row of each level-k row.
 */
export interface LevelPlan {
  model: OnnxGraph;
  /** The row-index inputs the graph reads: level k of each row from level j. */
  gathers: { level: number; from: number; input: string }[];
  /** Level of the graph's output (its rows). */
  outputLevel: number;
  /** Nodes per level, 0 first (for inspect). */
  nodesPerLevel: number[];
}

export function levelRowsInput(level: number, from: number): string {
  return `mc_dropout.rows.${level}.${from}`;
}

/**
 * Levels of `model` (sites already graph inputs): sources[k] is the input of site k (level k + 1).
 * `batchMajor`: tensors whose first dim is the batch. Returns why not when a tensor that is not
 * batch-major crosses levels (a Shape computed before a site and used after it, say) or a
 * subgraph sits after a site.
 */
export function levelGraph(source: OnnxGraph, sources: readonly string[], batchMajor: ReadonlySet<string>): LevelPlan | { reason: string } {
  const model = protoOf(source);
  const graph = model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name!));
  const level = new Map<string, number>();
  for (const input of graph.input ?? []) {
    if (initializers.has(input.name!)) continue;
    const k = sources.indexOf(input.name!);
    level.set(input.name!, k >= 0 ? k + 1 : 0);
  }
  const imageInputs = new Set([...level].filter(([, l]) => l === 0).map(([name]) => name));
  const out: NodeProto[] = [];
  const gathered = new Map<string, string>();
  const gathers = new Map<string, { level: number; from: number; input: string }>();
  const nodesPerLevel: number[] = [];
  for (const node of graph.node ?? []) {
    if (RANDOM_OPS.includes(node.opType ?? '')) return { reason: `${node.opType} ${node.name ?? ''} is not drawn by mc-dropout` };
    const reads = tensorsRead(node);
    const levels = reads.map((t) => level.get(t)).filter((l): l is number => l !== undefined);
    // a node that reads no row-carrying tensor (a Constant, a shape computed from weights) has no level
    if (levels.length === 0) {
      out.push(node);
      continue;
    }
    const mine = Math.max(...levels);
    if (mine > 0 && node.attribute?.some((a) => a.g || (a.graphs?.length ?? 0) > 0))
      return { reason: `${node.opType} ${node.name ?? ''} after a stochastic site holds a subgraph` };
    const inputs = (node.input ?? []).map((t) => {
      const from = t ? level.get(t) : undefined;
      if (from === undefined || from === mine) return t;
      if (!batchMajor.has(t) && !imageInputs.has(t)) return `\u0000${t}`;
      const key = `${t}\u0000${mine}`;
      let name = gathered.get(key);
      if (!name) {
        name = `${t}/mc_dropout.level${mine}`;
        const rows = levelRowsInput(mine, from);
        gathers.set(rows, { level: mine, from, input: rows });
        out.push({
          opType: 'Gather',
          name: `${t}/mc_dropout.gather_level${mine}`,
          input: [t, rows],
          output: [name],
          attribute: [{ name: 'axis', type: 2, i: 0 }],
        });
        gathered.set(key, name);
      }
      return name;
    });
    const crossing = inputs.find((t) => t?.startsWith('\u0000'));
    if (crossing) return { reason: `${crossing.slice(1)} is not batch-major and is read after a later stochastic site (by ${node.opType} ${node.name ?? ''})` };
    out.push({ ...node, input: inputs });
    for (const o of node.output ?? []) if (o) level.set(o, mine);
    nodesPerLevel[mine] = (nodesPerLevel[mine] ?? 0) + 1;
  }
  const outputs = (graph.output ?? []).map((o) => level.get(o.name!) ?? -1);
  if (outputs.some((l) => l !== outputs[0]) || outputs[0]! < 1) return { reason: 'the outputs do not all come after the stochastic sites' };
  const split = cloneModel(model);
  split.graph!.node = out;
  split.graph!.input = [...(graph.input ?? []), ...[...gathers.keys()].map((name) => ({ name, type: { tensorType: { elemType: DataType.INT64 } } }))];
  // tensors now have one row per prefix of their level, not per image: drop shapes that say otherwise
  split.graph!.valueInfo = [];
  split.graph!.output = (graph.output ?? []).map((o) => ({ name: o.name, type: { tensorType: { elemType: o.type?.tensorType?.elemType ?? DataType.FLOAT } } }));
  return { model: graphOf(split), gathers: [...gathers.values()], outputLevel: outputs[0]!, nodesPerLevel: Array.from(nodesPerLevel, (n) => n ?? 0) };
}

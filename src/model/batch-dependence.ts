import { protoOf, type OnnxGraph } from './graph.js';
import { attributeInt, tensorsRead } from './onnx.js';

/** Ops whose output describes a tensor's shape, not its values: the values of other rows do not flow through them. */
const SHAPE_OPS = new Set(['Shape', 'Size']);

/**
 * The first node after a stochastic source whose floating-point output mixes rows: its element
 * count does not scale with the batch, as with a reduction across rows such as timm's DropBlock
 * normalizing by the kept fraction of the whole mask (`ReduceSum` over every row). In a run of many
 * (image, pass) rows each row's result would then depend on the others; undefined when no such node
 * exists. `sources` are the graph inputs fed with draws; `notPerRow` comes from the probe (tensors
 * seen at batch 1 and 2, under their original names).
 */
export function findCrossRowNode(graph: OnnxGraph, sources: readonly string[], notPerRow: ReadonlySet<string>): { name: string; opType: string } | undefined {
  const tainted = new Set(sources);
  for (const node of protoOf(graph).graph?.node ?? []) {
    if (SHAPE_OPS.has(node.opType ?? '') || !tensorsRead(node).some((t) => tainted.has(t))) continue;
    for (const output of node.output ?? []) {
      if (!output) continue;
      tainted.add(output);
      if (notPerRow.has(output)) return { name: node.name ?? '', opType: node.opType ?? '' };
    }
  }
  return undefined;
}

/**
 * BatchNormalization nodes exported in training mode (training_mode 1, or the running statistics
 * as extra outputs): they normalize with the statistics of the batch, so every result depends on
 * the other images of its run. Their names ('' for an unnamed node).
 */
export function trainingModeBatchNorms(graph: OnnxGraph): string[] {
  return (protoOf(graph).graph?.node ?? [])
    .filter((n) => n.opType === 'BatchNormalization' && (attributeInt(n, 'training_mode', 0) === 1 || (n.output ?? []).filter(Boolean).length > 1))
    .map((n) => n.name ?? '');
}

/** One line naming them (trainingModeBatchNorms' names) and the fix, for inspect and for predict's refusal. */
export function describeTrainingBatchNorms(nodes: string[]): string {
  const names = `${nodes
    .slice(0, 3)
    .map((name) => name || 'unnamed')
    .join(', ')}${nodes.length > 3 ? ', ...' : ''}`;
  return `${nodes.length} BatchNormalization node(s) were exported in training mode (${names}): predictions would depend on the other images in the batch. Export with model.eval() and only the dropout modules in train mode.`;
}

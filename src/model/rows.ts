import { tensorsRead, type ModelProto, type NodeProto } from './onnx.js';

/** Ops whose output describes a tensor's shape, not its values: the values of other rows do not flow through them. */
const SHAPE_OPS = new Set(['Shape', 'Size']);

/**
 * The first node after a stochastic source whose floating-point output mixes rows: its element
 * count does not scale with the batch, as with a reduction across rows such as timm's DropBlock
 * normalising by the kept fraction of the whole mask (`ReduceSum` over every row). In a run of many
 * (image, pass) rows each row's result would then depend on the others; undefined when no such node
 * exists. `sources` are the graph inputs fed with draws; `notPerRow` comes from the probe (tensors
 * seen at batch 1 and 2, under their original names).
 */
export function findCrossRowNode(model: ModelProto, sources: readonly string[], notPerRow: ReadonlySet<string>): NodeProto | undefined {
  const tainted = new Set(sources);
  for (const node of model.graph?.node ?? []) {
    if (SHAPE_OPS.has(node.opType ?? '') || !tensorsRead(node).some((t) => tainted.has(t))) continue;
    for (const output of node.output ?? []) {
      if (!output) continue;
      tainted.add(output);
      if (notPerRow.has(output)) return node;
    }
  }
  return undefined;
}

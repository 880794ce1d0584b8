import { cloneModel, DataType, type ModelProto, type NodeProto } from './onnx.js';
import type { StochasticSite } from './sites.js';

/** Name of the graph input that carries the mask of site k. */
export function maskInputName(k: number): string {
  return `mc_dropout.mask.${k}`;
}

/**
 * Replaces each given Dropout by Mul(x, mask_k), mask_k a new graph input of x's shape and type.
 * onnxruntime cannot remove or fold a Mul by a graph input, so dropout stays live at every
 * optimization level, and the masks come from our own generator, never onnxruntime's kernel.
 * The model passed in is not modified.
 */
export function rewriteDropoutsAsMaskInputs(model: ModelProto, sites: StochasticSite[], maskTypes: number[] = []): ModelProto {
  const out = cloneModel(model);
  const graph = out.graph!;
  const nodes = graph.node ?? [];
  const replacements = new Map<number, NodeProto[]>();
  sites.forEach((site, k) => {
    if (site.op !== 'Dropout') throw new Error(`Only Dropout sites become mask inputs, not ${site.op}`);
    const original = nodes[site.nodeIndex]!;
    const mask = maskInputName(k);
    // a converted group collapses into the one Mul; its other nodes disappear
    for (const index of site.nodeIndices) if (index !== site.nodeIndex) replacements.set(index, []);
    const replacement: NodeProto[] = [
      { opType: 'Mul', name: `${site.nodeName}/mc_dropout_mul`, input: [site.input, mask], output: [site.output] },
    ];
    const maskOutput = original.opType === 'Dropout' ? original.output?.[1] : undefined;
    if (maskOutput) {
      replacement.push({
        opType: 'Cast', name: `${site.nodeName}/mc_dropout_mask`, input: [mask], output: [maskOutput],
        attribute: [{ name: 'to', type: 2 /* INT */, i: DataType.BOOL }],
      });
    }
    replacements.set(site.nodeIndex, replacement);
    // the mask has the masked tensor's type (float16 models multiply in float16)
    graph.input = [...(graph.input ?? []), { name: mask, type: { tensorType: { elemType: maskTypes[k] ?? DataType.FLOAT } } }];
  });
  graph.node = nodes.flatMap((node, i) => replacements.get(i) ?? [node]);
  return out;
}

/**
 * A copy of the model whose outputs also expose the given tensors, to read their shapes and types
 * from one real run (ONNX shape inference is not available in JS). The extra outputs carry no type:
 * onnxruntime infers it.
 */
export function exposeTensors(model: ModelProto, names: string[]): ModelProto {
  const out = cloneModel(model);
  const graph = out.graph!;
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  for (const name of names) {
    if (existing.has(name)) continue;
    graph.output = [...(graph.output ?? []), { name }];
    existing.add(name);
  }
  return out;
}

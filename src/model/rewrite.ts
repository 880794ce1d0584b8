import { graphOf, protoOf, type OnnxGraph } from './graph.js';
import { cloneModel, DataType, elemTypeOf, tensorsRead, tensorValueInfo, type GraphProto, type NodeProto } from './onnx.js';
import type { StochasticSite } from './sites.js';

/** Name of the graph input that carries the draws of site k: a Dropout's mask, or a random op's numbers. */
export function siteInputName(site: Pick<StochasticSite, 'op'>, k: number): string {
  return site.op === 'Dropout' ? `mc_dropout.mask.${k}` : `mc_dropout.noise.${k}`;
}

/**
 * Turns each given site into a graph input that mc-dropout feeds with its own draws:
 * - Dropout becomes Mul(x, mask_k), mask_k of x's shape and type;
 * - RandomUniform(Like) / RandomNormal(Like) become Identity(noise_k), noise_k of the op's output shape and type;
 * - Bernoulli(p) becomes CastLike(Less(CastLike(noise_k, p), p), p) (or Cast to its dtype), noise_k uniform in [0, 1).
 * onnxruntime cannot remove or fold an op on a graph input, so sites stay live at every optimization
 * level, and what follows a random op stays as exported. Nodes left unread (a random op's shape
 * source) are removed. `types` is the ONNX element type of each site's input. The model passed in
 * is not modified.
 */
export function rewriteSitesAsInputs(model: OnnxGraph, sites: readonly StochasticSite[], types: readonly number[] = []): OnnxGraph {
  const out = cloneModel(protoOf(model));
  const graph = out.graph!;
  const nodes = graph.node ?? [];
  const replacements = new Map<number, NodeProto[]>();
  sites.forEach((site, k) => {
    const original = nodes[site.nodeIndex]!;
    const input = siteInputName(site, k);
    // a converted group collapses into the one Mul; its other nodes disappear
    for (const index of site.nodeIndices) if (index !== site.nodeIndex) replacements.set(index, []);
    replacements.set(site.nodeIndex, site.op === 'Dropout' ? maskNodes(site, original, input) : randomOpNodes(site, original, input));
    // draws have the type of the tensor they replace (float16 models draw in float16)
    graph.input = [...(graph.input ?? []), { name: input, type: { tensorType: { elemType: types[k] ?? DataType.FLOAT } } }];
  });
  graph.node = withoutUnread(
    nodes.flatMap((node, i) => replacements.get(i) ?? [node]),
    graph,
  );
  return graphOf(out);
}

function maskNodes(site: StochasticSite, original: NodeProto, mask: string): NodeProto[] {
  const nodes: NodeProto[] = [{ opType: 'Mul', name: `${site.nodeName}/mc_dropout_mul`, input: [site.input, mask], output: [site.output] }];
  const maskOutput = original.opType === 'Dropout' ? original.output?.[1] : undefined;
  if (maskOutput) {
    nodes.push({
      opType: 'Cast',
      name: `${site.nodeName}/mc_dropout_mask`,
      input: [mask],
      output: [maskOutput],
      attribute: [{ name: 'to', type: 2 /* INT */, i: DataType.BOOL }],
    });
  }
  return nodes;
}

function randomOpNodes(site: StochasticSite, original: NodeProto, noise: string): NodeProto[] {
  const name = (role: string) => `${site.nodeName}/mc_dropout_${role}`;
  if (site.op !== 'Bernoulli') return [{ opType: 'Identity', name: name('draws'), input: [noise], output: [site.output] }];
  const p = original.input![0]!;
  const dtype = site.dtype ?? 0;
  return [
    { opType: 'CastLike', name: name('uniform'), input: [noise, p], output: [`${noise}/like_p`] },
    { opType: 'Less', name: name('less'), input: [`${noise}/like_p`, p], output: [`${noise}/hit`] },
    dtype > 0
      ? { opType: 'Cast', name: name('cast'), input: [`${noise}/hit`], output: [site.output], attribute: [{ name: 'to', type: 2, i: dtype }] }
      : { opType: 'CastLike', name: name('cast'), input: [`${noise}/hit`, p], output: [site.output] },
  ];
}

/** The nodes whose outputs something reads (another node, a subgraph, or a graph output), in order. */
function withoutUnread(nodes: NodeProto[], graph: GraphProto): NodeProto[] {
  const keep = nodes.map(() => true);
  for (let changed = true; changed;) {
    changed = false;
    const read = new Set((graph.output ?? []).map((o) => o.name ?? ''));
    nodes.forEach((node, i) => {
      if (keep[i]) for (const t of tensorsRead(node)) read.add(t);
    });
    nodes.forEach((node, i) => {
      if (keep[i] && !(node.output ?? []).some((o) => o && read.has(o))) {
        keep[i] = false;
        changed = true;
      }
    });
  }
  return nodes.filter((_, i) => keep[i]);
}

/**
 * A copy of the model whose outputs also expose the given tensors, to read their shapes and types
 * from onnxruntime's shape inference or from a real run. The extra outputs carry no type:
 * onnxruntime infers it. With `input`, the image input's declared shape becomes `dims` (a name for
 * a dynamic batch, the fed sizes elsewhere), so the inferred shapes are in terms of the batch alone.
 */
export function exposeTensors(model: OnnxGraph, names: readonly string[], input?: { name: string; dims: (number | string)[] }): OnnxGraph {
  const out = cloneModel(protoOf(model));
  const graph = out.graph!;
  if (input) {
    graph.input = (graph.input ?? []).map((info) => (info.name === input.name ? tensorValueInfo(info.name, elemTypeOf(info), input.dims) : info));
  }
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  for (const name of names) {
    if (existing.has(name)) continue;
    graph.output = [...(graph.output ?? []), { name }];
    existing.add(name);
  }
  return graphOf(out);
}

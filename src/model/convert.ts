import { UsageError } from '../errors.js';
import { classifierOutput } from './io.js';
import { METADATA_PREFIX } from './metadata.js';
import { cloneModel, DataType, type ModelProto, type NodeProto, type TensorProto } from './onnx.js';
import { CONVERTED_PREFIX, convertedSiteIndex, findStochasticSites } from './sites.js';

export interface ConvertOptions {
  /** Insert dropout with this rate before the final classifier layer (last Gemm/MatMul, else last Conv). */
  injectRate?: number;
  /** Make inert Dropout nodes live too. */
  liveAll?: boolean;
  /** Rate for every dropout site. */
  setRate?: number;
  /** mc_dropout.* metadata to embed (keys without the prefix, values as stored). */
  metadata?: Record<string, string>;
  /** Base of the RandomUniformLike seeds (site k gets seed + k). */
  seed?: number;
  /** The class-score output whose classifier --inject-rate feeds (default: the only [N, C] output, else one named logits/probabilities). */
  output?: string;
}

export interface ConvertReport {
  model: ModelProto;
  converted: { site: string; input: string; rate: number }[];
  injectedBefore: string | undefined;
}

/**
 * Rewrites every live Dropout (all with liveAll, plus an injected one) into a random-mask subgraph,
 *   y = x * Cast(Not(Less(RandomUniformLike(x, seed), p))) * 1/(1-p),
 * which no onnxruntime optimizer removes, so the file stays stochastic in any runtime (Python, C++,
 * web). mc-dropout recognizes these groups by name and draws their masks itself.
 */
export function convertModel(input: ModelProto, options: ConvertOptions): ConvertReport {
  for (const [flag, value] of [['--inject-rate', options.injectRate], ['--set-rate', options.setRate]] as const) {
    if (value !== undefined && !(value >= 0 && value < 1)) throw new UsageError(`Expected a rate in [0, 1) for ${flag} but received ${value}`);
  }
  const model = cloneModel(input);
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const sites = findStochasticSites(model).filter((s) => s.op === 'Dropout' && (s.live || options.liveAll));
  // new sites are numbered after any that an earlier convert wrote
  let next = 1 + nodes.reduce((max, n) => Math.max(max, convertedSiteIndex(n.name) ?? -1), -1);
  const seed = options.seed ?? 0;
  const converted: ConvertReport['converted'] = [];
  const insertions = new Map<number, NodeProto[]>(); // node index -> nodes that replace it
  const initializers: TensorProto[] = [];

  for (const site of sites) {
    if (site.nodeIndices.length > 1) {
      if (options.setRate === undefined) continue; // already converted; keep its rate
    }
    const rate = options.setRate ?? site.rate;
    if (!Number.isFinite(rate)) throw new UsageError(`The rate of ${site.nodeName} is not a constant; give one with --set-rate`);
    const k = next++;
    const group = maskGroup(k, site.input, site.output, rate, seed + k, initializers);
    site.nodeIndices.forEach((i) => insertions.set(i, i === site.nodeIndex ? group : []));
    converted.push({ site: `${CONVERTED_PREFIX}${k}`, input: site.input, rate });
  }

  let injectedBefore: string | undefined;
  if (options.injectRate !== undefined) {
    const output = classifierOutput(graph, 'the model', { ...(options.output !== undefined && { name: options.output }) }).name ?? '';
    const target = findClassifier(nodes, output);
    if (target === undefined) throw new UsageError('Cannot inject dropout: the model has no Gemm, MatMul or Conv layer');
    const node = nodes[target]!;
    const x = node.input![0]!;
    const k = next++;
    const dropped = `${CONVERTED_PREFIX}${k}.output`;
    const group = maskGroup(k, x, dropped, options.injectRate, seed + k, initializers);
    node.input![0] = dropped;
    insertions.set(target, [...group, ...(insertions.get(target) ?? [node])]);
    injectedBefore = `${node.opType} ${node.name || `node ${target + 1}`}`;
    converted.push({ site: `${CONVERTED_PREFIX}${k}`, input: x, rate: options.injectRate });
  }
  if (converted.length === 0) {
    throw new UsageError('Nothing to convert: the model has no live Dropout. Use --live all for inert Dropout nodes, or --inject-rate p to add dropout before the classifier.');
  }

  graph.node = nodes.flatMap((node, i) => insertions.get(i) ?? [node]);
  graph.initializer = [...(graph.initializer ?? []), ...initializers];
  const metadata = { ...options.metadata, dropout_rates: JSON.stringify(findStochasticSites(model).filter((s) => s.op === 'Dropout' && s.live).map((s) => s.rate)) };
  const kept = (model.metadataProps ?? []).filter((p) => !(p.key && p.key.slice(METADATA_PREFIX.length) in metadata && p.key.startsWith(METADATA_PREFIX)));
  model.metadataProps = [...kept, ...Object.entries(metadata).map(([key, value]) => ({ key: `${METADATA_PREFIX}${key}`, value }))];
  return { model, converted, injectedBefore };
}

/** The final classifier layer: the last Gemm/MatMul in graph order, else the last Conv. */
/** The last Gemm or MatMul (else Conv) on the way to `output`. */
function findClassifier(nodes: NodeProto[], output: string): number | undefined {
  // the nodes `output` depends on, by one backward sweep (nodes are topologically sorted)
  const needed = new Set([output]);
  const feeds = new Set<number>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (!(nodes[i]!.output ?? []).some((o) => needed.has(o))) continue;
    feeds.add(i);
    for (const input of nodes[i]!.input ?? []) needed.add(input);
  }
  for (const ops of [['Gemm', 'MatMul'], ['Conv']]) {
    for (let i = nodes.length - 1; i >= 0; i--) if (feeds.has(i) && ops.includes(nodes[i]!.opType ?? '')) return i;
  }
  return undefined;
}

function maskGroup(k: number, x: string, y: string, rate: number, seed: number, initializers: TensorProto[]): NodeProto[] {
  const name = (role: string) => `${CONVERTED_PREFIX}${k}.${role}`;
  initializers.push(
    { name: name('ratio'), dataType: DataType.FLOAT, dims: [], floatData: [rate] },
    { name: name('keep_scale'), dataType: DataType.FLOAT, dims: [], floatData: [1 / (1 - rate)] },
  );
  return [
    {
      opType: 'RandomUniformLike', name: name('uniform'), input: [x], output: [name('u')],
      attribute: [{ name: 'dtype', type: 2, i: DataType.FLOAT }, { name: 'seed', type: 1, f: seed }],
    },
    { opType: 'Less', name: name('less'), input: [name('u'), name('ratio')], output: [name('dropped')] },
    { opType: 'Not', name: name('not'), input: [name('dropped')], output: [name('kept')] },
    { opType: 'Cast', name: name('cast'), input: [name('kept')], output: [name('kept_float')], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] },
    { opType: 'Mul', name: name('scale'), input: [name('kept_float'), name('keep_scale')], output: [name('mask')] },
    { opType: 'Mul', name: name('apply'), input: [x, name('mask')], output: [y] },
  ];
}

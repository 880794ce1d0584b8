import { invalidParameter, ModelError, param, UsageError } from '../errors.js';
import { describeMcGraph, mcGraphOf } from './mc-graph-found.js';
import { nodesFeeding, paddleDropouts } from './inject.js';
import { classifierOutput } from './signature.js';
import { METADATA_PREFIX } from './metadata.js';
import { graphOf, protoOf, type OnnxGraph } from './graph.js';
import { cloneModel, DataType, type GraphProto, type NodeProto, type TensorProto } from './onnx.js';
import { CONVERTED_PREFIX, convertedSiteIndex, findStochasticSites } from './sites.js';

/** How convertModel rewrites a model: which dropout to make live, inject or revive, rates, seed and metadata. */
export interface ConvertOptions {
  /** Insert dropout with this rate before the final classifier layer (last Gemm/MatMul, else last Conv). */
  injectRate?: number;
  /** Make inert Dropout nodes live too. */
  liveAll?: boolean;
  /** Rate for every dropout site. */
  setRate?: number;
  /** mc_dropout.* metadata to embed (keys without the prefix, values as stored). */
  metadata?: Record<string, string>;
  /** Base of the RandomUniformLike seeds (site k gets randomOpSeed(seed, k)). */
  seed?: number;
  /** The class-score output whose classifier `injectRate` feeds (default: the only [N, C] output, else one named logits/probabilities). */
  output?: string;
  /** Dropout at named tensors: every node that reads `tensor` reads it dropped with drop probability `rate`. */
  injectAt?: { tensor: string; rate: number }[];
  /** No error when there is nothing to convert (the MC graph takes a model whose stochastic layers are random ops already). */
  allowUnchanged?: boolean;
  /** Make Paddle's `downgrade_in_infer` dropout (y = x * (1 - p), as paddle2onnx writes it) random again: y = x * mask, keep probability 1 - p. */
  revivePaddle?: boolean;
}

/** What convertModel did: the rewritten model and each random-mask site it wrote. */
export interface ConvertReport {
  /** The rewritten model (a new graph; the one given is left as it was). */
  model: OnnxGraph;
  converted: { site: string; input: string; rate: number }[];
  injectedBefore: string | undefined;
  /** The Paddle dropouts made random again (Mul node names). */
  revived: string[];
}

/**
 * Rewrites every live Dropout (all with liveAll, plus an injected one) into a random-mask subgraph,
 *   y = x * Cast(Not(Less(RandomUniformLike(x, seed), p))) * 1/(1-p),
 * which no onnxruntime optimizer removes, so the file stays stochastic in any runtime (Python, C++,
 * web). mc-dropout recognizes these groups by name and draws their masks itself.
 */
export function convertModel(input: OnnxGraph, options: ConvertOptions): ConvertReport {
  const isRate = (value: number | undefined) => value === undefined || (value >= 0 && value < 1);
  for (const [name, value] of [
    ['injectRate', options.injectRate],
    ['setRate', options.setRate],
  ] as const) {
    if (!isRate(value)) throw invalidParameter(name, 'a rate in [0, 1)', value);
  }
  const badAt = (options.injectAt ?? []).find((a) => !isRate(a.rate));
  if (badAt) throw invalidParameter('injectAt', `a rate in [0, 1) at ${badAt.tensor}`, badAt.rate);
  const already = mcGraphOf(input);
  if (already) throw new ModelError(`The model is already ${describeMcGraph(already)}: convert the model it was made from`, 'E_MC_GRAPH');
  const model = cloneModel(protoOf(input));
  // a view of the copy being rewritten: the readers below see each change made so far
  const view = graphOf(model);
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const sites = findStochasticSites(view).filter((s) => s.op === 'Dropout' && (s.live || options.liveAll));
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
    if (!Number.isFinite(rate)) throw new UsageError(`The rate of ${site.nodeName} is not a constant; give one with ${param('setRate')}`);
    const k = next++;
    const group = maskGroup(k, site.input, site.output, rate, randomOpSeed(seed, k), initializers);
    site.nodeIndices.forEach((i) => insertions.set(i, i === site.nodeIndex ? group : []));
    converted.push({ site: `${CONVERTED_PREFIX}${k}`, input: site.input, rate });
  }

  const output = () => classifierOutput(view, 'the model', { ...(options.output !== undefined && { name: options.output }) }).name;
  let injectedBefore: string | undefined;
  if (options.injectRate !== undefined) {
    const target = findClassifier(nodes, output());
    if (target === undefined) throw new UsageError('Cannot inject dropout: the model has no Gemm, MatMul or Conv layer');
    const node = nodes[target]!;
    const x = node.input![0]!;
    const k = next++;
    const group = maskGroup(k, x, droppedName(k), options.injectRate, randomOpSeed(seed, k), initializers);
    node.input![0] = droppedName(k);
    insertions.set(target, [...group, ...(insertions.get(target) ?? [node])]);
    injectedBefore = `${node.opType} ${node.name || `node ${target + 1}`}`;
    converted.push({ site: `${CONVERTED_PREFIX}${k}`, input: x, rate: options.injectRate });
  }
  const revived = options.revivePaddle ? paddleDropouts(view, output()) : [];
  const targets = [...(options.injectAt ?? []), ...revived.map((d) => ({ tensor: d.output, rate: d.rate }))];
  const { front, groupOf } = injectAtTensors(graph, targets, { next, seed, insertions, initializers, converted });
  if (converted.length === 0 && !options.allowUnchanged) {
    const already = sites.length > 0 ? 'its dropout is already in random-mask form (setRate changes the rates)' : 'the model has no live Dropout';
    throw new UsageError(
      `Nothing to convert: ${already}. Make inert Dropout nodes live (${param('liveAll')}), add dropout before the classifier (${param('injectRate')}) or at named tensors (${param('injectAt')})`,
    );
  }

  graph.node = [...front, ...nodes.flatMap((node, i) => insertions.get(i) ?? [node])];
  for (const node of groupOf.size > 0 ? graph.node : []) {
    const k = convertedSiteIndex(node.name);
    // a group reads the tensor it drops; every other reader, other sites' groups too, reads it dropped
    node.input = node.input?.map((input) => (groupOf.has(input) && groupOf.get(input) !== k ? droppedName(groupOf.get(input)!) : input));
  }
  graph.initializer = [...(graph.initializer ?? []), ...initializers];
  dropUnread(graph);
  const metadata = {
    ...options.metadata,
    dropout_rates: JSON.stringify(
      findStochasticSites(view)
        .filter((s) => s.op === 'Dropout' && s.live)
        .map((s) => s.rate),
    ),
  };
  const kept = (model.metadataProps ?? []).filter((p) => !(p.key && p.key.slice(METADATA_PREFIX.length) in metadata && p.key.startsWith(METADATA_PREFIX)));
  model.metadataProps = [...kept, ...Object.entries(metadata).map(([key, value]) => ({ key: `${METADATA_PREFIX}${key}`, value }))];
  return { model: view, converted, injectedBefore, revived: revived.map((d) => d.node) };
}

/**
 * The `seed` attribute of site k's RandomUniformLike: an integer in [1, 2^24) (exact in the float
 * attribute), hashed from (seed, k). Not seed + k: onnxruntime seeds each op's std::minstd_rand0,
 * where seed 0 acts as 1 (sites 0 and 1 drew the same stream: means 11 SE off with two sites) and
 * seed s + 1's stream is a fixed small multiple of seed s's (modulo 2^31 - 1), so nearby seeds give
 * dependent masks; hashed seeds are far apart.
 */
export function randomOpSeed(seed: number, k: number): number {
  const mix = (h: number) => {
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    return (h ^ (h >>> 16)) >>> 0;
  };
  const low = (seed % 2 ** 32) >>> 0;
  const high = Math.floor(seed / 2 ** 32) >>> 0;
  return 1 + (mix(mix(mix(low) ^ high) ^ k) % (2 ** 24 - 1));
}

const droppedName = (k: number) => `${CONVERTED_PREFIX}${k}.output`;

/**
 * Mask groups for dropout at named tensors, numbered from `state.next`: a tensor's group follows its
 * producer in `state.insertions` (or goes first, for a graph input), and `groupOf` maps each tensor
 * to its group's index, for the readers to be pointed at the dropped tensor.
 */
function injectAtTensors(
  graph: GraphProto,
  targets: readonly { tensor: string; rate: number }[],
  state: {
    next: number;
    seed: number;
    insertions: Map<number, NodeProto[]>;
    initializers: TensorProto[];
    converted: ConvertReport['converted'];
  },
): { front: NodeProto[]; groupOf: Map<string, number> } {
  const nodes = graph.node ?? [];
  const producers = new Map<string, number>();
  nodes.forEach((node, i) => node.output?.forEach((o) => o && producers.set(o, i)));
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const inputs = new Set((graph.input ?? []).map((i) => i.name ?? '').filter((name) => !initializers.has(name)));
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const front: NodeProto[] = [];
  const groupOf = new Map<string, number>();
  for (const { tensor, rate } of targets) {
    if (groupOf.has(tensor)) throw new UsageError(`Dropout is injected at ${tensor} twice; give each tensor once`);
    const producer = producers.get(tensor);
    if (producer === undefined && !inputs.has(tensor))
      throw new UsageError(`Cannot inject dropout at ${tensor}: the model has no such tensor (mc-dropout inspect lists the candidates)`);
    if (outputs.has(tensor)) throw new UsageError(`Cannot inject dropout at ${tensor}: it is a model output; inject at a tensor before it`);
    const k = state.next++;
    const group = maskGroup(k, tensor, droppedName(k), rate, randomOpSeed(state.seed, k), state.initializers);
    if (producer === undefined) front.push(...group);
    else state.insertions.set(producer, [...(state.insertions.get(producer) ?? [nodes[producer]!]), ...group]);
    groupOf.set(tensor, k);
    state.converted.push({ site: `${CONVERTED_PREFIX}${k}`, input: tensor, rate });
  }
  return { front, groupOf };
}

/** The last Gemm or MatMul (else Conv) on the way to `output`. */
function findClassifier(nodes: NodeProto[], output: string): number | undefined {
  const feeds = nodesFeeding(nodes, output);
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
      opType: 'RandomUniformLike',
      name: name('uniform'),
      input: [x],
      output: [name('u')],
      attribute: [
        { name: 'dtype', type: 2, i: DataType.FLOAT },
        { name: 'seed', type: 1, f: seed },
      ],
    },
    { opType: 'Less', name: name('less'), input: [name('u'), name('ratio')], output: [name('dropped')] },
    { opType: 'Not', name: name('not'), input: [name('dropped')], output: [name('kept')] },
    { opType: 'Cast', name: name('cast'), input: [name('kept')], output: [name('kept_float')], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] },
    { opType: 'Mul', name: name('scale'), input: [name('kept_float'), name('keep_scale')], output: [name('mask')] },
    { opType: 'Mul', name: name('apply'), input: [x, name('mask')], output: [y] },
  ];
}

/**
 * Drops the constants no node and no output reads: the replaced Dropout nodes' ratio and
 * training_mode (initializers, or Constant nodes that onnxruntime turns into initializers), which
 * onnxruntime would otherwise remove on every load with a warning each. An initializer that is also
 * a graph input (a default the caller may override) stays.
 */
export function dropUnread(graph: GraphProto): void {
  const read = new Set([...tensorsReadAnywhere(graph), ...(graph.output ?? []).map((o) => o.name ?? '')]);
  const inputs = new Set((graph.input ?? []).map((i) => i.name ?? ''));
  const isConstant = (node: NodeProto) => node.opType === 'Constant' && (node.domain ?? '') === '' && (node.input ?? []).length === 0;
  graph.node = (graph.node ?? []).filter((node) => !isConstant(node) || (node.output ?? []).some((o) => read.has(o)));
  graph.initializer = (graph.initializer ?? []).filter((t) => read.has(t.name ?? '') || inputs.has(t.name ?? ''));
}

/** Every tensor name a node of the graph reads, subgraphs' nodes included (they may read the outer graph's). */
function tensorsReadAnywhere(graph: GraphProto): string[] {
  return (graph.node ?? []).flatMap((node) => [
    ...(node.input ?? []),
    ...(node.attribute ?? []).flatMap((a) =>
      [...(a.g ? [a.g] : []), ...(a.graphs ?? [])].flatMap((g) => [...tensorsReadAnywhere(g), ...(g.output ?? []).map((o) => o.name ?? '')]),
    ),
  ]);
}

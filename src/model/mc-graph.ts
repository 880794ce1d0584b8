/**
 * MC dropout as one ONNX graph: the image input tiled to T x batch rows, the model (its dropout in
 * random-mask form, as convert writes it, so no optimizer removes it) run once on all rows, a
 * softmax per row, and the statistics as graph ops. Runtimes draw the random numbers with their
 * own generators, so the passes are not mc-dropout's seeded masks.
 */
import { invalidParameter, ModelError, param, UsageError } from '../errors.js';
import { graphBuilder, intAttribute, topTwoMargin, type GraphBuilder } from './graph-builder.js';
import { addMapStatistics, mapOutputDims, scoreMapOf, type McGraphMap } from './mc-graph-maps.js';
import { leveledRows, type McGraphLevels } from './mc-graph-levels.js';
import { METADATA_PREFIX, type Layout } from './metadata.js';
import { describeMcGraph, MC_GRAPH_PREFIX, mcGraphOf, type McGraphMember } from './mc-graph-found.js';

// what reads a model (is it an MC graph?) lives apart, so a load does not import the builder
export { describeMcGraph, MC_GRAPH_PREFIX, mcGraphOf, type McGraphMember } from './mc-graph-found.js';
import { graphOf, protoOf, type OnnxGraph } from './graph.js';
import { DataType, defaultOpset, shapeOf, tensorValueInfo, toNumber, type GraphProto, type ModelProto, type NodeProto } from './onnx.js';
import { classifierOutput, isSoftmaxOutput } from './signature.js';
import { RANDOM_OPS } from './sites.js';

/**
 * The outputs of an MC graph, per image: [batch, classes] for mean and std, [batch] for the rest;
 * for a segmentation model, per pixel: mean and std [batch, ...map] in the map's layout, the rest
 * [batch, H, W] (mc-graph-maps.ts).
 */
export const MC_GRAPH_OUTPUTS = [
  'mean',
  'std',
  'label',
  'confidence',
  'entropy',
  'expected_entropy',
  'mutual_information',
  'variation_ratio',
  'margin',
] as const;

/**
 * Builds the MC graph of `model` (dropout already random ops: convertModel's output) for T passes.
 * `cut`: the tensors where the deterministic trunk ends (the engine's trunk split, each with its
 * rank): the trunk then runs once per image and only these are tiled; without it the input is.
 * `seedInput`: the random numbers come from a `seed` input (int64 [1], >= 0) instead of the
 * runtime's generator (seededRandomOps); `mc_dropout.mc_graph_seed` names the input, or says none.
 */
export function mcGraph(
  source: OnnxGraph,
  passes: number,
  options: { output?: string; cut?: readonly { name: string; rank: number }[]; seedInput?: boolean; levels?: McGraphLevels } = {},
): OnnxGraph {
  const already = mcGraphOf(source);
  if (already) throw new ModelError(`The model is already ${describeMcGraph(already)}: convert the model it was made from`, 'E_MC_GRAPH');
  if (!(Number.isInteger(passes) && passes >= 2 && passes <= 100_000)) throw invalidParameter('mcGraph', 'an integer number of passes in [2, 100000]', passes);
  // rewritten in place: convert hands over its own copy (convertModel's output)
  const model = protoOf(source);
  const graph = model.graph!;
  const { input, dims, scoreName, classes, map } = checkedSignature(source, graph, options.output);
  renameClashingTensors(graph);
  const build = graphBuilder(defaultOpset(model), MC_GRAPH_PREFIX);
  let front: NodeProto[];
  let scores = scoreName;
  if (options.levels) {
    // prefix sharing (mc-graph-levels.ts): `source` is the engine's level graph; the level inputs come first
    const groups = leveledRows(build, options.levels, passes, input);
    front = build.nodes.splice(0);
    scores = build.node('Gather', [scoreName, groups], 'levels.scores', [intAttribute('axis', 0)]);
  } else {
    const tiled = tiledPasses(graph.node ?? [], build, passes, { name: input, rank: dims.length }, options.cut);
    front = tiled.front;
    graph.node = tiled.perPass;
    dropRowsValueInfo(graph, tiled.perPass);
  }
  if (map) addMapStatistics(build, defaultOpset(model), scores, map, passes);
  else addStatistics(build, isSoftmaxOutput(source, scoreName), scores, passes, classes);

  const perPass = graph.node ?? [];
  if (options.levels && options.seedInput)
    throw new UsageError(`The MC graph shares DropPath prefixes with the runtime's random numbers only; leave out ${param('mcGraphSeed')}`);
  const seeded = options.seedInput ? seededRandomOps(perPass, build) : undefined;
  graph.node = [...front, ...(seeded ?? perPass), ...build.nodes];
  graph.initializer = [...(graph.initializer ?? []), ...build.added];
  // the seed, where asked for: a required input (onnxruntime-node and -web feed no input that has a default)
  if (seeded) graph.input = [...(graph.input ?? []), tensorValueInfo(MC_GRAPH_SEED, DataType.INT64, [1])];
  const batch = typeof dims[0] === 'string' ? dims[0] : 'batch';
  // the outputs by their documented names, without the prefix
  graph.node.push(
    ...MC_GRAPH_OUTPUTS.map((name): NodeProto => ({ opType: 'Identity', name: `${prefixed(name)}.out`, input: [prefixed(name)], output: [name] })),
  );
  graph.output = MC_GRAPH_OUTPUTS.map((name) =>
    tensorValueInfo(
      name,
      name === 'label' ? DataType.INT64 : DataType.FLOAT,
      map ? mapOutputDims(name, batch, map) : name === 'mean' || name === 'std' ? [batch, classes] : [batch],
    ),
  );
  stampMcGraphMetadata(model, { passes, outputs: MC_GRAPH_OUTPUTS, seeded: Boolean(seeded), ...(map && { map: map.layout }) });
  return graphOf(model);
}

/** `role` under MC_GRAPH_PREFIX: the name of a node, tensor or initializer the MC graph adds. */
const prefixed = (role: string): string => `${MC_GRAPH_PREFIX}${role}`;

/**
 * The model's one image input (its dims, with a dynamic batch first) and its float32 class scores
 * [N, classes] or class-score map (`map`: a 4-D output), checked in this order; each failed check
 * throws a UsageError saying why (a map without a fixed class axis: checkClassScores' ModelError).
 */
export function checkedSignature(
  source: OnnxGraph,
  graph: GraphProto,
  output: string | undefined,
): { input: string; dims: (number | string | null)[]; scoreName: string; classes: number; map?: McGraphMap } {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) throw new UsageError(`The MC graph takes one image input; the model has ${inputs.length}`);
  const input = inputs[0]!;
  const dims = shapeOf(input);
  if (!dims || dims.length < 2) throw new UsageError(`The model's input ${input.name} has no known rank`);
  if (typeof dims[0] === 'number')
    throw new UsageError(`The model's batch dimension is fixed to ${dims[0]}: the MC graph needs a dynamic batch to run T x batch rows`);
  const scores = classifierOutput(source, 'the model', { ...(output !== undefined && { name: output }) });
  const scoreName = scores.name;
  const map = scores.dims?.length === 4 ? scoreMapOf(source, dims, scores) : undefined;
  const classes = map ? map.classes : scores.dims?.[1];
  if (typeof classes !== 'number' || classes < 2) throw new UsageError(`The class-score output ${scoreName} has no fixed number of classes (at least 2)`);
  if (scores.elemType !== DataType.FLOAT) throw new UsageError(`The MC graph needs float32 class scores; ${scoreName} is not float32`);
  if ((graph.node ?? []).some((n) => (n.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0))) {
    throw new UsageError('The MC graph does not rewrite models with subgraphs (If, Loop, Scan)');
  }
  if ([...MC_GRAPH_OUTPUTS, MC_GRAPH_SEED].includes(input.name!))
    throw new UsageError(`The model's input is named '${input.name}', one of the MC graph's outputs or its seed input`);
  return { input: input.name!, dims, scoreName, classes, ...(map && { map }) };
}

/** Renames, inside the graph, a tensor of the model named like an MC graph output or the seed input ('mean' in a normalisation, say). */
function renameClashingTensors(graph: GraphProto): void {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const taken = new Set([...(graph.node ?? []).flatMap((x) => x.output ?? []), ...initializers]);
  for (const clash of [...MC_GRAPH_OUTPUTS, MC_GRAPH_SEED].filter((name) => taken.has(name))) {
    const renamed = `${MC_GRAPH_PREFIX}model.${clash}`;
    const rename = (name: string) => (name === clash ? renamed : name);
    for (const each of graph.node ?? []) {
      each.input = each.input?.map(rename);
      each.output = each.output?.map(rename);
    }
    for (const tensor of graph.initializer ?? []) tensor.name = rename(tensor.name ?? '');
    for (const info of [...(graph.valueInfo ?? []), ...(graph.output ?? [])]) info.name = rename(info.name ?? '');
  }
}

/**
 * Tiles pass-major (row t * batch + i is pass t of image i) the trunk's cut tensors, read by the
 * part that runs per pass, or without a trunk the image input, read by every node. `front`: what
 * runs once per image (the trunk, then the Tiles); `perPass`: the other nodes, reading the tiles.
 * The Tiles' repeats go to `build.added`; the Tile nodes leave `build.nodes` for `front`.
 */
export function tiledPasses(
  original: NodeProto[],
  build: GraphBuilder,
  passes: number,
  input: { name: string; rank: number },
  cutOption: readonly { name: string; rank: number }[] | undefined,
): { front: NodeProto[]; perPass: NodeProto[] } {
  const split = cutOption && cutOption.length > 0 ? trunkOf(original, cutOption, input.name) : undefined;
  const cut = split ? cutOption! : [input];
  const trunk = split ?? new Set<number>();
  const tiledName = new Map(
    cut.map(
      (c, k) => [c.name, build.node('Tile', [c.name, build.int64(`repeats.${k}`, [passes, ...Array<number>(c.rank - 1).fill(1)])], `tiled.${k}`)] as const,
    ),
  );
  const tiles = build.nodes.splice(0);
  original.forEach((each, i) => {
    if (!trunk.has(i)) each.input = each.input?.map((name) => tiledName.get(name) ?? name);
  });
  const front = [...original.filter((_, i) => trunk.has(i)), ...tiles];
  return { front, perPass: original.filter((_, i) => !trunk.has(i)) };
}

/**
 * Drops the value_info of the tensors `perPass` computes: they hold T x batch rows, and a shape an
 * exporter declared for them ([batch, ...], with the input's batch symbol or a fixed 1, as
 * torch.export-based exports do for every tensor) is now wrong; onnxruntime trusts it when it plans
 * buffers ("Shape mismatch attempting to re-use buffer") and infers the shapes itself without it.
 */
export function dropRowsValueInfo(graph: GraphProto, perPass: readonly NodeProto[]): void {
  if (!graph.valueInfo?.length) return;
  const rows = new Set(perPass.flatMap((n) => n.output ?? []));
  graph.valueInfo = graph.valueInfo.filter((info) => !rows.has(info.name ?? ''));
}

/** Each pass's vote as a one-hot row [T, batch, C]: the argmax of its probabilities p3 [T, batch, C] (lowest index on ties). */
export function passVotes(build: GraphBuilder, p3: string, classes: number): string {
  const { node, int64 } = build;
  const votes = node('ArgMax', [p3], 'votes', [intAttribute('axis', 2), intAttribute('keepdims', 0)]);
  return node(
    'OneHot',
    [votes, int64('depth', [classes], true), node('Cast', [int64('off_on', [0, 1])], 'off_on_float', [intAttribute('to', DataType.FLOAT)])],
    'onehot',
    [intAttribute('axis', -1)],
  );
}

/**
 * The statistics as graph ops on the class scores `scoreName` of all T x batch rows: mean and std
 * [batch, C], label, confidence, entropy, expected entropy, mutual information, variation ratio and
 * margin [batch], each under its prefixed output name.
 */
function addStatistics(build: GraphBuilder, scoresAreSoftmax: boolean, scoreName: string, passes: number, classes: number): void {
  const { node, int64, float, reduce } = build;
  // probabilities [T, batch, C]
  const probs = scoresAreSoftmax ? scoreName : node('Softmax', [scoreName], 'probs', [intAttribute('axis', -1)]);
  const p3 = node('Reshape', [probs, int64('shape', [passes, -1, classes])], 'passes');
  const mean = reduce('ReduceMean', p3, [0], 'mean');
  const deviation = node('Sub', [p3, mean], 'deviation');
  const squared = node('Mul', [deviation, deviation], 'squared');
  node('Sqrt', [reduce('ReduceMean', squared, [0], 'variance')], 'std');
  const tiny = float('tiny', 1e-30);
  // 0 log 0 = 0: a probability floored at 1e-30 before the log, times the probability itself
  const plogp = (p: string, out: string) => node('Mul', [p, node('Log', [node('Max', [p, tiny], `${out}.floored`)], `${out}.log`)], out);
  const entropy = node('Neg', [reduce('ReduceSum', plogp(mean, 'mean_plogp'), [1], 'mean_sum')], 'entropy');
  const perPass = node('Neg', [reduce('ReduceSum', plogp(p3, 'pass_plogp'), [2], 'pass_sum')], 'pass_entropy');
  const expected = reduce('ReduceMean', perPass, [0], 'expected_entropy');
  node('Max', [node('Sub', [entropy, expected], 'mi_raw'), float('zero', 0)], 'mutual_information');
  // variation ratio: 1 - (passes voting for the modal class) / T, votes by each pass's argmax (lowest index on ties)
  const onehot = passVotes(build, p3, classes);
  const counts = reduce('ReduceSum', onehot, [0], 'counts');
  const modal = reduce('ReduceMax', counts, [1], 'modal');
  node('Sub', [float('one', 1), node('Div', [modal, float('pass_count', passes)], 'modal_share')], 'variation_ratio');
  node('ArgMax', [mean], 'label', [intAttribute('axis', 1), intAttribute('keepdims', 0)]);
  node('Identity', [reduce('ReduceMax', mean, [1], 'confidence_raw')], 'confidence');
  topTwoMargin(build, mean, 1, classes);
}

/**
 * The metadata describes the MC graph: its outputs are the statistics, no longer the model's logits.
 * `members`: an ensemble's, each file's base name, SHA-256 and passes (`mc_graph_members`); `map`: a
 * segmentation model's, the layout of its mean and std maps (`mc_graph_map`).
 */
export function stampMcGraphMetadata(
  model: ModelProto,
  graph: { passes: number; outputs: readonly string[]; seeded: boolean; members?: readonly McGraphMember[]; map?: Layout },
): void {
  const own = {
    output: 'mc_graph',
    mc_graph_passes: String(graph.passes),
    mc_graph_outputs: JSON.stringify(graph.outputs),
    mc_graph_seed: graph.seeded ? MC_GRAPH_SEED : 'none',
    ...(graph.members && { mc_graph_members: JSON.stringify(graph.members) }),
    ...(graph.map && { mc_graph_map: graph.map }),
  };
  model.metadataProps = [
    ...(model.metadataProps ?? []).filter((p) => !(p.key && p.key.startsWith(METADATA_PREFIX) && p.key.slice(METADATA_PREFIX.length) in own)),
    ...Object.entries(own).map(([key, value]) => ({ key: `${METADATA_PREFIX}${key}`, value })),
  ];
}

/** The seeded MC graph's seed input: int64 [1], at least 0 (reduced modulo 2^32). */
export const MC_GRAPH_SEED = 'seed';

/** Odd multipliers below 2^31: a product with a value below 2^32 stays below 2^63 in int64. */
const M1 = 0x7feb352d;
const M2 = 0x5bd1e995;
const GOLDEN = 0x9e3779b9;

/**
 * The integer hash the seeded graph computes, in plain numbers (for the tests): `mix` on values
 * in [0, 2^32), with add-shift in place of xor-shift (ONNX has BitwiseXor only from opset 18, and
 * BitShift only for unsigned types onnxruntime's Mul lacks), so every step is int64 Add, Mul, Div
 * or Mod that cannot overflow.
 */
export function mix32(x: bigint): bigint {
  const m = 2n ** 32n;
  x = (x + x / 65536n) % m;
  x = (x * BigInt(M1)) % m;
  x = (x + x / 32768n) % m;
  x = (x * BigInt(M2)) % m;
  return (x + x / 65536n) % m;
}

/** Element `index` of random op `op`'s uniform numbers for `seed` (>= 0), as the seeded graph computes it: [0, 1) in steps of 2^-24. */
export function seededUniform(seed: bigint, op: number, index: number): number {
  const m = 2n ** 32n;
  const key = mix32((mix32(((seed % m) + m) % m) + BigInt(opKey(op))) % m);
  const h = mix32(mix32((BigInt(index) + key) % m));
  return Number(h / 256n) / 2 ** 24;
}

/** Op index `op`'s term in the key of its numbers: op x 0x9e3779b9 modulo 2^32 (a bijection on op modulo 2^32, GOLDEN being odd). */
const opKey = (op: number): number => Number((BigInt(op) * BigInt(GOLDEN)) % 2n ** 32n);

/**
 * Replaces each RandomUniformLike (float32: convert's masks and timm's DropPath alike) with numbers
 * hashed from the seed input, the op's index and the element's index only (seededUniform), in
 * integer ops every runtime has (Range, Add, Mul, Div, Mod, Cast). The op's index is `firstOp` plus
 * its place in graph order (an ensemble's member m starts at m x 2^20, so its numbers do not depend
 * on the other members). A model with other random ops (RandomNormalLike, Bernoulli...) is refused,
 * so a seed never half-controls a graph. The hashing nodes are named under `build.prefix`.
 */
export function seededRandomOps(graph: readonly NodeProto[], build: GraphBuilder, firstOp = 0): NodeProto[] {
  const { node, int64, nodes } = build;
  // a float32 scalar made by a Constant node (kept among `nodes`)
  const float32Const = (name: string, value: number): string => {
    const out = `${build.prefix}${name}`;
    nodes.push({ opType: 'Constant', name: out, output: [out], attribute: [{ name: 'value_float', type: 1, f: value }] });
    return out;
  };
  const attr = (n: NodeProto, name: string) => (n.attribute ?? []).find((a) => a.name === name);
  const uniform = graph.filter((n) => n.opType === 'RandomUniformLike');
  const odd = graph.filter(
    (n) =>
      (RANDOM_OPS.includes(n.opType ?? '') && n.opType !== 'RandomUniformLike') ||
      (n.opType === 'RandomUniformLike' && attr(n, 'dtype')?.i !== undefined && toNumber(attr(n, 'dtype')!.i) !== DataType.FLOAT),
  );
  if (odd.length > 0)
    throw new UsageError(
      `The MC graph's seed input drives float32 RandomUniformLike only, and the model also draws with ${odd.map((n) => `${n.opType} ${n.name ?? ''}`).join(', ')}; leave out ${param('mcGraphSeed')}`,
    );
  const start = nodes.length;
  const two32 = int64('two32', [2 ** 32], true);
  const consts = new Map<number, string>();
  const c = (v: number) => consts.get(v) ?? (consts.set(v, int64(`c${v}`, [v], true)), consts.get(v)!);
  let count = 0;
  const mod = (x: string) => node('Mod', [x, two32], `h${count++}`, [{ name: 'fmod', type: 2, i: 0 }]);
  const mix = (x: string) => {
    x = mod(node('Add', [x, node('Div', [x, c(65536)], `h${count++}`)], `h${count++}`));
    x = mod(node('Mul', [x, c(M1)], `h${count++}`));
    x = mod(node('Add', [x, node('Div', [x, c(32768)], `h${count++}`)], `h${count++}`));
    x = mod(node('Mul', [x, c(M2)], `h${count++}`));
    return mod(node('Add', [x, node('Div', [x, c(65536)], `h${count++}`)], `h${count++}`));
  };
  const base = mix(mod(MC_GRAPH_SEED));
  uniform.forEach((random, j) => {
    const x = random.input![0]!;
    const key = mix(mod(node('Add', [base, c(opKey(firstOp + j))], `h${count++}`)));
    const index = node('Range', [c(0), node('Size', [x], `random${j}.size`), c(1)], `random${j}.index`);
    const h = mix(mix(mod(node('Add', [index, key], `h${count++}`))));
    const float = node('Cast', [node('Div', [h, c(256)], `random${j}.high24`)], `random${j}.float`, [{ name: 'to', type: 2, i: DataType.FLOAT }]);
    let u = node('Mul', [float, float32Const(`random${j}.step`, 2 ** -24)], `random${j}.unit`);
    const low = attr(random, 'low')?.f ?? 0;
    const high = attr(random, 'high')?.f ?? 1;
    if (low !== 0 || high !== 1)
      u = node(
        'Add',
        [node('Mul', [u, float32Const(`random${j}.width`, high - low)], `random${j}.scaled`), float32Const(`random${j}.low`, low)],
        `random${j}.shifted`,
      );
    // the hashed numbers take the random op's place, under its output's name
    nodes.push({
      opType: 'Reshape',
      name: `${build.prefix}random${j}.hashed`,
      input: [u, node('Shape', [x], `random${j}.shape`)],
      output: [random.output![0]!],
    });
  });
  const hashing = nodes.splice(start);
  return topologicalMerge(
    graph.filter((n) => n.opType !== 'RandomUniformLike'),
    hashing,
  );
}

/** `model` and `added` nodes as one topologically sorted list (each node after the producers of its inputs). */
function topologicalMerge(model: readonly NodeProto[], added: readonly NodeProto[]): NodeProto[] {
  const all = [...model, ...added];
  const producer = new Map<string, number>();
  all.forEach((n, i) => n.output?.forEach((o) => producer.set(o, i)));
  const done = new Set<number>();
  const out: NodeProto[] = [];
  const visit = (i: number) => {
    if (done.has(i)) return;
    done.add(i);
    for (const name of all[i]!.input ?? []) {
      const p = producer.get(name);
      if (p !== undefined) visit(p);
    }
    out.push(all[i]!);
  };
  all.forEach((_, i) => visit(i));
  return out;
}

/** Indices of the nodes the tensors `wanted` depend on (nodes are topologically sorted). */
function ancestorsOf(nodes: readonly NodeProto[], wanted: ReadonlySet<string>): Set<number> {
  const needed = new Set(wanted);
  const out = new Set<number>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!(node.output ?? []).some((o) => needed.has(o))) continue;
    out.add(i);
    for (const input of node.input ?? []) if (input) needed.add(input);
  }
  return out;
}

/**
 * The trunk's nodes (the ancestors of the cut tensors), when the rest of the graph reads nothing of
 * the trunk but the cut tensors (and the input, when it is one); undefined otherwise (a shape taken
 * in the trunk and used after the first random op, say), and the input is tiled instead.
 */
function trunkOf(nodes: readonly NodeProto[], cut: readonly { name: string }[], input: string): Set<number> | undefined {
  const names = new Set(cut.map((c) => c.name));
  const trunk = ancestorsOf(nodes, names);
  const fromTrunk = new Set([input, ...[...trunk].flatMap((i) => nodes[i]!.output ?? [])]);
  const leaks = nodes.some((node, i) => !trunk.has(i) && (node.input ?? []).some((name) => fromTrunk.has(name) && !names.has(name)));
  return leaks ? undefined : trunk;
}

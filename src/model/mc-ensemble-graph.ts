/**
 * An ensemble's MC dropout as one ONNX graph: one image input, every member run on it (its names
 * under `m<k>.`), T passes each for a member with random ops and one for a member without, a
 * softmax per row, and the statistics over the ensemble (equal weight per member) as graph ops,
 * split as src/ensemble/decomposition.ts splits them (no views here). mcGraph makes one model's.
 */
import { InternalError, invalidParameter, ModelError, UsageError, whereThrown } from '../errors.js';
import { randomOpSeed } from './convert.js';
import { protoOf, graphOf, type OnnxGraph } from './graph.js';
import { graphBuilder, intAttribute, topTwoMargin, type GraphBuilder } from './graph-builder.js';
import {
  checkedSignature,
  describeMcGraph,
  dropRowsValueInfo,
  MC_GRAPH_OUTPUTS,
  MC_GRAPH_PREFIX,
  MC_GRAPH_SEED,
  mcGraphOf,
  seededRandomOps,
  stampMcGraphMetadata,
  tiledPasses,
  passVotes,
  type McGraphMember,
} from './mc-graph.js';
import { METADATA_PREFIX, readMetadata, type ModelMetadata } from './metadata.js';
import {
  DataType,
  encodeModel,
  tensorValueInfo,
  toNumber,
  type FunctionProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type ValueInfoProto,
} from './onnx.js';
import { isSoftmaxOutput } from './signature.js';
import { RANDOM_OPS } from './sites.js';

/** The outputs of an ensemble's MC graph: the MC graph's, then the split of the mutual information and the members' disagreement ([batch] each). */
export const MC_ENSEMBLE_OUTPUTS = [...MC_GRAPH_OUTPUTS, 'between_members', 'within_passes', 'member_disagreement'] as const;

/** The ops of member m, seeded from the seed input, are numbered from m x 2^20 (seededUniform's `op`). */
const MEMBER_OP_STRIDE = 2 ** 20;

/** One member of the ensemble, as mcEnsembleGraph takes it. */
export interface EnsembleMember {
  /** The member's file as the caller named it: for messages, and (its base name) for the metadata. */
  file: string;
  /** SHA-256 of the member's file and its external weights, recorded in the metadata. */
  sha256: string;
  /** convertModel's output for this member: rewritten in place, as mcGraph rewrites convert's copy. */
  graph: OnnxGraph;
  /** The engine's trunk split for this member (mcGraph's `cut`): its trunk then runs once per image. */
  cut?: readonly { name: string; rank: number }[];
}

/** Whether a model has random ops (convert's masks, DropPath, noise): a member without any runs one pass. */
export function hasRandomOps(graph: OnnxGraph): boolean {
  return (protoOf(graph).graph?.node ?? []).some((node) => RANDOM_OPS.includes(node.opType ?? ''));
}

/** A member with what its checks found: its proto, image input, class scores, and whether it draws. */
interface CheckedMember extends EnsembleMember {
  model: ModelProto;
  input: ValueInfoProto;
  dims: (number | string | null)[];
  scoreName: string;
  classes: number;
  softmax: boolean;
  stochastic: boolean;
  metadata: ModelMetadata;
}

/**
 * Builds the MC graph of an ensemble of `members` (two at least; each convertModel's output, its
 * dropout already random ops) for T passes per member with random ops. The members must share the
 * class count, the image input's type and size, the opset and the preprocessing their metadata
 * records (ModelError naming both members otherwise). `output`: the class-score output of every
 * member by name. `seedInput`: the random numbers come from a `seed` input, member m's from op
 * indices m x 2^20 on (seededRandomOps); without it, the random ops of member m >= 1 get `seed`
 * attributes hashed from (`seed`, m, the op's place), so no two members draw the same stream.
 */
export function mcEnsembleGraph(
  members: readonly EnsembleMember[],
  passes: number,
  options: { output?: string; seedInput?: boolean; seed?: number } = {},
): OnnxGraph {
  if (members.length < 2) throw new InternalError(`mcEnsembleGraph takes two members at least, got ${members.length}: mcGraph makes one model's`);
  if (!(Number.isInteger(passes) && passes >= 2 && passes <= 100_000)) throw invalidParameter('mcGraph', 'an integer number of passes in [2, 100000]', passes);
  const checked = members.map((member) => checkedMember(member, options.output));
  const first = checked[0]!;
  for (const member of checked.slice(1)) checkCompatible(first, member);
  const sharedInput = first.input.name!;
  if ((MC_ENSEMBLE_OUTPUTS as readonly string[]).includes(sharedInput) || /^m\d+\./.test(sharedInput) || sharedInput.startsWith(MC_GRAPH_PREFIX))
    throw new UsageError(
      `${first.file}: the input is named '${sharedInput}', one of the ensemble graph's outputs or under a prefix it gives the members' names (m0., m1., mc_graph.)`,
    );
  const dims = sharedDims(checked);
  const rank = dims.length;
  const classes = first.classes;
  const opset = opsetOf(first.model);

  const modelNodes: NodeProto[] = [];
  const graphs: GraphProto[] = [];
  const builders: GraphBuilder[] = [];
  const perMember: MemberStatistics[] = [];
  checked.forEach((member, m) => {
    const graph = member.model.graph!;
    if (!options.seedInput && m > 0) reseedRandomOps(graph, options.seed ?? 0, m);
    const rename = renameMember(graph, `m${m}.`, member.input.name!, sharedInput);
    const build = graphBuilder(opset, `${MC_GRAPH_PREFIX}m${m}.`);
    const cut = member.cut?.map((c) => ({ name: rename(c.name), rank: c.rank }));
    const { front, perPass } = member.stochastic
      ? tiledPasses(graph.node ?? [], build, passes, { name: sharedInput, rank }, cut)
      : { front: [], perPass: graph.node ?? [] };
    if (member.stochastic) dropRowsValueInfo(graph, perPass);
    perMember.push(memberStatistics(build, member.softmax, rename(member.scoreName), member.stochastic ? passes : 1, classes));
    const seeded = options.seedInput && member.stochastic ? whereThrown(member.file, () => seededRandomOps(perPass, build, m * MEMBER_OP_STRIDE)) : undefined;
    modelNodes.push(...front, ...(seeded ?? perPass), ...build.nodes.splice(0));
    graphs.push(graph);
    builders.push(build);
  });

  const ensemble = graphBuilder(opset, MC_GRAPH_PREFIX);
  const statistics = ensembleStatistics(ensemble, builders, perMember, classes);
  const batch = typeof dims[0] === 'string' ? dims[0] : 'batch';
  const outputs = MC_ENSEMBLE_OUTPUTS.map((name): NodeProto => ({
    opType: 'Identity',
    name: `${MC_GRAPH_PREFIX}${name}.out`,
    input: [`${MC_GRAPH_PREFIX}${name}`],
    output: [name],
  }));
  const initializerNames = new Set(graphs.flatMap((g) => (g.initializer ?? []).map((t) => t.name ?? '')));
  const model: ModelProto = {
    ...first.model,
    irVersion: Math.max(...checked.map((member) => toNumber(member.model.irVersion))),
    opsetImport: sharedOpsets(checked),
    functions: sharedFunctions(checked),
    graph: {
      ...first.model.graph,
      node: [...modelNodes, ...statistics, ...outputs],
      initializer: [...graphs.flatMap((g) => g.initializer ?? []), ...builders.flatMap((b) => b.added), ...ensemble.added],
      sparseInitializer: graphs.flatMap((g) => g.sparseInitializer ?? []),
      input: [
        sharedInputInfo(first.input, dims),
        // initializers that are also inputs (defaults a caller may override) stay inputs, under their member's name
        ...graphs.flatMap((g) => (g.input ?? []).filter((i) => initializerNames.has(i.name ?? ''))),
        ...(options.seedInput ? [tensorValueInfo(MC_GRAPH_SEED, DataType.INT64, [1])] : []),
      ],
      output: MC_ENSEMBLE_OUTPUTS.map((name) =>
        tensorValueInfo(name, name === 'label' ? DataType.INT64 : DataType.FLOAT, name === 'mean' || name === 'std' ? [batch, classes] : [batch]),
      ),
      valueInfo: graphs.flatMap((g) => g.valueInfo ?? []),
      quantizationAnnotation: graphs.flatMap((g) => g.quantizationAnnotation ?? []),
    },
    metadataProps: ensembleMetadata(checked),
  };
  const recorded: McGraphMember[] = checked.map((member) => ({
    file: member.file.split(/[\\/]/).pop()!,
    sha256: member.sha256,
    passes: member.stochastic ? passes : 1,
  }));
  stampMcGraphMetadata(model, { passes, outputs: MC_ENSEMBLE_OUTPUTS, seeded: Boolean(options.seedInput), members: recorded });
  return graphOf(model);
}

/** The member's own checks: not an MC graph already, one image input, float32 class scores (mcGraph's checks), not a map. */
function checkedMember(member: EnsembleMember, output: string | undefined): CheckedMember {
  const already = mcGraphOf(member.graph);
  if (already) throw new ModelError(`${member.file} is already ${describeMcGraph(already)}: give the models it was made from`, 'E_MC_GRAPH');
  const model = protoOf(member.graph);
  const graph = model.graph!;
  const { input, dims, scoreName, classes, map } = whereThrown(member.file, () => checkedSignature(member.graph, graph, output));
  if (map)
    throw new UsageError(
      `${member.file}: ${scoreName} is a class-score map (a segmentation model): an ensemble's MC graph takes classifiers ([N, classes] scores) only; write each segmentation model's own MC graph`,
    );
  return {
    ...member,
    model,
    input: (graph.input ?? []).find((i) => i.name === input)!,
    dims,
    scoreName,
    classes,
    softmax: isSoftmaxOutput(member.graph, scoreName),
    stochastic: hasRandomOps(member.graph),
    metadata: readMetadata(member.graph, member.file),
  };
}

const shown = (dims: readonly (number | string | null)[]) => `[${dims.map((d) => d ?? '?').join(', ')}]`;
const opsetOf = (model: ModelProto) => toNumber((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version);

/** The preprocessing a member's metadata records: one input for all members means one preprocessing. */
const PREPROCESSING: readonly (keyof ModelMetadata)[] = ['inputSize', 'mean', 'std', 'layout', 'channelOrder', 'resize', 'interpolation', 'cropFraction'];
const METADATA_KEY: Partial<Record<keyof ModelMetadata, string>> = {
  inputSize: 'input_size',
  channelOrder: 'channel_order',
  cropFraction: 'crop_fraction',
};

/**
 * `member` against the first: the same classes, input type, rank and fixed sizes, opset, the same
 * preprocessing recorded (a key one records and the other does not counts as a difference: the
 * other would be preprocessed by the defaults) and, where both name their classes, the same labels.
 */
function checkCompatible(first: CheckedMember, member: CheckedMember): void {
  const both = `${first.file} and ${member.file}`;
  if (member.classes !== first.classes)
    throw new ModelError(
      `${member.file} scores ${member.classes} classes (${member.scoreName}) and ${first.file} ${first.classes} (${first.scoreName}): an ensemble's members must score the same classes`,
      'E_ENSEMBLE',
    );
  const type = (c: CheckedMember) => toNumber(c.input.type?.tensorType?.elemType);
  const sizesDiffer =
    member.dims.length !== first.dims.length ||
    member.dims.some((d, k) => k > 0 && typeof d === 'number' && typeof first.dims[k] === 'number' && d !== first.dims[k]);
  if (sizesDiffer || type(member) !== type(first))
    throw new ModelError(
      `${both} take different inputs (${first.input.name} ${shown(first.dims)} against ${member.input.name} ${shown(member.dims)}${type(member) !== type(first) ? ', of other element types' : ''}): an ensemble's members share one image input, so they must take the same size`,
      'E_ENSEMBLE',
    );
  if (opsetOf(member.model) !== opsetOf(first.model))
    throw new ModelError(
      `${both} import different opsets (${opsetOf(first.model)} and ${opsetOf(member.model)}): the members of one graph share the opset; export them at one opset`,
      'E_ENSEMBLE',
    );
  for (const key of PREPROCESSING) {
    // as the metadata writes them: sizes HxW, lists as JSON, words as they are
    const [a, b] = [first.metadata[key], member.metadata[key]].map((v) =>
      v === undefined
        ? undefined
        : key === 'inputSize'
          ? `${(v as { height: number }).height}x${(v as { width: number }).width}`
          : typeof v === 'string'
            ? v
            : JSON.stringify(v),
    );
    if (a === b) continue;
    const name = `${METADATA_PREFIX}${METADATA_KEY[key] ?? key}`;
    throw new ModelError(
      `${both} record different preprocessing: ${name} is ${a ?? 'absent (the default)'} in ${first.file} and ${b ?? 'absent (the default)'} in ${member.file}; an ensemble's members share one input, so one preprocessing. Where they were trained alike, state it once for all members (mc-dropout convert A.onnx B.onnx --mc-graph T --size HxW --mean MEAN --std STD -o OUT)`,
      'E_ENSEMBLE',
    );
  }
  const [la, lb] = [first.metadata.labels, member.metadata.labels];
  if (la && lb && JSON.stringify(la) !== JSON.stringify(lb)) {
    const k = la.findIndex((label, i) => label !== lb[i]);
    const differs =
      k >= 0
        ? `class ${k} is ${JSON.stringify(la[k])} in ${first.file} and ${JSON.stringify(lb[k])} in ${member.file}`
        : `${first.file} names ${la.length} classes, ${member.file} ${lb.length}`;
    throw new ModelError(
      `${both} name their classes differently (${METADATA_PREFIX}labels: ${differs}): an ensemble averages class k of every member, so the classes must be the same in the same order`,
      'E_ENSEMBLE',
    );
  }
}

/** The shared input's dims: a size any member fixes, else the first member's (a dynamic size takes the fixed one). */
function sharedDims(members: readonly CheckedMember[]): (number | string | null)[] {
  return members[0]!.dims.map((d, k) => (k === 0 ? d : (members.map((m) => m.dims[k]).find((x) => typeof x === 'number') ?? d)));
}

function sharedInputInfo(info: ValueInfoProto, dims: readonly (number | string | null)[]): ValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {}));
  return { ...info, type: { ...info.type, tensorType: { ...info.type?.tensorType, shape: { dim } } } };
}

/** Every member's opset imports together; one domain at two versions is refused (the default domain was checked already). */
function sharedOpsets(members: readonly CheckedMember[]): ModelProto['opsetImport'] {
  const seen = new Map<string, { version: number; file: string }>();
  for (const member of members) {
    for (const entry of member.model.opsetImport ?? []) {
      const domain = entry.domain === 'ai.onnx' ? '' : (entry.domain ?? '');
      const version = toNumber(entry.version);
      const other = seen.get(domain);
      if (other && other.version !== version)
        throw new ModelError(
          `${other.file} and ${member.file} import the domain ${domain} at versions ${other.version} and ${version}: the members of one graph share each domain's version`,
          'E_ENSEMBLE',
        );
      if (!other) seen.set(domain, { version, file: member.file });
    }
  }
  return [...seen].map(([domain, { version }]) => ({ domain, version }));
}

/** Every member's model-local functions together; two different functions under one name are refused. */
function sharedFunctions(members: readonly CheckedMember[]): FunctionProto[] {
  const seen = new Map<string, { bytes: string; file: string }>();
  const out: FunctionProto[] = [];
  for (const member of members) {
    for (const fn of member.model.functions ?? []) {
      const key = `${fn.domain ?? ''}:${fn.name ?? ''}:${fn.overload ?? ''}`;
      const bytes = Buffer.from(encodeModel({ functions: [fn] })).toString('base64');
      const other = seen.get(key);
      if (other && other.bytes !== bytes)
        throw new ModelError(
          `${other.file} and ${member.file} each define a function ${fn.domain ? `${fn.domain}.` : ''}${fn.name}, differently: one graph holds one function of a name; rename one, or export them without local functions`,
          'E_ENSEMBLE',
        );
      if (!other) {
        seen.set(key, { bytes, file: member.file });
        out.push(fn);
      }
    }
  }
  return out;
}

/** The first member's metadata, less what described that member alone (its dropout rates), with labels from the first member that has them. */
function ensembleMetadata(members: readonly CheckedMember[]): ModelProto['metadataProps'] {
  const key = (role: string) => `${METADATA_PREFIX}${role}`;
  const labels = members.map((m) => m.model.metadataProps?.find((p) => p.key === key('labels'))).find(Boolean);
  const kept = (members[0]!.model.metadataProps ?? []).filter((p) => p.key !== key('dropout_rates') && p.key !== key('labels'));
  return [...kept, ...(labels ? [labels] : [])];
}

/**
 * Member m >= 1's random ops that carry a `seed` attribute get randomOpSeed(seed + m x 2^32, j), j
 * the op's place among the member's random ops: two members converted alike (or one model given
 * twice under two names) would otherwise draw the same stream at the same site. The first member
 * keeps convert's seeds, as its own MC graph has them.
 */
function reseedRandomOps(graph: GraphProto, seed: number, member: number): void {
  let j = 0;
  graph.node = (graph.node ?? []).map((node) => {
    if (!RANDOM_OPS.includes(node.opType ?? '')) return node;
    const k = j++;
    return { ...node, attribute: (node.attribute ?? []).map((a) => (a.name === 'seed' ? { ...a, f: randomOpSeed(seed + member * 2 ** 32, k) } : a)) };
  });
}

/**
 * Puts every name of the member's graph under `prefix` (nodes, tensors, initializers, value infos,
 * annotations; '' stays ''), its image input `input` renamed to the shared input `shared`. The
 * graph's lists get new objects (tensors are shared with the file read, never changed in place).
 * Returns the renaming, for names known outside the graph (the trunk's cut, the class scores).
 */
function renameMember(graph: GraphProto, prefix: string, input: string, shared: string): (name: string) => string {
  const rename = (name: string) => (name === '' ? '' : name === input ? shared : `${prefix}${name}`);
  graph.node = (graph.node ?? []).map((node) => ({
    ...node,
    ...(node.name && { name: `${prefix}${node.name}` }),
    input: (node.input ?? []).map(rename),
    output: (node.output ?? []).map(rename),
  }));
  graph.initializer = (graph.initializer ?? []).map((t) => ({ ...t, name: rename(t.name ?? '') }));
  graph.sparseInitializer = (graph.sparseInitializer ?? []).map((s) => ({
    ...s,
    ...(s.values && { values: { ...s.values, name: rename(s.values.name ?? '') } }),
    ...(s.indices && { indices: { ...s.indices, name: rename(s.indices.name ?? '') } }),
  }));
  const info = (list: ValueInfoProto[] | null | undefined) => (list ?? []).map((v) => ({ ...v, name: rename(v.name ?? '') }));
  graph.input = info(graph.input);
  graph.output = info(graph.output);
  graph.valueInfo = info(graph.valueInfo);
  graph.quantizationAnnotation = (graph.quantizationAnnotation ?? []).map((q) => ({ ...q, tensorName: rename(q.tensorName ?? '') }));
  return rename;
}

/** A member's statistics, each [batch, C] or [batch]: its passes [T_m, batch, C], its mean, its mean per-pass entropy and each class's share of its passes' votes. */
interface MemberStatistics {
  passes: string;
  mean: string;
  expectedEntropy: string;
  voteShares: string;
}

/** p log p elementwise, 0 log 0 = 0: p floored at 1e-30 before the log (an entropy is minus its sum). */
function plogp(build: GraphBuilder, p: string, out: string): string {
  const { node, float } = build;
  return node('Mul', [p, node('Log', [node('Max', [p, float(`${out}.tiny`, 1e-30)], `${out}.floored`)], `${out}.log`)], out);
}

/** The member's statistics from its class scores of T_m x batch rows (pass-major), under the member's builder. */
function memberStatistics(build: GraphBuilder, scoresAreSoftmax: boolean, scoreName: string, passes: number, classes: number): MemberStatistics {
  const { node, int64, reduce } = build;
  const probs = scoresAreSoftmax ? scoreName : node('Softmax', [scoreName], 'probs', [intAttribute('axis', -1)]);
  const p3 = node('Reshape', [probs, int64('shape', [passes, -1, classes])], 'passes');
  const mean = reduce('ReduceMean', p3, [0], 'mean');
  const perPass = node('Neg', [reduce('ReduceSum', plogp(build, p3, 'pass_plogp'), [2], 'pass_sum')], 'pass_entropy');
  const expectedEntropy = reduce('ReduceMean', perPass, [0], 'expected_entropy');
  const onehot = passVotes(build, p3, classes);
  return { passes: p3, mean, expectedEntropy, voteShares: reduce('ReduceMean', onehot, [0], 'vote_shares') };
}

/**
 * The ensemble's statistics, under `ensemble`'s names, from the members' (`builders[m]` adds member
 * m's share of the spread, which reads the ensemble's mean). With P_m member m's mean and P their
 * mean: mean P; std the sd of each class over all passes, pass t of member m weighted 1/(M T_m)
 * (sqrt of mean_m [var_m + (P_m - P)^2]); entropy H(P); expected_entropy mean_m of member m's mean
 * per-pass entropy; mutual_information H(P) - expected; between_members H(P) - mean_m H(P_m);
 * within_passes mean_m H(P_m) - expected (each of the three at least 0); variation_ratio 1 - the
 * modal class's share of the votes, weighted alike; member_disagreement the share of members whose
 * argmax of P_m is not P's. Returns the nodes in an order that runs (ensemble, members, ensemble).
 */
function ensembleStatistics(ensemble: GraphBuilder, builders: readonly GraphBuilder[], members: readonly MemberStatistics[], classes: number): NodeProto[] {
  const { node, int64, float, reduce } = ensemble;
  const rows = int64('stack_rows', [1, -1, classes]);
  const values = int64('stack_values', [1, -1]);
  // member statistics stacked on a new first axis: [M, batch, C] or [M, batch]
  const stack = (names: readonly string[], role: string, shape: string) =>
    node(
      'Concat',
      names.map((name, m) => node('Reshape', [name, shape], `${role}.${m}`)),
      role,
      [intAttribute('axis', 0)],
    );
  const memberMeans = stack(
    members.map((s) => s.mean),
    'member_means',
    rows,
  );
  const mean = reduce('ReduceMean', memberMeans, [0], 'mean');
  const first = ensemble.nodes.splice(0);
  const spreads = members.map((s, m) => {
    const build = builders[m]!;
    const deviation = build.node('Sub', [s.passes, mean], 'deviation');
    return build.reduce('ReduceMean', build.node('Mul', [deviation, deviation], 'squared'), [0], 'spread');
  });
  const memberSpread = builders.flatMap((b) => b.nodes.splice(0));
  node('Sqrt', [reduce('ReduceMean', stack(spreads, 'member_spreads', rows), [0], 'variance')], 'std');
  const entropy = node('Neg', [reduce('ReduceSum', plogp(ensemble, mean, 'mean_plogp'), [1], 'mean_sum')], 'entropy');
  const memberEntropy = node('Neg', [reduce('ReduceSum', plogp(ensemble, memberMeans, 'member_plogp'), [2], 'member_sum')], 'member_entropy');
  const meanMemberEntropy = reduce('ReduceMean', memberEntropy, [0], 'mean_member_entropy');
  const expected = reduce(
    'ReduceMean',
    stack(
      members.map((s) => s.expectedEntropy),
      'member_expected',
      values,
    ),
    [0],
    'expected_entropy',
  );
  const zero = float('zero', 0);
  const atLeastZero = (a: string, b: string, out: string) => node('Max', [node('Sub', [a, b], `${out}_raw`), zero], out);
  atLeastZero(entropy, expected, 'mutual_information');
  atLeastZero(entropy, meanMemberEntropy, 'between_members');
  atLeastZero(meanMemberEntropy, expected, 'within_passes');
  const shares = reduce(
    'ReduceMean',
    stack(
      members.map((s) => s.voteShares),
      'member_votes',
      rows,
    ),
    [0],
    'vote_shares',
  );
  node('Sub', [float('one', 1), reduce('ReduceMax', shares, [1], 'modal_share')], 'variation_ratio');
  const label = node('ArgMax', [mean], 'label', [intAttribute('axis', 1), intAttribute('keepdims', 0)]);
  node('Identity', [reduce('ReduceMax', mean, [1], 'confidence_raw')], 'confidence');
  topTwoMargin(ensemble, mean, 1, classes);
  // ties go to the lowest index in both argmaxes, as in decomposeUncertainty
  const memberLabels = node('ArgMax', [memberMeans], 'member_labels', [intAttribute('axis', 2), intAttribute('keepdims', 0)]);
  const differs = node('Cast', [node('Not', [node('Equal', [memberLabels, label], 'member_agrees')], 'member_differs')], 'member_differs_float', [
    intAttribute('to', DataType.FLOAT),
  ]);
  reduce('ReduceMean', differs, [0], 'member_disagreement');
  return [...first, ...memberSpread, ...ensemble.nodes.splice(0)];
}

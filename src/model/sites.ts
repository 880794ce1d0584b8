import { ConstantTable } from './constant-table.js';
import { protoOf, type OnnxGraph } from './graph.js';
import { attributeFloat, attributeInt, defaultOpset, type GraphProto, type NodeProto } from './onnx.js';

/** Random ops besides Dropout that models carry for stochastic depth, DropPath, DropBlock or noise. */
export const RANDOM_OPS = ['RandomUniformLike', 'RandomNormalLike', 'Bernoulli', 'RandomUniform', 'RandomNormal', 'Multinomial'];

/** What a random op draws; mc-dropout draws the same distribution itself (Bernoulli from a uniform). */
type Distribution = { kind: 'uniform'; low: number; high: number } | { kind: 'normal'; mean: number; scale: number } | { kind: 'bernoulli' };

/** A place in the graph where a forward pass can be random. */
export interface StochasticSite {
  /** Position of the node in graph.node (the last node of a converted group). */
  nodeIndex: number;
  /** Every node that makes up the site: the Dropout alone, or a converted random-mask group. */
  nodeIndices: number[];
  nodeName: string;
  op: string;
  /** Tensor the Dropout masks; a random op's first input ('' for RandomUniform / RandomNormal). */
  input: string;
  /** The tensor whose shape one row of draws takes: the masked input, or the random op's output. */
  drawn: string;
  /** A random op's distribution (undefined for Dropout). */
  distribution?: Distribution;
  /** A random op's `dtype` attribute (0: the type of its input, or float). */
  dtype?: number;
  /** First output of the node. */
  output: string;
  /** Drop probability (Dropout only; NaN when it is not a constant). */
  rate: number;
  /** Random in onnxruntime inference as exported: training_mode constant true, or a random op. */
  live: boolean;
  /** Why the site is live or inert, for inspect and error messages. */
  reason: string;
}

/** Every stochastic site of the top-level graph, in graph order. */
export function findStochasticSites(source: OnnxGraph): StochasticSite[] {
  const model = protoOf(source);
  const graph = model.graph ?? {};
  const constants = new ConstantTable(graph);
  const opset = defaultOpset(model);
  const sites: StochasticSite[] = [];
  const nodes = graph.node ?? [];
  const converted = convertedGroups(nodes, constants);
  const inGroup = new Set(converted.flatMap((site) => site.nodeIndices));
  nodes.forEach((node, nodeIndex) => {
    const op = node.opType ?? '';
    const isDefaultDomain = !node.domain || node.domain === 'ai.onnx';
    if (!isDefaultDomain || inGroup.has(nodeIndex)) return;
    if (op === 'Dropout') sites.push(dropoutSite(node, nodeIndex, opset, constants));
    else if (RANDOM_OPS.includes(op)) sites.push(randomOpSite(node, nodeIndex));
  });
  sites.push(...converted);
  return sites.sort((a, b) => a.nodeIndex - b.nodeIndex);
}

/** Prefix of the nodes `mc-dropout convert` writes for one dropout site k: `mc_dropout.site<k>.<role>`. */
export const CONVERTED_PREFIX = 'mc_dropout.site';

/** Site index k of a node named `mc_dropout.site<k>.<role>` by convert, else undefined. */
export function convertedSiteIndex(name: string | null | undefined): number | undefined {
  const match = /^mc_dropout\.site(\d+)\.(uniform|less|not|cast|scale|apply)$/.exec(name ?? '');
  return match ? Number(match[1]) : undefined;
}

/**
 * Random-mask groups written by `mc-dropout convert` (x * Cast(Not(Less(RandomUniformLike(x), p))) / (1-p)).
 * They count as one Dropout site, so mc-dropout draws their masks itself (seeded, batch-independent).
 */
function convertedGroups(nodes: NodeProto[], constants: ConstantTable): StochasticSite[] {
  const groups = new Map<number, number[]>();
  nodes.forEach((node, i) => {
    const k = convertedSiteIndex(node.name);
    if (k !== undefined) groups.set(k, [...(groups.get(k) ?? []), i]);
  });
  const sites: StochasticSite[] = [];
  for (const [k, indices] of groups) {
    const byRole = new Map(indices.map((i) => [nodes[i]!.name!.split('.').pop()!, nodes[i]!]));
    const apply = byRole.get('apply');
    const less = byRole.get('less');
    if (indices.length !== 6 || !apply || !less || !byRole.get('uniform')) continue;
    const rate = constants.scalar(less.input?.[1]);
    sites.push({
      nodeIndex: Math.max(...indices),
      nodeIndices: indices,
      nodeName: `${CONVERTED_PREFIX}${k}`,
      op: 'Dropout',
      input: apply.input?.[0] ?? '',
      drawn: apply.input?.[0] ?? '',
      output: apply.output?.[0] ?? '',
      rate: rate === undefined ? NaN : Number(rate.toPrecision(7)),
      live: true,
      reason: 'random-mask form written by mc-dropout convert',
    });
  }
  return sites;
}

function dropoutSite(node: NodeProto, nodeIndex: number, opset: number, constants: ConstantTable): StochasticSite {
  const base = {
    nodeIndex,
    nodeIndices: [nodeIndex],
    nodeName: node.name || `Dropout_${nodeIndex}`,
    op: 'Dropout',
    input: node.input?.[0] ?? '',
    drawn: node.input?.[0] ?? '',
    output: node.output?.[0] ?? '',
  };
  if (opset < 12) {
    // before opset 12 Dropout had no training mode: inference runtimes treat it as identity
    return { ...base, rate: attributeFloat(node, 'ratio', 0.5), live: false, reason: `opset ${opset} Dropout is identity at inference` };
  }
  const ratioName = node.input?.[1];
  // ratios are stored as float32: 0.2 reads back as 0.20000000298; keep the 7 digits float32 holds
  const stored = ratioName ? (constants.scalar(ratioName) ?? NaN) : 0.5;
  const rate = Number.isFinite(stored) ? Number(stored.toPrecision(7)) : NaN;
  const trainingName = node.input?.[2];
  if (!trainingName) return { ...base, rate, live: false, reason: 'no training_mode input (defaults to false)' };
  const training = constants.scalar(trainingName);
  if (training === undefined) {
    return { ...base, rate, live: false, reason: `training_mode '${trainingName}' is not a constant` };
  }
  return training !== 0
    ? { ...base, rate, live: true, reason: 'training_mode is constant true' }
    : { ...base, rate, live: false, reason: 'training_mode is constant false' };
}

function randomOpSite(node: NodeProto, nodeIndex: number): StochasticSite {
  const op = node.opType ?? '';
  const distribution: Distribution | undefined = op.startsWith('RandomUniform')
    ? { kind: 'uniform', low: attributeFloat(node, 'low', 0), high: attributeFloat(node, 'high', 1) }
    : op.startsWith('RandomNormal')
      ? { kind: 'normal', mean: attributeFloat(node, 'mean', 0), scale: attributeFloat(node, 'scale', 1) }
      : op === 'Bernoulli'
        ? { kind: 'bernoulli' }
        : undefined;
  const output = node.output?.[0] ?? '';
  return {
    nodeIndex,
    nodeIndices: [nodeIndex],
    nodeName: node.name || `${op}_${nodeIndex}`,
    op,
    input: node.input?.[0] ?? '',
    drawn: output,
    output,
    ...(distribution && { distribution }),
    dtype: attributeInt(node, 'dtype', 0),
    rate: NaN,
    live: true,
    reason: distribution ? 'drawn by mc-dropout, keyed by seed, image, pass and site' : `${op} is not supported as a stochastic site`,
  };
}

/**
 * Dropout and random ops that sit inside If/Loop/Scan subgraphs or model-local functions, where
 * mc-dropout cannot feed its own draws: each as 'Op node in <where>'.
 */
export function nestedStochasticOps(source: OnnxGraph): string[] {
  const model = protoOf(source);
  const found: string[] = [];
  const isStochastic = (n: NodeProto) => n.opType === 'Dropout' || RANDOM_OPS.includes(n.opType ?? '');
  const visit = (nodes: NodeProto[], where: string, nested: boolean) => {
    for (const node of nodes) {
      if (nested && isStochastic(node)) found.push(`${node.opType} ${node.name || ''} in ${where}`.replace('  ', ' '));
      for (const a of node.attribute ?? []) {
        for (const g of [a.g, ...(a.graphs ?? [])].filter((x): x is GraphProto => Boolean(x))) {
          visit(g.node ?? [], `the ${a.name} subgraph of ${node.opType} ${node.name ?? ''}`.trim(), true);
        }
      }
    }
  };
  visit(model.graph?.node ?? [], 'the main graph', false);
  for (const f of model.functions ?? [])
    visit(f.node ?? [], `function ${f.domain ? `${f.domain}.` : ''}${f.name}${f.overload ? ` (overload ${f.overload})` : ''}`, true);
  return found;
}

/**
 * Per-sample drop decisions: a site that draws one number per sample and whose graph reads that
 * number only through a yes/no (keep or drop the sample's branch). Passes whose numbers give the same
 * decision compute the same tensors after it, which prefix sharing (engine/prefix-sharing.ts) uses.
 * Every spelling of stochastic depth that exporters write ends in one:
 * - torch.export / timm (bernoulli_): RandomUniformLike -> Less(u, keep) -> Cast -> Div;
 * - torch 1.13 torch.bernoulli(full(keep)): RandomUniformLike -> Less(u, ConstantOfShape(keep));
 * - torch.export torch.bernoulli: Bernoulli(Expand(keep));
 * - F.dropout on a tensor of ones (torch 1.13 cannot export bernoulli_): ConstantOfShape / Expand of
 *   ones -> Dropout(training_mode) -> Mul;
 * - Hugging Face (floor(keep + rand)): RandomUniformLike -> Add(keep) -> Floor;
 * - any comparison of u with a constant (Greater(keep, u), u >= rate, ...).
 */
import { ConstantTable } from './constant-table.js';
import { protoOf, type OnnxGraph } from './graph.js';
import { DataType } from './onnx.js';
import type { StochasticSite } from './sites.js';

const COMPARISONS = ['Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual'] as const;
type Comparison = (typeof COMPARISONS)[number];

/** How the one number a site draws per sample decides what follows it. */
export type DropDecision =
  /** A Dropout on one value per sample: the mask itself (0 or 1 / keep). */
  | { kind: 'mask' }
  /** A float32 u compared with a float32 constant: `u op threshold`, or `threshold op u` when `drawFirst` is false. */
  | { kind: 'compare'; op: Comparison; threshold: number; drawFirst: boolean }
  /** Floor(u + offset), in float32. */
  | { kind: 'floor'; offset: number };

/**
 * The decision of a site whose draws are one number per sample (`rowShape` all ones), read by the
 * graph only through a decision; undefined for any other site. `drawType`: the ONNX element type
 * of the numbers mc-dropout feeds it.
 */
export function dropDecisionOf(graph: OnnxGraph, site: StochasticSite, rowShape: readonly number[], drawType: number): DropDecision | undefined {
  if (!rowShape.every((n) => n === 1)) return undefined;
  if (site.op === 'Dropout') return { kind: 'mask' };
  const model = protoOf(graph);
  const nodes = model.graph?.node ?? [];
  const constants = new ConstantTable(model.graph ?? {});
  const value = (tensor: string | undefined) => {
    const fill = constants.fill(tensor);
    return fill?.dataType === DataType.FLOAT ? fill.value : undefined;
  };
  if (site.distribution?.kind === 'bernoulli') {
    // rewritten as Less(u, p) in p's type (model/rewrite.ts): a float32 p with one value decides
    const p = value(site.input);
    return p === undefined ? undefined : { kind: 'compare', op: 'Less', threshold: p, drawFirst: true };
  }
  if (site.distribution?.kind !== 'uniform' || drawType !== DataType.FLOAT) return undefined;
  const readers = (tensor: string) => nodes.filter((n) => n.input?.includes(tensor));
  const [reader, ...others] = readers(site.output);
  if (!reader || others.length > 0 || reader.input!.filter((t) => t === site.output).length !== 1) return undefined;
  const other = reader.input!.find((t) => t !== site.output);
  const constant = value(other);
  if (constant === undefined) return undefined;
  const op = reader.opType ?? '';
  if ((COMPARISONS as readonly string[]).includes(op) && reader.input!.length === 2) {
    return { kind: 'compare', op: op as Comparison, threshold: constant, drawFirst: reader.input![0] === site.output };
  }
  if (op === 'Add') {
    const after = readers(reader.output![0]!);
    if (after.length === 1 && after[0]!.opType === 'Floor') return { kind: 'floor', offset: constant };
  }
  return undefined;
}

/** The decision a drawn number gives (a mask's value, 0/1 for a comparison, the floor): equal decisions, equal tensors after the site. */
export function decide(decision: DropDecision, drawn: number): number {
  if (decision.kind === 'mask') return drawn;
  if (decision.kind === 'floor') return Math.floor(Math.fround(drawn + decision.offset));
  const [a, b] = decision.drawFirst ? [drawn, decision.threshold] : [decision.threshold, drawn];
  switch (decision.op) {
    case 'Less':
      return a < b ? 1 : 0;
    case 'Greater':
      return a > b ? 1 : 0;
    case 'LessOrEqual':
      return a <= b ? 1 : 0;
    case 'GreaterOrEqual':
      return a >= b ? 1 : 0;
  }
}

/** What inspect says of a decision, e.g. 'u < 0.92' or 'the mask'. */
export function describeDecision(decision: DropDecision): string {
  if (decision.kind === 'mask') return 'its mask (0 or 1/keep)';
  if (decision.kind === 'floor') return `Floor(u + ${Number(decision.offset.toPrecision(6))})`;
  const symbol = { Less: '<', Greater: '>', LessOrEqual: '<=', GreaterOrEqual: '>=' }[decision.op];
  const threshold = Number(decision.threshold.toPrecision(6));
  return decision.drawFirst ? `u ${symbol} ${threshold}` : `${threshold} ${symbol} u`;
}

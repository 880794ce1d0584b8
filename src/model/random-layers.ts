import { ConstantTable } from './constant-table.js';
import { describeDecision, dropDecisionOf } from './drop-decisions.js';
import { protoOf, type OnnxGraph } from './graph.js';
import { attributeInt, DataType, toNumber, type NodeProto } from './onnx.js';
import type { StochasticSite } from './sites.js';

/** The layer a random op belongs to, as exporters write them, for inspect. */
export interface RandomPattern {
  /** DropPath, Dropout, DropBlock, Bernoulli, Gaussian noise, or 'random op' when no pattern matches. */
  name: string;
  /** Drop rate (DropPath, Dropout, DropBlock's expected rate), Bernoulli probability or noise sigma; undefined if unknown. */
  rate: number | undefined;
  /** What was recognized, e.g. 'RandomUniformLike < 0.92 -> Cast -> Div, one draw per sample'. */
  detail: string;
}

/**
 * Names the layer built on a random op from the nodes that read its output:
 * - u < keep -> Cast -> Div(keep): DropPath when one draw covers a whole sample (torch's
 *   bernoulli_(keep) / keep on a [B, 1, 1, 1] tensor), else Dropout as torch.export decomposes it;
 * - Floor(u + keep), one draw per sample: DropPath as Hugging Face writes it (floor(rand + keep));
 * - u < gamma -> Cast -> MaxPool(k): timm's DropBlock; `rate` = gamma * k^2 * (H-k+1)(W-k+1) / (HW),
 *   timm's drop_prob * gamma_scale;
 * - z * s + 1 (RandomNormalLike): multiplicative Gaussian noise with sigma s.
 * `rowShape` is the per-row shape of the draws, when known.
 */
export function describeRandomSite(graph: OnnxGraph, site: StochasticSite, rowShape?: readonly number[]): RandomPattern {
  const model = protoOf(graph);
  const nodes = model.graph?.node ?? [];
  const constants = new ConstantTable(model.graph ?? {});
  const readers = (tensor: string): NodeProto[] => nodes.filter((n) => n.input?.includes(tensor));
  const only = (tensor: string, op: string): NodeProto | undefined => {
    const found = readers(tensor);
    return found.length === 1 && found[0]!.opType === op ? found[0] : undefined;
  };
  const other = (node: NodeProto, tensor: string) => constants.fill(node.input?.find((t) => t !== tensor))?.value;
  const round = (v: number) => Number(v.toPrecision(6));
  const d = site.distribution;
  const perSample = rowShape !== undefined && rowShape.every((n) => n === 1);
  const fallback = (): RandomPattern => ({
    name: 'random op',
    rate: undefined,
    detail: d?.kind === 'uniform' ? `uniform in [${d.low}, ${d.high})` : d?.kind === 'normal' ? `normal, mean ${d.mean}, scale ${d.scale}` : site.op,
  });

  if (d?.kind === 'normal') {
    const mul = only(site.output, 'Mul');
    const sigma = mul ? other(mul, site.output) : undefined;
    const add = mul && only(mul.output![0]!, 'Add');
    if (sigma !== undefined && add && other(add, mul.output![0]!) === 1) {
      return { name: 'Gaussian noise', rate: round(Math.abs(sigma * d.scale)), detail: `x * (1 + ${round(sigma * d.scale)} * N(0, 1))` };
    }
    return fallback();
  }
  if (d?.kind === 'bernoulli') {
    const p = constants.fill(site.input)?.value;
    const div = only(site.output, 'Div');
    if (p !== undefined && perSample && div && div.input?.[0] === site.output && other(div, site.output) === p) {
      return { name: 'DropPath', rate: round(1 - p), detail: `Bernoulli(${round(p)}) -> Div, one draw per sample` };
    }
    return { name: 'Bernoulli', rate: p === undefined ? undefined : round(p), detail: 'Bernoulli(p), drawn as uniform < p' };
  }
  if (d?.kind !== 'uniform' || d.low !== 0 || d.high !== 1) return fallback();
  const add = only(site.output, 'Add');
  const keep = add ? other(add, site.output) : undefined;
  if (add && keep !== undefined && keep > 0 && keep <= 1 && only(add.output![0]!, 'Floor')) {
    return perSample
      ? { name: 'DropPath', rate: round(1 - keep), detail: `Floor(u + ${round(keep)}), one draw per sample` }
      : { name: 'Dropout', rate: round(1 - keep), detail: `Floor(u + ${round(keep)}), one draw per element` };
  }
  const less = only(site.output, 'Less');
  const stored = less && less.input?.[0] === site.output ? constants.fill(less.input?.[1])?.value : undefined;
  // u in [0, 1): a threshold outside it keeps always or never
  const threshold = stored === undefined ? undefined : Math.min(1, Math.max(0, stored));
  const cast = less && only(less.output![0]!, 'Cast');
  if (threshold === undefined || !cast) return perSample ? (comparedPerSample(graph, site, rowShape) ?? fallback()) : fallback();
  const next = readers(cast.output![0]!);
  if (next.length === 1 && next[0]!.opType === 'Div' && other(next[0]!, cast.output![0]!) === stored) {
    return perSample
      ? { name: 'DropPath', rate: round(1 - threshold), detail: `u < ${round(threshold)} -> Cast -> Div, one draw per sample` }
      : { name: 'Dropout', rate: round(1 - threshold), detail: `u < ${round(threshold)} -> Cast -> Div, one draw per element` };
  }
  if (next.length === 1 && next[0]!.opType === 'MaxPool') {
    const kernel = next[0]!.attribute?.find((a) => a.name === 'kernel_shape')?.ints?.map(toNumber) ?? [];
    const [kh = 1, kw = 1] = kernel;
    const [h, w] = rowShape && rowShape.length === 3 ? [rowShape[1]!, rowShape[2]!] : [undefined, undefined];
    const rate = h && w ? round((threshold * kh * kw * (h - kh + 1) * (w - kw + 1)) / (h * w)) : undefined;
    return {
      name: 'DropBlock',
      rate,
      detail: `block ${kh}x${kw}, seed rate ${round(threshold)}${attributeInt(next[0]!, 'ceil_mode', 0) ? ', ceil mode' : ''}`,
    };
  }
  // torch.bernoulli(full(keep)) on [B, 1, 1, 1], scaled after the Mul (x * mask / keep)
  if (perSample) return { name: 'DropPath', rate: round(1 - threshold), detail: `u < ${round(threshold)} -> Cast, one draw per sample` };
  return { name: 'Bernoulli', rate: round(threshold), detail: `u < ${round(threshold)} -> Cast` };
}

/**
 * A per-sample draw read through one comparison with a constant, in any spelling (Greater(keep, u),
 * u >= rate): DropPath, its rate the chance the comparison is false (the branch dropped), for u in [0, 1).
 */
function comparedPerSample(graph: OnnxGraph, site: StochasticSite, rowShape: readonly number[]): RandomPattern | undefined {
  const decision = dropDecisionOf(graph, site, rowShape, DataType.FLOAT);
  if (decision?.kind !== 'compare') return undefined;
  const t = Math.min(1, Math.max(0, decision.threshold));
  // u < t (or t > u) holds with probability t; u > t (or t < u) with 1 - t
  const below = (decision.op === 'Less' || decision.op === 'LessOrEqual') === decision.drawFirst;
  const kept = below ? t : 1 - t;
  return { name: 'DropPath', rate: Number((1 - kept).toPrecision(6)), detail: `${describeDecision(decision)}, one draw per sample` };
}

/** Which stochastic sites mc-dropout draws for, and the models it refuses because no pass could differ. */
import { ModelError, param } from '../errors.js';
import { paddleDropouts } from '../model/inject.js';
import type { OnnxGraph } from '../model/graph.js';
import { classifierOutput, outputsReachedFrom } from '../model/signature.js';
import { nestedStochasticOps, type StochasticSite } from '../model/sites.js';
import { MAX_SITES } from './masks.js';
import type { LoadOptions } from './options.js';

/**
 * The sites mc-dropout draws for, in graph order: live Dropout nodes (all with dropout 'force') and
 * every random op. Refuses random ops it cannot draw and stochastic ops it cannot reach.
 */
export function chooseSites(sites: StochasticSite[], model: OnnxGraph, file: string, options: LoadOptions): StochasticSite[] {
  const nested = nestedStochasticOps(model);
  if (nested.length > 0) {
    throw new ModelError(
      `${file}: ${nested.join('; ')}: mc-dropout draws only for ops of the main graph, so these would keep onnxruntime's generator (or vanish under its optimizer). Export without local functions (torch.onnx.export(..., dynamo=True) inlines them by default) or move the layer out of the control-flow op.`,
      'E_NESTED_STOCHASTIC',
    );
  }
  const unsupported = sites.find((s) => s.op !== 'Dropout' && !s.distribution);
  if (unsupported)
    throw new ModelError(
      `${file}: ${unsupported.op} ${unsupported.nodeName} is not supported: mc-dropout draws for Dropout, RandomUniform(Like), RandomNormal(Like) and Bernoulli`,
      'E_UNSUPPORTED_RANDOM_OP',
    );
  const dropouts = sites.filter((s) => s.op === 'Dropout');
  const chosen = sites.filter((s) => s.op !== 'Dropout' || s.live || options.dropout === 'force');
  if (chosen.length > MAX_SITES) throw new ModelError(`${file}: ${chosen.length} stochastic sites; at most ${MAX_SITES} are supported`);
  if (chosen.length > 0 || options.allowDeterministic) return chosen;
  if (dropouts.length > 0) {
    const names = dropouts.map((s) => `${s.nodeName} (${s.reason})`).join(', ');
    throw new ModelError(
      `${file}: its ${dropouts.length} Dropout node(s) are inert at inference: ${names}. Run with ${param({ dropout: 'force' })} to make them live.`,
      'E_NO_LIVE_DROPOUT',
    );
  }
  const paddle =
    model.outputs().length > 0
      ? paddleDropouts(model, classifierOutput(model, file, { ...(options.output !== undefined && { name: options.output }) }).name)
      : [];
  if (paddle.length > 0) {
    throw new ModelError(
      `${file} has no dropout left, but ${paddle.map((d) => `Mul ${d.node}`).join(', ')} ${paddle.length === 1 ? 'looks' : 'look'} like Paddle's downgrade_in_infer dropout (x * (1 - p), as paddle2onnx writes it). Make it random again: mc-dropout convert ${file} --revive-paddle -o model-mc.onnx`,
      'E_NO_DROPOUT',
    );
  }
  throw new ModelError(
    `${file} has no dropout, so every pass would be identical. Export it with dropout kept live (docs/models.md, "Bring your own model"), or add dropout: before the classifier with mc-dropout convert ${file} --inject-rate 0.2 -o model-mc.onnx, or at tensors of your choice with ${param('injectAt')} TENSOR:0.2 (mc-dropout inspect lists candidates). Exporters such as paddle2onnx and tf2onnx delete dropout.`,
    'E_NO_DROPOUT',
  );
}

/**
 * Every chosen site must change the class scores: a site on a branch that never reaches the output
 * is a warning, and no site reaching it (every pass identical, mutual information 0) is refused.
 */
export function checkSitesReach(chosen: StochasticSite[], graph: OnnxGraph, output: string, file: string, options: LoadOptions): void {
  const idle = chosen.filter((s) => !outputsReachedFrom(graph, [s.output]).has(output));
  if (idle.length === 0) return;
  const names = idle.map((s) => `${s.op} ${s.nodeName}`).join(', ');
  if (idle.length === chosen.length && !options.allowDeterministic) {
    throw new ModelError(
      `${file}: no stochastic site reaches the output '${output}' (${names} ${idle.length === 1 ? 'lies' : 'lie'} on branches that never reach it), so every pass would be identical; put dropout on the path to the classifier`,
      'E_SITES_UNREACHED',
    );
  }
  options.onWarning?.(
    `${names} never ${idle.length === 1 ? 'reaches' : 'reach'} the output '${output}': ${idle.length === 1 ? 'it changes' : 'they change'} nothing`,
  );
}

/** A stochastic site as far as passes can differ by it: its name, whether it reaches the class scores, its rate (drop probability, noise sigma). */
export interface SiteSpread {
  name: string;
  reaches: boolean;
  /** 0: the site changes nothing; undefined or NaN: not known, counted as one that varies. */
  rate: number | undefined;
}

/**
 * Why every pass would be identical although sites reach the class scores: each of them has rate 0
 * (a `dropoutRate` of 0, or dropout converted with rate 0). Undefined when a site can vary, or when
 * no site reaches the output (checkSitesReach and inspect say so themselves). Inspect decides
 * MC-readiness and a run warns by this one function.
 */
export function identicalPassesReason(sites: readonly SiteSpread[], output: string, dropoutRate?: number): string | undefined {
  const reaching = sites.filter((s) => s.reaches);
  if (reaching.length === 0 || reaching.some((s) => s.rate !== 0)) return undefined;
  const cause =
    dropoutRate === 0
      ? `${param('dropoutRate')} is 0`
      : `${reaching.length === 1 ? 'the one stochastic site' : `all ${reaching.length} stochastic sites`} reaching the output '${output}' ${reaching.length === 1 ? 'has' : 'have'} rate 0 (${reaching.map((s) => s.name).join(', ')})`;
  return `every pass is identical: ${cause}, so mutual information, variation ratio and the spread are 0 and the MC mean is one deterministic pass. Give a rate above 0 (${param('dropoutRate')} 0.2, or convert with ${param('injectRate')} / ${param('injectAt')} TENSOR:0.2)`;
}

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

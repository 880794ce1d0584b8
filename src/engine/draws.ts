/** What mc-dropout draws for each stochastic site: Dropout masks and random ops' numbers, keyed by (seed, image, pass, site). */
import { invalidParameter, ModelError, param } from '../errors.js';
import type { ModelMetadata } from '../model/metadata.js';
import type { StochasticSite } from '../model/sites.js';
import { fillMask, type ImageKey } from './masks.js';
import { fillNormal, fillUniform } from './noise.js';

/** What mc-dropout draws for one site, per row: an inverted-dropout mask, or a random op's numbers. */
export type Draw = { kind: 'mask'; rate: number } | { kind: 'uniform'; low: number; high: number } | { kind: 'normal'; mean: number; scale: number };

/** A stochastic site as the engine runs it: a graph input fed with draws keyed by (seed, image, pass, site). */
export interface DrawnSite {
  site: StochasticSite;
  /** The graph input the draws go to. */
  input: string;
  draw: Draw;
  /** Drop probability of a Dropout site; NaN for a random op. */
  rate: number;
  /** Per-row shape of the draws: the drawn tensor's shape without the batch dim, or [k, ...] for a folded site. */
  rowShape: number[];
  rowSize: number;
  /** Rows of the drawn tensor per image: 1, or k where the first dim folds batch x k (windowed attention, image-major). */
  fold: number;
}

/** Dims of a site's draws for `rows` rows (image x pass): a folded site's k rows per row go into its first dim. */
export function drawDims(site: DrawnSite, rows: number): number[] {
  return site.fold > 1 ? [rows * site.fold, ...site.rowShape.slice(1)] : [rows, ...site.rowShape];
}

/** What each chosen site draws: Dropout masks at their rate (overridden, or from metadata when not constant), random ops their distribution. */
export function drawsOf(chosen: StochasticSite[], metadata: ModelMetadata, override: number | undefined, file: string): Draw[] {
  if (override !== undefined && !(override >= 0 && override < 1)) throw invalidParameter('dropoutRate', 'a dropout rate in [0, 1)', override);
  let dropoutIndex = 0;
  return chosen.map((site) => {
    if (site.distribution) {
      // Bernoulli(p) is drawn as a uniform u in [0, 1), compared with p in the graph
      const d = site.distribution;
      return d.kind === 'normal'
        ? { kind: 'normal', mean: d.mean, scale: d.scale }
        : d.kind === 'uniform'
          ? { kind: 'uniform', low: d.low, high: d.high }
          : { kind: 'uniform', low: 0, high: 1 };
    }
    const k = dropoutIndex++;
    if (override !== undefined) return { kind: 'mask', rate: override };
    if (Number.isFinite(site.rate)) return { kind: 'mask', rate: site.rate };
    const fromMetadata = metadata.dropoutRates?.[k];
    if (fromMetadata !== undefined) return { kind: 'mask', rate: fromMetadata };
    throw new ModelError(`${file}: the rate of ${site.nodeName} is not a constant; give one with ${param('dropoutRate')}`);
  });
}

/** One row of a site's draws for (seed, image, pass, site k). */
export function fillDraws(out: Float32Array, draw: Draw, seed: number, image: ImageKey, pass: number, k: number): void {
  if (draw.kind === 'mask') fillMask(out, draw.rate, seed, image, pass, k);
  else if (draw.kind === 'uniform') fillUniform(out, draw.low, draw.high, seed, image, pass, k);
  else fillNormal(out, draw.mean, draw.scale, seed, image, pass, k);
}

/**
 * What a deterministic pass feeds a site: a Dropout keeps everything (its eval-mode output); a random
 * op gets its median, so a Bernoulli-style threshold takes its more likely outcome and noise is zero.
 */
export function typicalValue(draw: Draw): number {
  if (draw.kind === 'mask') return 1;
  return draw.kind === 'uniform' ? (draw.low + draw.high) / 2 : draw.mean;
}

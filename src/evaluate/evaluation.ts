/**
 * An evaluation of MC dropout against the deterministic output on labeled images: outcomes are
 * gathered one image at a time (its passes are not kept), then every metric, for MC at T passes,
 * for the deterministic pass, and for MC at fewer passes (the first t of the same passes).
 */
import { invalidParameter, UsageError } from '../errors.js';
import { summarize } from '../stats/aggregate.js';
import { confusionOf, metricsOf, type MetricSet, type Outcome } from './metrics.js';

/** Pass counts of the T curve: 1, 2, 5, 10, 20, 50, ... below T, then T. */
export function passCounts(passes: number): number[] {
  const counts: number[] = [];
  for (let decade = 1; decade < passes; decade *= 10) for (const m of [1, 2, 5]) if (m * decade < passes) counts.push(m * decade);
  counts.push(passes);
  return counts;
}

/** The outcome of one labeled image from its probabilities per pass, probs: [T, C] row-major. */
export function outcomeOf(probs: ArrayLike<number>, classes: number, label: number): Outcome {
  const s = summarize(probs, classes);
  let brier = 0;
  for (let c = 0; c < classes; c++) brier += (s.mean[c]! - (c === label ? 1 : 0)) ** 2;
  return {
    label,
    predicted: s.predicted,
    confidence: s.confidence,
    trueProbability: s.mean[label]!,
    brier,
    entropy: s.entropy,
    mutualInformation: s.mutualInformation,
    variationRatio: s.variationRatio,
    margin: s.margin,
  };
}

/** One row of the methods table: who predicts (a member's name, or null for the ensemble), dropout on or off, over every view or the plain one. */
export interface MethodMetrics {
  name: string;
  member: string | null;
  dropout: boolean;
  tta: boolean;
  /** Probability vectors averaged per image (members x views x passes); with one there is no mutual information. */
  samples: number;
  metrics: MetricSet;
}

/** The metrics of an evaluation: deterministic and MC metric sets, and the MC metrics with the first T passes. */
export interface EvaluationNumbers {
  classes: number;
  /** MC passes per image. */
  passes: number;
  /** Probability vectors of one pass, when more than one (an ensemble's members x views). */
  rowsPerPass?: number;
  mc: MetricSet;
  /** One pass with dropout off; absent when the evaluation read MC results only. */
  deterministic?: MetricSet;
  /** Every metric with the first t passes, for each t of passCounts(T). */
  byPasses: { passes: number; metrics: MetricSet }[];
  /** counts[true][predicted] of the MC predictions. */
  confusion: number[][];
  /** An ensemble's (or TTA's) methods side by side: each member alone, the ensemble, dropout off and on (evaluate/methods.ts). */
  methods?: MethodMetrics[];
}

/** Gathers labeled images one at a time; `finish` computes the metrics. */
export class EvaluationAccumulator {
  private readonly counts: number[];
  private readonly byCount: Outcome[][];
  private readonly deterministic: Outcome[] = [];

  /**
   * passes: T of every image added; withCurve: also keep outcomes at fewer passes. rowsPerPass: rows
   * of one pass (an ensemble's members x views, pass-major: the first t passes are the first t x rowsPerPass rows).
   */
  constructor(
    readonly classes: number,
    readonly passes: number,
    withCurve: boolean,
    private readonly rowsPerPass = 1,
  ) {
    this.counts = withCurve ? passCounts(passes) : [passes];
    this.byCount = this.counts.map(() => []);
  }

  /**
   * One image: probs [T, C] of its MC passes (T as given to the constructor), its deterministic
   * probabilities [C] when known, its true class.
   */
  add(probs: ArrayLike<number>, label: number, deterministic?: ArrayLike<number>): void {
    const { classes } = this;
    if (!(Number.isInteger(label) && label >= 0 && label < classes)) throw invalidParameter('label', `a class index in [0, ${classes})`, label);
    const rows = this.passes * this.rowsPerPass;
    if (probs.length !== rows * classes) throw invalidParameter('probs', `${rows} x ${classes} probabilities`, probs.length, 'values');
    const view = probs instanceof Float64Array ? probs : Float64Array.from(probs);
    this.counts.forEach((t, j) => this.byCount[j]!.push(outcomeOf(view.subarray(0, t * this.rowsPerPass * classes), classes, label)));
    if (deterministic) this.deterministic.push(outcomeOf(deterministic, classes, label));
  }

  /** One image known only by its mean probabilities over T passes and the uncertainty numbers that need the passes. */
  addMean(mean: ArrayLike<number>, label: number, fromPasses: { mutualInformation: number; variationRatio: number }): void {
    if (this.counts.length !== 1) throw new UsageError('An image known by its mean has no T curve: build the accumulator without it');
    const outcome = outcomeOf(mean, this.classes, label);
    this.byCount[0]!.push({ ...outcome, ...fromPasses });
  }

  get images(): number {
    return this.byCount.at(-1)!.length;
  }

  finish(methods?: MethodMetrics[]): EvaluationNumbers {
    const final = this.byCount.at(-1)!;
    if (this.deterministic.length !== 0 && this.deterministic.length !== final.length)
      throw new UsageError('Every image or none needs its deterministic probabilities');
    return {
      classes: this.classes,
      passes: this.passes,
      ...(this.rowsPerPass > 1 && { rowsPerPass: this.rowsPerPass }),
      mc: metricsOf(final),
      ...(this.deterministic.length > 0 && { deterministic: metricsOf(this.deterministic) }),
      byPasses: this.counts.length > 1 ? this.counts.map((t, j) => ({ passes: t, metrics: metricsOf(this.byCount[j]!) })) : [],
      confusion: confusionOf(final, this.classes),
      ...(methods && { methods }),
    };
  }
}

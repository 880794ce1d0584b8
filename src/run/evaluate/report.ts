/**
 * The evaluation report, assembled in one place for every source (a run of the model, a passes
 * file, a JSONL output): each labeled image's MC passes (or its mean) go into the metrics, the
 * calibration's sets and the image records; `report` puts the header its source knows in front.
 */
import { applyCalibration, calibrationWarnings, coverageAgainstAlpha, type Calibration } from '../../calibration/calibration.js';
import { readCalibrationFile } from '../../calibration/calibration-file.js';
import { setCoverage } from '../../conformal/coverage.js';
import { EvaluationAccumulator, outcomeOf } from '../../evaluate/evaluation.js';
import { metricsOf, type Outcome } from '../../evaluate/metrics.js';
import type { MemberOutputs, MethodsAccumulator } from '../../evaluate/methods.js';
import type { McSummary } from '../../stats/aggregate.js';
import type { UncertaintyParts } from '../../io/rows.js';
import type { Decomposition, EvaluationReport, ImageRecord } from './file.js';

/** The calibration evaluate checks, read with what the user must know of it (too few images; a per-class curve it cannot draw). */
export function calibrationToCheck(file: string, warn: (message: string) => void): CheckedCalibration {
  const { calibration, sha256 } = readCalibrationFile(file);
  for (const warning of calibrationWarnings(calibration)) warn(`${file}: ${warning}`);
  if (calibration.conformal.classConditional && !calibration.conformal.scoreClasses)
    warn(
      `${file} was written by an earlier release (format 1), which kept no class per score: no coverage-against-alpha curve for its per-class sets; rerun calibrate to get one`,
    );
  return { file, calibration, sha256 };
}

/** A calibration evaluate checks: its file, its content, and the SHA-256 of the bytes read. */
export interface CheckedCalibration {
  file: string;
  calibration: Calibration;
  sha256: string;
}

/** The fields of a report that only its source knows (model, seed, provider, times...), in the order they are written. */
export type ReportHeader = Omit<EvaluationReport, 'tool' | 'version' | 'command' | 'counts' | 'numbers' | 'calibration' | 'ood' | 'images'>;

/** An image's summary as the report keeps it. */
type Summary = Pick<McSummary, 'predicted' | 'confidence' | 'entropy' | 'mutualInformation' | 'variationRatio' | 'margin'>;

/** Gathers an evaluation's images one at a time; `report` assembles the report. */
export class EvaluationBuilder {
  private readonly accumulator: EvaluationAccumulator;
  private readonly images: ImageRecord[] = [];
  private readonly calibrated = {
    outcomes: [] as Outcome[],
    sets: [] as { label: number; set: number[] }[],
    means: [] as { name: string; mean: ArrayLike<number>; label: number }[],
  };
  /** Images that could not be used (failed to decode or run, or an error row of the file read). */
  failed = 0;

  /** An ensemble's methods side by side, when the run has several members or views. */
  private readonly methods?: MethodsAccumulator;

  /**
   * withCurve: keep the metrics at fewer passes (every image has all T). `ensemble`: the rows of one
   * pass (members x views) and the methods to compare.
   */
  constructor(
    private readonly classes: number,
    passes: number,
    withCurve: boolean,
    private readonly calibration?: CheckedCalibration,
    ensemble?: { rowsPerPass: number; methods?: MethodsAccumulator },
  ) {
    this.accumulator = new EvaluationAccumulator(classes, passes, withCurve, ensemble?.rowsPerPass);
    this.methods = ensemble?.methods;
  }

  /** Sums of the uncertainty's parts over the images that had them (an ensemble's or TTA's run). */
  private readonly split = {
    images: 0,
    total_entropy: 0,
    expected_entropy: 0,
    mutual_information: 0,
    between_members: 0,
    between_views: 0,
    within_passes: 0,
    member_disagreement: 0,
  };

  /** One labeled image's outputs by member, for the methods table. */
  addMembers(outputs: readonly MemberOutputs[], label: number | undefined): void {
    if (label !== undefined) this.methods?.add(outputs, label);
  }

  /** One image's uncertainty split into its parts (an ensemble's or TTA's run), for their means. */
  addParts(summary: Pick<McSummary, 'entropy' | 'expectedEntropy'>, parts: UncertaintyParts): void {
    const s = this.split;
    s.images++;
    s.total_entropy += summary.entropy;
    s.expected_entropy += summary.expectedEntropy;
    s.mutual_information += summary.entropy - summary.expectedEntropy;
    s.between_members += parts.betweenMembers;
    s.between_views += parts.betweenViews;
    s.within_passes += parts.withinPasses;
    s.member_disagreement += parts.memberDisagreement;
  }

  /** The parts' means over the images, when any image had them. */
  private decomposition(): Decomposition | undefined {
    const { images, ...sums } = this.split;
    if (images === 0) return undefined;
    return { images, ...(Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / images])) as Omit<Decomposition, 'images'>) };
  }

  /** Labeled images so far. */
  get labeled(): number {
    return this.accumulator.images;
  }

  /** Images that went into the report (labeled or not). */
  get recorded(): number {
    return this.images.length;
  }

  /**
   * One image from its passes (probabilities [T, C]): into the metrics (every pass, or its mean when
   * `meanOnly`, the passes of an adaptive run), the calibration's sets, and the records.
   */
  addPasses(
    file: string,
    label: number | undefined,
    passProbs: Float64Array,
    summary: Summary & { mean: ArrayLike<number> },
    options: { meanOnly?: boolean; deterministic?: { probs: Float64Array; summary: Summary } } = {},
  ): void {
    if (label !== undefined) {
      if (options.meanOnly)
        this.accumulator.addMean(summary.mean, label, { mutualInformation: summary.mutualInformation, variationRatio: summary.variationRatio });
      else this.accumulator.add(passProbs, label, options.deterministic?.probs);
      if (this.calibration) {
        const applied = applyCalibration(this.calibration.calibration, file, passProbs);
        this.calibrated.outcomes.push(outcomeOf(applied.passes, this.classes, label));
        this.calibrated.sets.push({ label, set: applied.set });
        this.calibrated.means.push({ name: file, mean: applied.summary.mean, label });
      }
    }
    const det = options.deterministic?.summary;
    this.images.push({ ...recordOf(file, label, summary), ...(det && { deterministic: { predicted: det.predicted, confidence: det.confidence } }) });
  }

  /** One image from its mean probabilities and the MC numbers its row kept (a JSONL output). */
  addMean(
    file: string,
    label: number | undefined,
    mean: ArrayLike<number>,
    summary: Summary,
    fromPasses: { mutualInformation: number; variationRatio: number },
  ): void {
    if (label !== undefined) this.accumulator.addMean(mean, label, fromPasses);
    this.images.push({ ...recordOf(file, label, summary), mutual_information: fromPasses.mutualInformation, variation_ratio: fromPasses.variationRatio });
  }

  /** The report: the source's header, the counts, the metrics, the calibration's section, the OOD section, the image records. */
  report(version: string, header: ReportHeader, counts: { images: number; skipped: number }, ood?: EvaluationReport['ood']): EvaluationReport {
    const labeled = this.accumulator.images;
    return {
      tool: 'mc-dropout',
      version,
      command: 'evaluate',
      ...header,
      counts: { images: counts.images, labeled, unlabeled: this.images.length - labeled, failed: this.failed, skipped_non_images: counts.skipped },
      ...(labeled > 0 && { numbers: this.accumulator.finish(this.methods?.finish()) }),
      ...(this.split.images > 0 && { decomposition: this.decomposition() }),
      ...(this.calibration && this.calibrated.outcomes.length > 0 && { calibration: this.calibrationSection(this.calibration) }),
      ...(ood && { ood }),
      images: this.images,
    };
  }

  /** The calibrated metrics and how the sets did on the labeled images. */
  private calibrationSection({ file, calibration, sha256 }: CheckedCalibration): NonNullable<EvaluationReport['calibration']> {
    return {
      file,
      sha256,
      temperature: calibration.temperature,
      alpha: calibration.conformal.alpha,
      score: calibration.conformal.score,
      classConditional: calibration.conformal.classConditional,
      metrics: metricsOf(this.calibrated.outcomes),
      sets: setCoverage(this.calibrated.sets, this.classes),
      byAlpha: coverageAgainstAlpha(calibration, this.calibrated.means),
    };
  }
}

function recordOf(file: string, label: number | undefined, s: Summary): ImageRecord {
  return {
    path: file,
    truth: label ?? null,
    predicted: s.predicted,
    confidence: s.confidence,
    entropy: s.entropy,
    mutual_information: s.mutualInformation,
    variation_ratio: s.variationRatio,
    margin: s.margin,
  };
}

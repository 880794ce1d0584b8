/**
 * The evaluation file: written by `evaluate --json`, read back by `report --from`. One reader checks
 * every field the report shows and, where the file has one (written since it was kept), that its
 * content still matches its SHA-256, so a damaged or edited file is refused naming the field.
 *
 * The file's keys are snake_case (`by_passes`, `risk_coverage`, `class_conditional`, ...); the
 * report in memory keeps the camelCase fields of the metrics it holds. Files of earlier releases
 * (camelCase keys, `counts.labelled`) are read for one release.
 */
import { param, UsageError } from '../../errors.js';
import { UNCERTAINTY_SCORES, type UncertaintyScore } from '../../stats/uncertainty.js';
import { readInputText } from '../../io/read-file.js';
import {
  sha256Hex,
  array,
  boolean,
  checkedAs,
  contentSha256,
  literal,
  nullable,
  number,
  object,
  optional,
  parseJsonOf,
  string,
  type Check,
} from '../../io/schema.js';
import type { SetCoverage } from '../../conformal/coverage.js';
import type { EvaluationNumbers } from '../../evaluate/evaluation.js';
import type { MetricSet } from '../../evaluate/metrics.js';
import type { OodCurves, OodScoreRow } from '../../ood/evaluation.js';

/** One image as the report shows it. */
export interface ImageRecord {
  path: string;
  /** True class index; null when the image has none. */
  truth: number | null;
  predicted: number;
  confidence: number;
  entropy: number;
  mutual_information: number;
  variation_ratio: number;
  margin: number;
  /** The dropout-off prediction, when the evaluation ran one. */
  deterministic?: { predicted: number; confidence: number };
}

/** Means over images of the uncertainty's parts: total = expected + mutual information, and the mutual information = between members + between views + within. */
export interface Decomposition {
  images: number;
  total_entropy: number;
  expected_entropy: number;
  mutual_information: number;
  between_members: number;
  between_views: number;
  within_passes: number;
  member_disagreement: number;
}

/** An evaluation as evaluate --json writes it: counts, metrics deterministic beside MC, the T curve and one record per image. */
export interface EvaluationReport {
  tool: 'mc-dropout';
  version: string;
  command: 'evaluate';
  /** run: this evaluation ran the model; predict-output / passes-file: it read an earlier run's file. */
  source: { kind: 'run' | 'predict-output' | 'passes-file'; file?: string };
  /** An ensemble's model is `ensemble`, its SHA-256 the ensemble's (Members.sha256), and its members are listed as given. */
  model?: { path: string; sha256: string; classes: number };
  members?: { path: string; sha256: string; dropout: boolean }[];
  passes: number;
  seed?: number;
  mask_scheme?: number;
  provider?: string;
  onnxruntime?: string;
  started: string;
  seconds: number;
  labels: string[];
  counts: { images: number; labeled: number; unlabeled: number; failed: number; skipped_non_images: number };
  /** Absent when no image has a true class. */
  numbers?: EvaluationNumbers;
  /** An ensemble's or TTA's run: the uncertainty's parts (ensemble/decomposition.ts), each the mean over the evaluated images, in nats. */
  decomposition?: Decomposition;
  /** Under a calibration: the MC metrics of the tempered passes (beside `numbers.mc`) and how the sets did. */
  calibration?: {
    file: string;
    sha256: string;
    temperature: number;
    alpha: number;
    score: string;
    classConditional: boolean;
    metrics: MetricSet;
    sets: SetCoverage;
    /** Coverage and mean set size at alphas 0.01 to 0.30 (thresholds from the calibration's scores). */
    byAlpha: { alpha: number; coverage: number; meanSize: number }[];
  };
  /**
   * With OOD images: each score's AUROC, AUPR-In, AUPR-Out and FPR95 at telling them from the
   * evaluated images. `images` counts the OOD images that ran, `failed` those that did not (the run
   * then exits as with failed images); `scores` and `curves` are empty when no OOD image (or no
   * evaluated image) ran.
   */
  ood?: { images: number; failed: number; scores: OodScoreRow[]; curves: OodCurves[] };
  images: ImageRecord[];
}

/**
 * The file's keys (snake_case, like every JSON file mc-dropout writes) of the report's camelCase
 * fields: one table, applied by key name to the report's objects, never to the keys of `auroc`,
 * whose keys are score names (data, not fields).
 */
const FILE_KEYS: Record<string, string> = {
  byPasses: 'by_passes',
  rowsPerPass: 'rows_per_pass',
  adaptiveEce: 'adaptive_ece',
  riskCoverage: 'risk_coverage',
  eAurc: 'e_aurc',
  classConditional: 'class_conditional',
  byAlpha: 'by_alpha',
  meanSize: 'mean_size',
  medianSize: 'median_size',
  bySize: 'by_size',
  byClass: 'by_class',
  classIndex: 'class_index',
  auprIn: 'aupr_in',
  auprOut: 'aupr_out',
};
/** The report's field of each file key. */
const REPORT_KEYS: Record<string, string> = Object.fromEntries(Object.entries(FILE_KEYS).map(([field, key]) => [key, field]));
/** Earlier releases' keys with today's file key: camelCase, and the British `labelled` of `counts`. Read for one release. */
const EARLIER_KEYS: Record<string, string> = { ...FILE_KEYS, labelled: 'labeled', unlabelled: 'unlabeled' };
/** Objects whose keys are data (score names): copied with their keys as they are. */
const DATA_KEYED = new Set(['auroc']);

/** `value` with every object's keys renamed by `table` (others kept, in their order), except inside DATA_KEYED objects. */
function renamedKeys(value: unknown, table: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => renamedKeys(v, table));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [
      table[key] ?? key,
      DATA_KEYED.has(key) && typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v } : renamedKeys(v, table),
    ]),
  );
}

const share = number({ min: 0, max: 1 });
const whole = number({ integer: true, min: 0 });
const finite = number();
/** A part of the mutual information: at least 0, but for float rounding. */
const part = number({ min: -1e-9 });

const metricSet = object({
  images: whole,
  accuracy: share,
  nll: number({ min: 0 }),
  brier: number({ min: 0 }),
  calibration: object({
    ece: share,
    adaptive_ece: share,
    mce: share,
    bins: array(object({ lower: share, upper: share, count: whole, accuracy: nullable(share), confidence: nullable(share) })),
  }),
  risk_coverage: object({
    aurc: share,
    e_aurc: finite,
    selective: array(object({ coverage: share, kept: whole, accuracy: share })),
    curve: array(object({ coverage: share, risk: share })),
  }),
  auroc: object(Object.fromEntries(UNCERTAINTY_SCORES.map((s) => [s, nullable(share)])) as Record<UncertaintyScore, Check<number | null>>),
});

const oodMetrics = object({ auroc: share, aupr_in: share, aupr_out: share, fpr95: share });
const oodScore = literal(...UNCERTAINTY_SCORES, 'max_logit', 'energy');

const imageRecord = object({
  path: string(),
  truth: nullable(whole),
  predicted: whole,
  confidence: share,
  entropy: finite,
  mutual_information: finite,
  variation_ratio: share,
  margin: share,
  deterministic: optional(object({ predicted: whole, confidence: share })),
});

const reportCheck = object({
  tool: literal('mc-dropout'),
  version: string(),
  command: literal('evaluate'),
  source: object({ kind: literal('run', 'predict-output', 'passes-file'), file: optional(string()) }),
  model: optional(object({ path: string(), sha256: string(), classes: number({ integer: true, min: 1 }) })),
  members: optional(array(object({ path: string(), sha256: string(), dropout: boolean }), { minLength: 2 })),
  passes: number({ min: 0 }),
  seed: optional(whole),
  mask_scheme: optional(whole),
  provider: optional(string()),
  onnxruntime: optional(string()),
  started: string(),
  seconds: number({ min: 0 }),
  labels: array(string(), { minLength: 1 }),
  counts: object({ images: whole, labeled: whole, unlabeled: whole, failed: whole, skipped_non_images: whole }),
  numbers: optional(
    object({
      classes: number({ integer: true, min: 1 }),
      passes: number({ min: 0 }),
      rows_per_pass: optional(number({ integer: true, min: 2 })),
      mc: metricSet,
      deterministic: optional(metricSet),
      by_passes: array(object({ passes: number({ min: 0 }), metrics: metricSet })),
      confusion: array(array(whole)),
      methods: optional(
        array(
          object({
            name: string(),
            member: nullable(string()),
            dropout: boolean,
            tta: boolean,
            samples: number({ integer: true, min: 1 }),
            metrics: metricSet,
          }),
          { minLength: 1 },
        ),
      ),
    }),
  ),
  decomposition: optional(
    object({
      images: whole,
      total_entropy: finite,
      expected_entropy: finite,
      mutual_information: finite,
      between_members: part,
      between_views: part,
      within_passes: part,
      member_disagreement: share,
    }),
  ),
  calibration: optional(
    object({
      file: string(),
      sha256: string(),
      temperature: number({ above: 0 }),
      alpha: number({ above: 0, below: 1 }),
      score: string(),
      class_conditional: boolean,
      metrics: metricSet,
      sets: object({
        images: whole,
        coverage: share,
        mean_size: number({ min: 0 }),
        median_size: number({ min: 0 }),
        empty: whole,
        by_size: array(object({ size: whole, images: whole, coverage: share })),
        by_class: array(object({ class_index: whole, images: whole, coverage: nullable(share), mean_size: nullable(number({ min: 0 })) })),
      }),
      by_alpha: array(object({ alpha: share, coverage: share, mean_size: number({ min: 0 }) })),
    }),
  ),
  ood: optional(
    object({
      images: whole,
      failed: whole,
      scores: array(object({ score: oodScore, mc: oodMetrics, deterministic: nullable(oodMetrics) })),
      curves: array(
        object({
          score: oodScore,
          roc: array(array(share, { length: 2 })),
          histogram: object({ edges: array(finite), id: array(share), ood: array(share) }),
        }),
      ),
    }),
  ),
  images: array(imageRecord),
  sha256: optional(sha256Hex),
});

/** The evaluation as `evaluate --json` writes it: snake_case keys, the SHA-256 of its content last. */
export function evaluationJson(report: EvaluationReport): string {
  const content = renamedKeys(report, FILE_KEYS) as Record<string, unknown>;
  return `${JSON.stringify({ ...content, sha256: contentSha256(content) }, null, 2)}\n`;
}

/** An evaluation written by `evaluate --json`, read back and checked (for report). */
export function readEvaluationReport(file: string): EvaluationReport {
  const role = {
    what: 'the evaluation',
    expected: `give the file evaluate ${param('json')} wrote, a predict output (${param({ format: 'jsonl', perClass: true })}) or a ${param('savePasses')} .npy`,
  };
  const parsed: Record<string, unknown> = parseJsonOf(readInputText(file, role), file, role, object({}));
  // an earlier release's file (camelCase keys) is checked under today's keys
  const checked = checkedAs(renamedKeys(parsed, EARLIER_KEYS), file, role, reportCheck);
  const report = renamedKeys(checked, REPORT_KEYS) as EvaluationReport & { sha256?: string };
  const bad = (why: string): never => {
    throw new UsageError(`Cannot use the evaluation ${file}: ${why}; rerun evaluate ${param('json')}`);
  };
  // the digest is of the file as written (older files have none)
  if (parsed.sha256 !== undefined && contentSha256(parsed) !== parsed.sha256)
    bad('its content no longer matches its "sha256": it was changed after evaluate wrote it');
  // the releases that write an ensemble's fields always write the digest: without it, the file was edited
  if (parsed.sha256 === undefined && (report.members || report.decomposition || report.numbers?.methods))
    bad('it has an ensemble\'s fields but no "sha256", which the release that writes them always records: it was edited');
  const classes = report.labels.length;
  if (report.numbers && report.numbers.classes !== classes) bad(`"numbers.classes" is ${report.numbers.classes} for ${classes} labels`);
  report.images.forEach((image, i) => {
    if (image.predicted >= classes || (image.truth !== null && image.truth >= classes)) bad(`"images[${i}]" names a class beyond the ${classes} labels`);
  });
  const { sha256: _, ...rest } = report;
  return rest;
}

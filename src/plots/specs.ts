/**
 * The evaluation's figures as Vega-Lite specs (plain objects): reliability diagram with bin counts,
 * risk-coverage curves, metrics against T, uncertainty histograms of correct and wrong predictions,
 * confusion matrix. Deterministic and MC share a figure where they compare. Pure.
 */
import type { EvaluationNumbers } from '../evaluate/evaluation.js';
import type { MetricSet } from '../evaluate/metrics.js';
import { passesLabel } from '../evaluate/table.js';
import type { SetCoverage } from '../conformal/coverage.js';
import type { OodCurves, OodScoreRow } from '../ood/evaluation.js';

export type Spec = Record<string, unknown>;

/** What a per-image figure reads of each labeled image. */
export interface LabeledImage {
  correct: boolean;
  entropy: number;
  mutualInformation: number;
}

export interface Figure {
  /** File stem: reliability, risk-coverage, metrics-vs-t, uncertainty, confusion. */
  name: string;
  title: string;
  spec: Spec;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const DET = 'deterministic';
const COLORS = { domain: [DET, 'MC'], range: ['#9c755f', '#4c78a8'] };
const BASE = { $schema: SCHEMA, background: 'white', config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif', view: { stroke: null } } };

function sets(numbers: EvaluationNumbers): [string, MetricSet][] {
  const mc = `MC T=${passesLabel(numbers.passes)}`;
  const out: [string, MetricSet][] = numbers.deterministic ? [[DET, numbers.deterministic]] : [];
  out.push([mc, numbers.mc]);
  return out;
}

function color(numbers: EvaluationNumbers): Record<string, unknown> {
  const names = sets(numbers).map(([n]) => n);
  return {
    field: 'model',
    type: 'nominal',
    title: null,
    scale: { domain: names, range: names.map((n) => (n === DET ? COLORS.range[0] : COLORS.range[1])) },
    legend: { orient: 'top' },
  };
}

/** Accuracy against mean confidence per equal-width bin (the diagonal is perfect calibration), with the images per bin below. */
function reliabilitySpec(numbers: EvaluationNumbers): Spec {
  return reliabilityOf(sets(numbers), color(numbers), 'Reliability diagram');
}

/** MC dropout's reliability before and after temperature scaling (evaluate --calibration). */
export function calibratedReliabilitySpec(numbers: EvaluationNumbers, calibrated: MetricSet, temperature: number): Spec {
  const mc = `MC T=${passesLabel(numbers.passes)}`;
  const after = `calibrated (temperature ${temperature.toFixed(3)})`;
  const scale = {
    field: 'model',
    type: 'nominal',
    title: null,
    scale: { domain: [mc, after], range: [COLORS.range[1], '#e45756'] },
    legend: { orient: 'top', labelLimit: 400 },
  };
  return reliabilityOf(
    [
      [mc, numbers.mc],
      [after, calibrated],
    ],
    scale,
    'Reliability before and after calibration',
  );
}

function reliabilityOf(pairs: [string, MetricSet][], colorEncoding: Record<string, unknown>, text: string): Spec {
  const rows = pairs.flatMap(([model, m]) =>
    m.calibration.bins.map((b) => ({
      model,
      lower: b.lower,
      upper: b.upper,
      center: (b.lower + b.upper) / 2,
      count: b.count,
      accuracy: b.accuracy,
      confidence: b.confidence,
    })),
  );
  const x = { field: 'confidence', type: 'quantitative', title: 'mean confidence in bin', scale: { domain: [0, 1] } };
  return {
    ...BASE,
    title: {
      text,
      subtitle: pairs.map(([n, m]) => `${n}: ECE ${m.calibration.ece.toFixed(4)}`).join(' · '),
    },
    data: { values: rows },
    vconcat: [
      {
        width: 360,
        height: 300,
        layer: [
          {
            data: { values: [{ a: 0 }, { a: 1 }] },
            mark: { type: 'line', strokeDash: [4, 4], color: '#888' },
            encoding: { x: { field: 'a', type: 'quantitative', scale: { domain: [0, 1] } }, y: { field: 'a', type: 'quantitative' } },
          },
          {
            transform: [{ filter: 'datum.count > 0' }],
            mark: { type: 'line', point: true },
            encoding: {
              x,
              y: { field: 'accuracy', type: 'quantitative', title: 'accuracy in bin', scale: { domain: [0, 1] } },
              color: colorEncoding,
              tooltip: [{ field: 'model' }, { field: 'count' }, { field: 'accuracy', format: '.3f' }, { field: 'confidence', format: '.3f' }],
            },
          },
        ],
      },
      {
        width: 360,
        height: 90,
        mark: { type: 'bar', opacity: 0.6 },
        encoding: {
          x: { field: 'lower', type: 'quantitative', title: 'confidence bin (15 equal-width bins)', scale: { domain: [0, 1] } },
          x2: { field: 'upper' },
          y: { field: 'count', type: 'quantitative', title: 'images', stack: null },
          y2: { datum: 0 },
          color: colorEncoding,
        },
      },
    ],
  };
}

/** Error rate of the most confident images against the share kept. */
function riskCoverageSpec(numbers: EvaluationNumbers): Spec {
  const rows = sets(numbers).flatMap(([model, m]) => m.riskCoverage.curve.map((p) => ({ model, coverage: p.coverage, risk: p.risk })));
  return {
    ...BASE,
    title: {
      text: 'Risk-coverage',
      subtitle: sets(numbers)
        .map(([n, m]) => `${n}: AURC ${m.riskCoverage.aurc.toFixed(4)}`)
        .join(' · '),
    },
    width: 360,
    height: 280,
    data: { values: rows },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: {
        field: 'coverage',
        type: 'quantitative',
        title: 'coverage (share of images kept, most confident first)',
        axis: { format: '%' },
        scale: { domain: [0, 1] },
      },
      y: { field: 'risk', type: 'quantitative', title: 'error rate of the kept images', axis: { format: '%' } },
      color: color(numbers),
    },
  };
}

/** Accuracy, NLL, ECE and AURC with the first t passes, the deterministic value as a dashed line. */
function metricsVsTSpec(numbers: EvaluationNumbers): Spec {
  const pick = (m: MetricSet) => ({ accuracy: m.accuracy, 'NLL (nats)': m.nll, ECE: m.calibration.ece, AURC: m.riskCoverage.aurc });
  const rows = numbers.byPasses.flatMap(({ passes, metrics }) => Object.entries(pick(metrics)).map(([metric, value]) => ({ passes, metric, value })));
  const det = numbers.deterministic ? Object.entries(pick(numbers.deterministic)).map(([metric, value]) => ({ metric, value })) : [];
  return {
    ...BASE,
    title: { text: 'Metrics against the number of passes T', subtitle: numbers.deterministic ? 'dashed: one deterministic pass' : '' },
    data: { values: [...rows.map((r) => ({ ...r, model: 'MC' })), ...det.map((r) => ({ ...r, model: DET }))] },
    facet: { field: 'metric', type: 'nominal', title: null, sort: ['accuracy', 'NLL (nats)', 'ECE', 'AURC'] },
    columns: 2,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 220,
      height: 150,
      layer: [
        {
          transform: [{ filter: `datum.model === 'MC'` }],
          mark: { type: 'line', point: true, color: COLORS.range[1] },
          encoding: {
            x: { field: 'passes', type: 'quantitative', title: 'passes T (log scale)', scale: { type: 'log' } },
            y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
          },
        },
        {
          transform: [{ filter: `datum.model === '${DET}'` }],
          mark: { type: 'rule', strokeDash: [4, 4], color: COLORS.range[0] },
          encoding: { y: { field: 'value', type: 'quantitative' } },
        },
      ],
    },
  };
}

/** Bins of equal width over [0, max] per score, with the share of each group (correct, wrong) in each bin. */
export function uncertaintyHistogram(
  images: readonly LabeledImage[],
  bins = 20,
): { score: string; low: number; high: number; outcome: string; share: number }[] {
  const scores: [string, (im: LabeledImage) => number][] = [
    ['predictive entropy (nats)', (im) => im.entropy],
    ['mutual information (nats)', (im) => im.mutualInformation],
  ];
  const rows: { score: string; low: number; high: number; outcome: string; share: number }[] = [];
  for (const [score, value] of scores) {
    const top = Math.max(0, ...images.map(value));
    const width = top > 0 ? top / bins : 1 / bins;
    for (const outcome of ['correct', 'wrong']) {
      const group = images.filter((im) => im.correct === (outcome === 'correct'));
      const counts = new Array<number>(bins).fill(0);
      for (const im of group) counts[Math.min(bins - 1, Math.floor(value(im) / width))]! += 1;
      counts.forEach((n, b) => rows.push({ score, low: b * width, high: (b + 1) * width, outcome, share: group.length > 0 ? n / group.length : 0 }));
    }
  }
  return rows;
}

/** Histograms (share of each group) of entropy and mutual information, correct against wrong predictions. */
function uncertaintySpec(images: readonly LabeledImage[]): Spec {
  return {
    ...BASE,
    title: { text: 'Uncertainty of correct and wrong predictions (MC)' },
    data: { values: uncertaintyHistogram(images) },
    facet: { column: { field: 'score', type: 'nominal', title: null, sort: ['predictive entropy (nats)', 'mutual information (nats)'] } },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 260,
      height: 180,
      mark: { type: 'bar', opacity: 0.6 },
      encoding: {
        x: { field: 'low', type: 'quantitative', title: 'uncertainty (nats)', bin: { binned: true } },
        x2: { field: 'high' },
        y: { field: 'share', type: 'quantitative', title: 'share of the group', stack: null, axis: { format: '%' } },
        color: {
          field: 'outcome',
          type: 'nominal',
          title: null,
          scale: { domain: ['correct', 'wrong'], range: ['#59a14f', '#e15759'] },
          legend: { orient: 'top' },
        },
      },
    },
  };
}

/** Counts of true class (rows) against predicted class (columns), MC predictions. */
function confusionSpec(numbers: EvaluationNumbers, labels: readonly string[]): Spec {
  const rows = numbers.confusion.flatMap((counts, t) => counts.map((n, p) => ({ truth: labels[t] ?? String(t), predicted: labels[p] ?? String(p), n })));
  const order = labels.slice(0, numbers.classes);
  const side = Math.min(480, Math.max(200, 28 * numbers.classes));
  return {
    ...BASE,
    title: { text: `Confusion matrix (MC T=${passesLabel(numbers.passes)})` },
    width: side,
    height: side,
    data: { values: rows },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: order, title: 'predicted class' },
      y: { field: 'truth', type: 'ordinal', sort: order, title: 'true class' },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'n', type: 'quantitative', title: 'images', scale: { scheme: 'blues' } } } },
      ...(numbers.classes <= 30
        ? [
            {
              mark: { type: 'text', fontSize: 10 },
              encoding: {
                text: { field: 'n', type: 'quantitative' },
                color: { condition: { test: `datum.n > ${Math.max(...numbers.confusion.flat()) / 2}`, value: 'white' }, value: 'black' },
              },
            },
          ]
        : []),
    ],
  };
}

/** Every figure an evaluation has: the T curve only with more than one point. */
export function evaluationFigures(numbers: EvaluationNumbers, labels: readonly string[], images: readonly LabeledImage[]): Figure[] {
  return [
    { name: 'reliability', title: 'Reliability diagram', spec: reliabilitySpec(numbers) },
    { name: 'risk-coverage', title: 'Risk-coverage', spec: riskCoverageSpec(numbers) },
    ...(numbers.byPasses.length > 1 ? [{ name: 'metrics-vs-t', title: 'Metrics against T', spec: metricsVsTSpec(numbers) }] : []),
    { name: 'uncertainty', title: 'Uncertainty of correct and wrong predictions', spec: uncertaintySpec(images) },
    { name: 'confusion', title: 'Confusion matrix', spec: confusionSpec(numbers, labels) },
  ];
}

/** Images per prediction-set size, with the share of them whose set holds the true class. */
export function setSizeSpec(sets: SetCoverage, alpha: number): Spec {
  return {
    ...BASE,
    title: {
      text: 'Prediction-set sizes',
      subtitle: `coverage ${(100 * sets.coverage).toFixed(2)}% (at least ${(100 * (1 - alpha)).toFixed(0)}% guaranteed), mean size ${sets.meanSize.toFixed(3)}`,
    },
    data: { values: sets.bySize },
    width: 360,
    height: 240,
    layer: [
      {
        mark: { type: 'bar', color: '#4c78a8' },
        encoding: {
          x: { field: 'size', type: 'ordinal', title: 'labels in the set' },
          y: { field: 'images', type: 'quantitative', title: 'images' },
          tooltip: [{ field: 'size' }, { field: 'images' }, { field: 'coverage', format: '.1%' }],
        },
      },
      {
        mark: { type: 'text', dy: -6 },
        encoding: {
          x: { field: 'size', type: 'ordinal' },
          y: { field: 'images', type: 'quantitative' },
          text: { field: 'coverage', type: 'quantitative', format: '.0%' },
        },
      },
    ],
  };
}

const OOD_TITLES: Record<string, string> = { entropy: 'entropy', mutual_information: 'mutual information', energy: 'energy' };

/** ROC curves of telling OOD images (positive) from the model's own, one per score. */
export function oodRocSpec(curves: readonly OodCurves[], rows: readonly OodScoreRow[]): Spec {
  const auroc = (score: string) => rows.find((r) => r.score === score)?.mc.auroc;
  const values = curves.flatMap((c) =>
    c.roc.map(([fpr, tpr]) => ({ score: `${OOD_TITLES[c.score] ?? c.score} (AUROC ${auroc(c.score)?.toFixed(3)})`, fpr, tpr })),
  );
  return {
    ...BASE,
    title: { text: 'Out-of-distribution ROC', subtitle: 'OOD images positive, MC scores' },
    width: 320,
    height: 300,
    layer: [
      {
        data: { values: [{ a: 0 }, { a: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#888' },
        encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'a', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'line' },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'in-distribution images flagged', scale: { domain: [0, 1] } },
          y: { field: 'tpr', type: 'quantitative', title: 'OOD images flagged', scale: { domain: [0, 1] } },
          color: { field: 'score', type: 'nominal', title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 400 } },
        },
      },
    ],
  };
}

/** The share of in-distribution and OOD images per score bin, one panel per score. */
export function oodHistogramSpec(curves: readonly OodCurves[]): Spec {
  const values = curves.flatMap((c) =>
    c.histogram.id.flatMap((share, k) =>
      (['in distribution', 'OOD'] as const).map((set) => ({
        score: OOD_TITLES[c.score] ?? c.score,
        set,
        lower: c.histogram.edges[k]!,
        upper: c.histogram.edges[k + 1]!,
        share: set === 'OOD' ? c.histogram.ood[k]! : share,
      })),
    ),
  );
  return {
    ...BASE,
    title: { text: 'Scores of in-distribution and OOD images', subtitle: 'share of each set per bin, MC scores' },
    data: { values },
    facet: { field: 'score', type: 'nominal', title: null },
    columns: 3,
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 220,
      height: 160,
      mark: { type: 'bar', opacity: 0.55 },
      encoding: {
        x: { field: 'lower', type: 'quantitative', title: 'score', bin: { binned: true } },
        x2: { field: 'upper' },
        y: { field: 'share', type: 'quantitative', title: 'share of images', stack: null },
        color: {
          field: 'set',
          type: 'nominal',
          title: null,
          scale: { domain: ['in distribution', 'OOD'], range: ['#4c78a8', '#f58518'] },
          legend: { orient: 'top' },
        },
      },
    },
  };
}

/** Held-out coverage against the target 1 - alpha (the diagonal is the guarantee's floor), with the mean set size. */
export function coverageSpec(byAlpha: readonly { alpha: number; coverage: number; meanSize: number }[], alpha: number): Spec {
  const values = byAlpha.map((p) => ({ target: 1 - p.alpha, coverage: p.coverage, meanSize: p.meanSize, chosen: Math.abs(p.alpha - alpha) < 1e-9 }));
  const x = { field: 'target', type: 'quantitative', title: 'target coverage 1 - alpha', scale: { domain: [0.7, 1] }, axis: { format: '%' } };
  return {
    ...BASE,
    title: { text: 'Coverage against alpha', subtitle: 'held-out images; thresholds from the calibration scores' },
    data: { values },
    vconcat: [
      {
        width: 360,
        height: 260,
        layer: [
          {
            data: { values: [{ a: 0.7 }, { a: 1 }] },
            mark: { type: 'line', strokeDash: [4, 4], color: '#888' },
            encoding: { x: { field: 'a', type: 'quantitative', scale: { domain: [0.7, 1] } }, y: { field: 'a', type: 'quantitative' } },
          },
          {
            mark: { type: 'line', point: true, color: '#4c78a8' },
            encoding: {
              x,
              y: { field: 'coverage', type: 'quantitative', title: 'coverage', scale: { domain: [0.7, 1] }, axis: { format: '%' } },
              tooltip: [
                { field: 'target', format: '.2f' },
                { field: 'coverage', format: '.4f' },
                { field: 'meanSize', format: '.3f' },
              ],
            },
          },
        ],
      },
      {
        width: 360,
        height: 90,
        mark: { type: 'line', point: true, color: '#9c755f' },
        encoding: { x, y: { field: 'meanSize', type: 'quantitative', title: 'mean set size' } },
      },
    ],
  };
}

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EvaluationAccumulator } from '../../src/evaluate/evaluation.js';
import type { MetricSet } from '../../src/evaluate/metrics.js';
import { ROOT } from '../helpers/cli.js';

interface Expected {
  accuracy: number;
  nll: number;
  brier: number;
  ece: number;
  adaptive_ece: number;
  mce: number;
  aurc: number;
  e_aurc: number;
  selective: Record<string, number>;
  auroc: Record<string, number>;
}

const fixture = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/evaluate/expected.json'), 'utf8')) as {
  classes: number;
  passes: number;
  labels: number[];
  probs: number[][][];
  deterministic: number[][];
  expected: { deterministic: Expected; by_passes: Record<string, Expected> };
};

/** Both sides compute in float64 from the same numbers: agreement to 1e-9 leaves room only for summation order. */
function assertMatches(actual: MetricSet, expected: Expected, where: string): void {
  const near = (a: number | null, e: number, what: string) =>
    assert.ok(a !== null && Math.abs(a - e) < 1e-9, `${where} ${what}: mc-dropout ${a}, NumPy/scikit-learn ${e}`);
  near(actual.accuracy, expected.accuracy, 'accuracy');
  near(actual.nll, expected.nll, 'NLL');
  near(actual.brier, expected.brier, 'Brier');
  near(actual.calibration.ece, expected.ece, 'ECE');
  near(actual.calibration.adaptiveEce, expected.adaptive_ece, 'adaptive ECE');
  near(actual.calibration.mce, expected.mce, 'MCE');
  near(actual.riskCoverage.aurc, expected.aurc, 'AURC');
  near(actual.riskCoverage.eAurc, expected.e_aurc, 'E-AURC');
  for (const s of actual.riskCoverage.selective) near(s.accuracy, expected.selective[String(s.coverage)]!, `selective accuracy at ${s.coverage}`);
  for (const [score, value] of Object.entries(expected.auroc)) near(actual.auroc[score as keyof MetricSet['auroc']], value, `AUROC ${score}`);
}

describe('evaluation metrics against NumPy and scikit-learn (fixtures/evaluate/make_expected.py)', () => {
  const accumulator = new EvaluationAccumulator(fixture.classes, fixture.passes, true);
  fixture.labels.forEach((label, i) => accumulator.add(fixture.probs[i]!.flat(), label, fixture.deterministic[i]));
  const numbers = accumulator.finish();

  it('MC at every T of the curve (240 images, 6 classes, T up to 12)', () => {
    assert.deepEqual(
      numbers.byPasses.map((p) => p.passes),
      [1, 2, 5, 10, 12],
    );
    for (const { passes, metrics } of numbers.byPasses) assertMatches(metrics, fixture.expected.by_passes[String(passes)]!, `T=${passes}`);
    assert.deepEqual(numbers.mc, numbers.byPasses.at(-1)!.metrics);
  });

  it('the deterministic pass', () => {
    assertMatches(numbers.deterministic!, fixture.expected.deterministic, 'deterministic');
  });
});

/** fixtures/conformal/expected.json: what fixtures/conformal/make_expected.py (NumPy, SciPy, scikit-learn) computes for temperature scaling, conformal sets and OOD metrics. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ConformalScore } from '../../src/conformal/sets.js';
import { ROOT } from './cli.js';

export interface Expected {
  classes: number;
  passes: number;
  logits: number[][];
  /** NumPy's MC means of the logits' passes: the sets are scored on the same numbers (a last-bit difference flips a label whose running sum sits on the threshold). */
  probs: number[][];
  labels: number[];
  u: number[];
  calibration: number[];
  test: number[];
  temperature: { temperature: number; nll_before: number; nll_after: number };
  conformal: {
    alpha: number;
    score: ConformalScore;
    randomized: boolean;
    lambda: number;
    k_reg: number;
    threshold: number | 'inf';
    per_class: (number | 'inf')[];
    sets: number[][];
    class_conditional_sets: number[][];
  }[];
  ood: {
    id_scores: number[];
    ood_scores: number[];
    auroc: number;
    aupr_in: number;
    aupr_out: number;
    fpr95: number;
    energy: number[];
    energy_logits: number[][];
  };
}
export const E = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'conformal', 'expected.json'), 'utf8')) as Expected;
export const C = E.classes;
export const images = E.logits.map((logits, i) => ({ logits, label: E.labels[i]! }));
export const finite = (v: number | 'inf') => (v === 'inf' ? Infinity : v);

/**
 * Which images to label next: rankings of a predict run's rows by an acquisition score. Pure: it
 * imports only stats/.
 */
import { uniformOfText } from '../stats/random.js';

export type Acquisition = 'bald' | 'entropy' | 'margin' | 'variation-ratio' | 'least-confidence' | 'random';

/** The acquisition scores select ranks by (batchbald aside, which needs every pass). */
export const ACQUISITIONS: readonly Acquisition[] = ['bald', 'entropy', 'margin', 'variation-ratio', 'least-confidence', 'random'];

/** The numbers of one ok row that the scores read. */
export interface ScoredRow {
  path: string;
  label: string;
  confidence: number;
  entropy: number;
  mutualInformation: number;
  variationRatio: number;
  margin: number;
}

/**
 * The score of a row, higher = more worth labelling: bald = mutual information, entropy = predictive
 * entropy, margin = 1 - (top-1 minus top-2 mean probability), variation-ratio, least-confidence =
 * 1 - confidence, random = a uniform number from (seed, path) alone, so it does not depend on the
 * order or number of rows.
 */
export function score(row: ScoredRow, by: Acquisition, seed: number): number {
  switch (by) {
    case 'bald':
      return row.mutualInformation;
    case 'entropy':
      return row.entropy;
    case 'margin':
      return 1 - row.margin;
    case 'variation-ratio':
      return row.variationRatio;
    case 'least-confidence':
      return 1 - row.confidence;
    case 'random':
      return uniformOfText(`${seed}\0${row.path}`);
  }
}

export interface Pick {
  row: ScoredRow;
  score: number;
  /** Position of the row in the run (ties go to the earlier row). */
  index: number;
}

/**
 * The top `count` rows by score, ties broken by input order. With `perClassQuota`, the picks are
 * spread over the predicted labels: each label's rows are ranked alone, and the labels take turns
 * (in order of their best score) until `count` rows are picked or none is left.
 */
export function select(rows: readonly ScoredRow[], by: Acquisition, count: number, options: { seed?: number; perClassQuota?: boolean } = {}): Pick[] {
  const picks = rows.map((row, index): Pick => ({ row, score: score(row, by, options.seed ?? 0), index }));
  const order = (a: Pick, b: Pick) => b.score - a.score || a.index - b.index;
  picks.sort(order);
  if (!options.perClassQuota) return picks.slice(0, count);
  const byLabel = new Map<string, Pick[]>();
  for (const pick of picks) byLabel.set(pick.row.label, [...(byLabel.get(pick.row.label) ?? []), pick]);
  const queues = [...byLabel.values()];
  const chosen: Pick[] = [];
  for (let turn = 0; chosen.length < count; turn++) {
    const round = queues
      .map((queue) => queue[turn])
      .filter((p): p is Pick => p !== undefined)
      .sort(order);
    if (round.length === 0) break;
    chosen.push(...round.slice(0, count - chosen.length));
  }
  return chosen;
}

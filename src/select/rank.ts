/**
 * Which images to label next: rankings of a predict run's rows by an acquisition score. Pure: it
 * imports only stats/.
 */
import { uniformOfText } from '../stats/random.js';
import { UNCERTAINTY_SCORES, uncertaintyOf, uncertaintyScoreNamed, type UncertaintyInputs, type UncertaintyScore } from '../stats/uncertainty.js';

/** What select ranks by (batchbald aside, which needs every pass): an uncertainty score, or a seeded random draw. */
export type Acquisition = UncertaintyScore | 'random';

/** The acquisition scores select ranks by, in the score table's names (its aliases, such as bald, are accepted too: acquisitionNamed). */
export const ACQUISITIONS: readonly Acquisition[] = [...UNCERTAINTY_SCORES, 'random'];

/** The acquisition a name or an alias (bald, least-confidence, variation-ratio) means, or undefined. */
export function acquisitionNamed(name: string): Acquisition | undefined {
  return name === 'random' ? 'random' : uncertaintyScoreNamed(name);
}

/** The numbers of one ok row that the scores read. */
export interface ScoredRow extends UncertaintyInputs {
  path: string;
  label: string;
}

/**
 * The score of a row, higher = more worth labeling: an uncertainty score as the one table reads it
 * (stats/uncertainty.ts), or for random a uniform number from (seed, path) alone, so it does not
 * depend on the order or number of rows.
 */
export function score(row: ScoredRow, by: Acquisition, seed: number): number {
  return by === 'random' ? uniformOfText(`${seed}\0${row.path}`) : uncertaintyOf(row, by);
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

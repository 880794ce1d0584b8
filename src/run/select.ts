/** `select` as a library call: the images of an earlier run worth labeling next, best first. */
import { invalidParameter, param, UsageError } from '../errors.js';
import { batchBaldAmongTop, CANDIDATES } from '../select/batchbald.js';
import { acquisitionNamed, ACQUISITIONS, select, type Acquisition } from '../select/rank.js';
import { UNCERTAINTY_ALIASES, type UncertaintyAlias } from '../stats/uncertainty.js';
import { readFullPasses, readRunRows } from './read-run.js';

/** What selectImages reads and how it ranks: the run file, the acquisition score, how many, the seed. */
export interface SelectConfig {
  /** A predict output (CSV or JSONL, `-` for stdin) or a passes .npy; batchbald needs the .npy. */
  run: string;
  /** An uncertainty score (mutual_information, the BALD score, ...), random, batchbald, or an earlier name of a score (bald, least-confidence, variation-ratio). */
  by: Acquisition | UncertaintyAlias | 'batchbald';
  /** Images to pick (>= 0). */
  count: number;
  /** Seed of random picks and of BatchBALD's sampled configurations. */
  seed: number;
  /** Spread the picks over the predicted classes (not for batchbald). */
  perClassQuota?: boolean;
  /** batchbald: the images with the highest BALD it considers (default CANDIDATES, 2,000). */
  candidates?: number;
}

/** The images selectImages picked, best first, and how many it considered and left out. */
export interface SelectOutcome {
  /** The picks, best first: path, predicted label, and the score they were picked by (batchbald: the gain in joint mutual information). */
  picks: { path: string; label: string; score: number }[];
  /** Images the run holds that could be picked. */
  considered: number;
  /** Images left out: error rows, or (batchbald) images without every pass. */
  leftOut: number;
  /** batchbald: how many of the highest-BALD images it chose among. */
  candidates?: number;
}

/** Picks the images to label next from an earlier run. Throws UsageError for a file it cannot read or a bad setting. */
export function selectImages(config: SelectConfig): SelectOutcome {
  if (!(Number.isInteger(config.count) && config.count >= 0)) throw invalidParameter('count', 'an integer >= 0', config.count);
  if (config.by === 'batchbald') {
    if (config.perClassQuota)
      throw new UsageError(`${param('perClassQuota')} does not apply to batchbald: BatchBALD already spreads the batch by what the images tell jointly`);
    const { paths, passes, predicted, classes, left } = readFullPasses(config.run);
    const picks = batchBaldAmongTop(passes, classes, config.count, {
      seed: config.seed,
      ...(config.candidates !== undefined && { candidates: config.candidates }),
    });
    return {
      picks: picks.map((p) => ({ path: paths[p.index]!, label: String(predicted[p.index]), score: p.gain })),
      considered: paths.length,
      leftOut: left,
      candidates: Math.min(config.candidates ?? CANDIDATES, paths.length),
    };
  }
  const by = acquisitionNamed(config.by);
  if (by === undefined) throw invalidParameter('by', `one of ${[...ACQUISITIONS, 'batchbald', ...Object.keys(UNCERTAINTY_ALIASES)].join(', ')}`, config.by);
  const { rows, errors } = readRunRows(config.run);
  const picks = select(rows, by, config.count, { seed: config.seed, perClassQuota: config.perClassQuota ?? false });
  return { picks: picks.map((p) => ({ path: p.row.path, label: p.row.label, score: p.score })), considered: rows.length, leftOut: errors };
}

import { stringify } from 'csv-stringify/sync';
import { UsageError } from '../errors.js';
import { readFullPasses, readRunRows } from '../run/read-run.js';
import { batchBaldAmongTop } from '../select/batchbald.js';
import { select, type Acquisition } from '../select/rank.js';
import { EXIT } from './exit-codes.js';

export interface SelectCliOptions {
  by: Acquisition | 'batchbald';
  count: number;
  seed: number;
  perClassQuota?: boolean;
  /** batchbald: the images with the highest BALD it considers. */
  candidates: number;
  format: 'lines' | 'nul' | 'csv';
}

/** `mc-dropout select RUN`: the paths to label next, best first, on stdout. */
export function runSelect(run: string, options: SelectCliOptions): number {
  if (options.by === 'batchbald') return runBatchBald(run, options);
  const { rows, errors } = readRunRows(run);
  const picks = select(rows, options.by as Acquisition, options.count, { seed: options.seed, perClassQuota: options.perClassQuota ?? false });
  if (options.format === 'csv') {
    process.stdout.write(stringify([['rank', 'path', 'label', options.by], ...picks.map((p, i) => [String(i + 1), p.row.path, p.row.label, p.score.toFixed(6)])]));
  } else {
    const end = options.format === 'nul' ? '\0' : '\n';
    process.stdout.write(picks.map((p) => `${p.row.path}${end}`).join(''));
  }
  process.stderr.write(`mc-dropout: selected ${picks.length} of ${rows.length} images by ${options.by}${errors ? ` (${errors} error rows left out)` : ''}\n`);
  return EXIT.ok;
}

/** `select --by batchbald`: from a passes file; the score is each pick's gain in joint mutual information. */
function runBatchBald(run: string, options: SelectCliOptions): number {
  if (options.perClassQuota) throw new UsageError('--per-class-quota does not apply to batchbald: BatchBALD already spreads the batch by what the images tell jointly');
  const { paths, passes, predicted, classes, left } = readFullPasses(run);
  const picks = batchBaldAmongTop(passes, classes, options.count, { seed: options.seed, candidates: options.candidates });
  if (options.format === 'csv') {
    process.stdout.write(stringify([['rank', 'path', 'label', 'batchbald'], ...picks.map((p, i) => [String(i + 1), paths[p.index]!, String(predicted[p.index]), p.gain.toFixed(6)])]));
  } else {
    const end = options.format === 'nul' ? '\0' : '\n';
    process.stdout.write(picks.map((p) => `${paths[p.index]!}${end}`).join(''));
  }
  process.stderr.write(`mc-dropout: selected ${picks.length} of ${paths.length} images by batchbald (among the ${Math.min(options.candidates, paths.length)} with the highest BALD)${left ? ` (${left} images without every pass left out)` : ''}\n`);
  return EXIT.ok;
}


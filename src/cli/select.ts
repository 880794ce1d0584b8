import { stringify } from 'csv-stringify/sync';
import { selectImages, type SelectConfig } from '../run/select.js';
import { EXIT } from './exit-codes.js';

export interface SelectCliOptions {
  /** As typed: the CSV's score column is named so (an alias such as bald keeps its old column name). */
  by: SelectConfig['by'];
  count: number;
  seed: number;
  perClassQuota?: boolean;
  /** batchbald: the images with the highest BALD it considers. */
  candidates: number;
  format: 'lines' | 'nul' | 'csv';
}

/** `mc-dropout select RUN`: the paths to label next, best first, on stdout. */
export function runSelect(run: string, options: SelectCliOptions): number {
  const outcome = selectImages({
    run,
    by: options.by,
    count: options.count,
    seed: options.seed,
    candidates: options.candidates,
    ...(options.perClassQuota && { perClassQuota: true }),
  });
  const { picks } = outcome;
  if (options.format === 'csv') {
    process.stdout.write(stringify([['rank', 'path', 'label', options.by], ...picks.map((p, i) => [String(i + 1), p.path, p.label, p.score.toFixed(6)])]));
  } else {
    const end = options.format === 'nul' ? '\0' : '\n';
    process.stdout.write(picks.map((p) => `${p.path}${end}`).join(''));
  }
  const among = options.by === 'batchbald' ? ` (among the ${outcome.candidates} with the highest BALD)` : '';
  const left = !outcome.leftOut
    ? ''
    : options.by === 'batchbald'
      ? ` (${outcome.leftOut} images without every pass left out)`
      : ` (${outcome.leftOut} error rows left out)`;
  process.stderr.write(`mc-dropout: selected ${picks.length} of ${outcome.considered} images by ${options.by}${among}${left}\n`);
  return EXIT.ok;
}
